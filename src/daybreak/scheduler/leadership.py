"""Who leads, among schedulers that share one store.

On PostgreSQL, leadership is an advisory lock held on a dedicated connection, plus a lease the
leader renews every second in the leadership row (`daybreak.store.leadership`), timed by the
database's clock. A standby that finds the lease expired (the leader paused, partitioned, or
slow) terminates the leader's lock session, which frees the lock, and takes it. Every new leader
takes a higher epoch, and every write checks it: whatever a replaced leader still tries to write
is refused. A leader that cannot renew its lease stops acting at once.

On SQLite there is one scheduler: it leads from the start. The PostgreSQL leadership is in
`leadership_postgres.py`, imported only where it is used (psycopg costs a scheduler on SQLite
about 8 MB).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from daybreak.store import Store

log = logging.getLogger("daybreak.scheduler")

RENEW_S = 1.0
LEASE_S = 5.0


class LeadershipLostError(Exception):
    """This scheduler no longer leads: it must stop acting at once."""


@dataclass
class Observed:
    """What a standby last saw of the leader."""

    address: str = ""
    epoch: int = 0


class Leadership(Protocol):
    observed: Observed
    # Whether another scheduler may take over: a term that cannot write then stands by
    # (the state is reloaded when it leads again) instead of ending the process.
    has_standbys: bool

    async def acquire(self) -> int:
        """Wait until this scheduler leads; its epoch."""

    async def acquire_now(self) -> int | None:
        """Lead if no other scheduler does; the epoch, or None."""

    async def hold(self, epoch: int) -> None:
        """Return never while leading; raise `LeadershipLostError` once not."""

    async def release(self) -> None: ...


class SoleLeadership:
    """One scheduler on its own store (SQLite): it leads as soon as it starts."""

    has_standbys = False

    def __init__(self, store: Store, address: str) -> None:
        self.store, self.address = store, address
        self.observed = Observed(address)

    async def acquire(self) -> int:
        epoch = await asyncio.to_thread(self.store.take_over, self.address)
        self.observed = Observed(self.address, epoch)
        return epoch

    async def acquire_now(self) -> int:
        return await self.acquire()

    async def hold(self, epoch: int) -> None:
        await asyncio.Event().wait()

    async def release(self) -> None:
        return None
