"""The audit log's table (`daybreak.model.audit`): appended to by the leader, read newest
first a page at a time, and kept for as long as the operator says."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from daybreak.model.audit import AuditEntry, AuditList, AuditRecord
from daybreak.store import schema
from daybreak.store.leadership import check_epoch

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AuditEntry)


def append(
    engine: Engine,
    entries: Sequence[AuditEntry],
    epoch: int | None,
    forget_before_ms: int | None = None,
) -> None:
    """Add `entries` in one transaction, only while `epoch` is the leader's; entries older than
    `forget_before_ms` go in the same transaction."""
    with engine.begin() as connection:
        if epoch is not None:
            check_epoch(connection, epoch)
        if entries:
            rows = [{"at_ms": e.at_ms, "who": e.who, "record": _encoder.encode(e)} for e in entries]
            connection.execute(sa.insert(schema.audit), rows)
        if forget_before_ms is not None:
            forgotten = schema.audit.c.at_ms < forget_before_ms
            connection.execute(sa.delete(schema.audit).where(forgotten))


def read(
    engine: Engine, limit: int, before: int | None = None, who: str | None = None
) -> AuditList:
    """At most `limit` entries, newest first, older than the entry `before` (if given), by
    `who` (if given)."""
    table = schema.audit
    query = sa.select(table.c.id, table.c.record).order_by(table.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(table.c.id < before)
    if who is not None:
        query = query.where(table.c.who == who)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    records = tuple(
        AuditRecord(id=id_, entry=_decoder.decode(record)) for id_, record in rows[:limit]
    )
    more = len(rows) > limit
    return AuditList(records=records, before=records[-1].id if more and records else None)
