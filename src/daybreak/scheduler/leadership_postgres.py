"""Leadership on PostgreSQL: an advisory lock held on a connection of its own, and a lease
renewed every second in the leadership row, on the database's clock (see `leadership.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from daybreak.scheduler.leadership import (
    LEASE_S,
    RENEW_S,
    LeadershipLostError,
    Observed,
)
from daybreak.store import Store

log = logging.getLogger("daybreak.scheduler")

# The advisory lock every Daybreak scheduler of a database contends for ("dayb").
LOCK_KEY = 0x64617962


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
