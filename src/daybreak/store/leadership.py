"""Leadership in the store: one row with the leader's epoch, its address, the database backend
holding its lock, and when it last renewed its lease, on the database's own clock (the lock
and the lease themselves are `daybreak.scheduler.leadership`'s).

Fencing: a new leader takes a higher epoch, and every write transaction first checks that its
writer's epoch is still the current one (`check_epoch`), locking the row: a leader that was
replaced, however paused or slow, writes nothing once its successor has taken over.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from daybreak.errors import DaybreakError
from daybreak.store import schema

ROW = schema.leadership.c.id == 1
# The transaction-local PostgreSQL setting that holds the writing leader's epoch.
EPOCH_SETTING = "daybreak.epoch"


class DeposedError(DaybreakError):
    """This scheduler's epoch is no longer the leader's: another scheduler took over."""


def check_epoch(connection: Connection, epoch: int) -> None:
    """Refuse the transaction unless `epoch` is still the leader's. On PostgreSQL the row is
    read FOR SHARE: a takeover waits for this transaction, and one that came first is seen.
    (On SQLite the single writer serialises the same way; no row is rewritten either way.)"""
    table = schema.leadership
    current = connection.execute(
        sa.select(table.c.epoch, table.c.leader).where(ROW).with_for_update(read=True)
    ).one()
    if current.epoch != epoch:
        raise DeposedError(
            f"epoch {epoch} is no longer the leader's: epoch {current.epoch} belongs to "
            f"{current.leader or 'another scheduler'}"
        )
    if connection.dialect.name == "postgresql":
        # The transaction says whose it is, so that the database can tell which leader wrote
        # what (an audit trigger; the HA tests count writes by epoch this way).
        connection.execute(sa.select(sa.func.set_config(EPOCH_SETTING, str(epoch), True)))


def take_over(connection: Connection, address: str, backend_pid: int | None = None) -> int:
    """Become the leader: the next epoch, this scheduler's address, and the database backend
    that holds its lock (PostgreSQL). Returns the epoch."""
    table = schema.leadership
    connection.execute(
        sa.update(table)
        .where(ROW)
        .values(
            epoch=table.c.epoch + 1,
            leader=address,
            backend_pid=backend_pid,
            renewed_at=sa.func.current_timestamp(),
        )
    )
    return int(connection.execute(sa.select(table.c.epoch).where(ROW)).scalar_one())


def signing_key(connection: Connection) -> bytes:
    """The cluster's key for tasks' credentials, made here by the first scheduler to ask; any
    that asks at the same moment reads the one that was made."""
    table = schema.leadership
    connection.execute(
        sa.update(table)
        .where(ROW, table.c.signing_key.is_(None))
        .values(signing_key=secrets.token_bytes(32))
    )
    return bytes(connection.execute(sa.select(table.c.signing_key).where(ROW)).scalar_one())
