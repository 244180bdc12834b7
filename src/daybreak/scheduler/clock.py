"""The scheduler's clock, injected: the system's in production, a fake one in tests, which
then advance time instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Milliseconds since the epoch."""

    async def sleep_until(self, at_ms: int, interrupt: asyncio.Event) -> None:
        """Return at `at_ms`, or sooner when `interrupt` is set."""


class SystemClock:
    def now(self) -> int:
        return int(time.time() * 1000)

    async def sleep_until(self, at_ms: int, interrupt: asyncio.Event) -> None:
        delay_s = max(0.0, (at_ms - self.now()) / 1000)
        # No task of its own (as wait_for makes): woken, it runs in the same turn of the loop
        # as whoever was woken with it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await interrupt.wait()


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start_ms: int = 1_000_000) -> None:
        self.ms = start_ms
        self._moved = asyncio.Event()

    def now(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms
        self._moved.set()

    async def sleep_until(self, at_ms: int, interrupt: asyncio.Event) -> None:
        while self.ms < at_ms and not interrupt.is_set():
            self._moved.clear()
            moved = asyncio.ensure_future(self._moved.wait())
            interrupted = asyncio.ensure_future(interrupt.wait())
            try:
                await asyncio.wait({moved, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                moved.cancel()
                interrupted.cancel()
