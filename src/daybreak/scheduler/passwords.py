"""Password checks that cannot stall the scheduler: scrypt is slow on purpose (about 36 ms),
so it runs in worker threads, a few at a time, and what it found is remembered for a while.
When more checks wait than that (a flood of guesses), the rest are turned away at once with
503 and Retry-After, instead of queueing work for minutes: health checks, agents and bearer
tokens, which need no scrypt, are served all the while."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from daybreak.model.credentials import verify_password

CONCURRENT_CHECKS = 2  # hashlib releases the GIL for scrypt: two threads, two cores
WAITING_CHECKS = 32
REMEMBER_S = 300.0
REMEMBERED_MAX = 10_000


class TooManyPasswordChecksError(Exception):
    """Too many password checks are waiting: the caller should retry, or use a token."""


class PasswordChecks:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._slots = asyncio.Semaphore(CONCURRENT_CHECKS)
        self._waiting = 0
        # By (user, SHA-256 of what was presented): (whether it matched, until when known).
        self._remembered: dict[tuple[str, str], tuple[bool, float]] = {}

    async def verify(self, name: str, password: str, stored: str) -> bool:
        key = (name, hashlib.sha256(password.encode()).hexdigest())
        known = self._remembered.get(key)
        now = self.clock()
        if known is not None and known[1] > now:
            return known[0]
        if self._waiting >= WAITING_CHECKS:
            raise TooManyPasswordChecksError(
                f"{self._waiting} password checks are waiting already: retry in a moment, or "
                "use a bearer token (no password check)"
            )
        self._waiting += 1
        try:
            async with self._slots:
                matched = await asyncio.to_thread(verify_password, password, stored)
        finally:
            self._waiting -= 1
        if len(self._remembered) >= REMEMBERED_MAX:
            self._remembered.clear()
        self._remembered[key] = (matched, self.clock() + REMEMBER_S)
        return matched
