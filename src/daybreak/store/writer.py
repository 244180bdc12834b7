"""The store's one writing thread: SQLite never sees two writers, PostgreSQL one connection,
and the asyncio side never blocks on the database.

Work runs in the order it is handed over, so a backup sees every write handed over before it.
Grouping commits is the caller's: `daybreak.scheduler.carrier` hands over everything that piled
up while the previous transaction ran, as one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from daybreak.model.records import Changes, Snapshot
from daybreak.store.store import Store

T = TypeVar("T")


class StoreWriter:
    def __init__(self, store: Store, epoch: int | None = None) -> None:
        self.store = store
        self.epoch = epoch  # every write checks it is still the leader's
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self.transactions = 0  # for /metrics

    async def write(self, batch: list[Changes | Snapshot]) -> None:
        """Return once `batch` is durable; raise whatever the store raised if it is not."""
        await self.call(lambda: self.store.write_all(batch, self.epoch))
        self.transactions += 1

    async def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the writer's thread, after everything handed over before it."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, function)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
