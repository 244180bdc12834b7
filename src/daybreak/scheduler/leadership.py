"""Who leads, among schedulers that share one store.

On PostgreSQL, leadership is an advisory lock held on a dedicated connection, plus a lease the
leader renews every second in the leadership row (`daybreak.store.leadership`), timed by the
database's clock. A standby that finds the lease expired (the leader paused, partitioned, or
slow) terminates the leader's lock session, which frees the lock, and takes it. Every new leader
takes a higher epoch, and every write checks it: whatever a replaced leader still tries to write
is refused. A leader that cannot renew its lease stops acting at once.

On SQLite there is one scheduler: it leads from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from daybreak.store import Store

log = logging.getLogger("daybreak.scheduler")

# The advisory lock every Daybreak scheduler of a database contends for ("dayb").
LOCK_KEY = 0x64617962
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


class PostgresLeadership:
    has_standbys = True

    def __init__(
        self,
        store: Store,
        dsn: str,
        address: str,
        lease_s: float = LEASE_S,
        renew_s: float = RENEW_S,
    ) -> None:
        self.store, self.dsn, self.address = store, dsn, address
        self.lease_s, self.renew_s = lease_s, renew_s
        self.observed = Observed()
        self._lock: psycopg.AsyncConnection[tuple[Any, ...]] | None = None

    async def acquire(self) -> int:
        while True:
            epoch = await self.acquire_now()
            if epoch is not None:
                return epoch
            await asyncio.sleep(self.renew_s)

    async def acquire_now(self) -> int | None:
        try:
            epoch = await self._try_to_lead()
        except (psycopg.Error, OSError) as error:
            log.warning("event=leadership_unreachable error=%s", error)
            await self.release()
            return None
        if epoch is not None:
            self.observed = Observed(self.address, epoch)
            log.info("event=leading epoch=%d address=%s", epoch, self.address)
        return epoch

    async def _try_to_lead(self) -> int | None:
        if self._lock is None:
            self._lock = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=max(1, round(self.lease_s))
            )
        lock = self._lock
        row = await (await lock.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))).fetchone()
        if row is not None and row[0]:
            pid = lock.info.backend_pid
            return await asyncio.to_thread(self.store.take_over, self.address, pid)
        leader = await (
            await lock.execute(
                "SELECT epoch, leader, backend_pid, "
                "EXTRACT(EPOCH FROM (now() - renewed_at)) FROM leadership WHERE id = 1"
            )
        ).fetchone()
        if leader is None:
            return None
        epoch, address, backend_pid, age_s = leader
        if self.observed.epoch != epoch:
            log.info("event=standby leader=%s epoch=%s", address, epoch)
        self.observed = Observed(str(address), int(epoch))
        if backend_pid is not None and (age_s is None or float(age_s) > self.lease_s):
            # The leader has not renewed its lease in time: end its lock session, so that its
            # lock is free; its epoch ends when ours begins.
            log.warning("event=lease_expired leader=%s epoch=%s age_s=%s", address, epoch, age_s)
            await lock.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
        return None

    async def hold(self, epoch: int) -> None:
        assert self._lock is not None, "acquire first"
        lock = self._lock
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                async with asyncio.timeout(self.lease_s / 2):
                    renewed = await lock.execute(
                        "UPDATE leadership SET renewed_at = now() WHERE id = 1 AND epoch = %s",
                        (epoch,),
                    )
            except (psycopg.Error, OSError, TimeoutError) as error:
                raise LeadershipLostError(
                    f"cannot renew the lease of epoch {epoch}: {error!r}"
                ) from error
            if renewed.rowcount != 1:
                raise LeadershipLostError(f"epoch {epoch} was taken over")

    async def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await lock.close()
