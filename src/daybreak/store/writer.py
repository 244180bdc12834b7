"""Group commits: every change the scheduler makes is durable before anyone hears of it, and
whatever piles up while one transaction runs goes out together in the next.

One thread writes, so SQLite never sees two writers and PostgreSQL one connection. A status
storm of 1,000 updates costs a transaction or two, not 1,000.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from daybreak.store.records import Changes
from daybreak.store.store import Store

T = TypeVar("T")


class StoreWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._next = Changes()
        self._next_done: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.transactions = 0  # for /metrics

    async def commit(self, changes: Changes) -> None:
        """Return once `changes` (and everything committed before them) is durable."""
        if not changes:
            return
        loop = asyncio.get_running_loop()
        self._next.merge(changes)
        if self._next_done is None:
            self._next_done = loop.create_future()
        done = self._next_done
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._next_done is not None:
            batch, done = self._next, self._next_done
            self._next, self._next_done = Changes(), None
            try:
                await loop.run_in_executor(self._thread, self.store.write, batch)
            except Exception as error:  # every waiter hears of it
                done.set_exception(error)
            else:
                self.transactions += 1
                done.set_result(None)

    async def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the writer's thread, after every write already handed to it
        (a backup, a restore)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, function)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
