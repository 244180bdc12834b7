"""The audit log's table on both backends: appended in order, read newest first a page at a
time, forgotten past its retention, and never written by a replaced leader."""

from __future__ import annotations

import pytest

from daybreak.model.audit import AuditEntry
from daybreak.store import open_store
from daybreak.store.leadership import DeposedError
from daybreak.store.store import Store


def entry(at_ms: int, who: str = "alice", status: int = 200) -> AuditEntry:
    return AuditEntry(at_ms=at_ms, who=who, source="10.0.0.7", method="POST",
                      path="/api/v1/jobs/c/www/prod/web/kill", status=status,
                      target="c/www/prod/web")  # fmt: skip


def test_entries_are_read_back_newest_first_a_page_at_a_time(store: Store) -> None:
    store.append_audit([entry(1000), entry(2000, "bob", 403)], None)
    store.append_audit([entry(3000, "ops")], None)
    first = store.read_audit(limit=2)
    assert [r.entry for r in first.records] == [entry(3000, "ops"), entry(2000, "bob", 403)]
    assert first.before == first.records[-1].id
    rest = store.read_audit(limit=2, before=first.before)
    assert [r.entry for r in rest.records] == [entry(1000)] and rest.before is None
    assert [r.entry.at_ms for r in store.read_audit(10, who="bob").records] == [2000]
    assert store.read_audit(10, who="nobody").records == ()


def test_entries_past_their_retention_are_forgotten_as_others_are_written(store: Store) -> None:
    store.append_audit([entry(1000), entry(5000)], None)
    store.append_audit([entry(9000)], None, forget_before_ms=5000)
    assert [r.entry.at_ms for r in store.read_audit(10).records] == [9000, 5000]


def test_a_backup_and_restore_leave_the_audit_log_as_it_was(store: Store) -> None:
    store.append_audit([entry(1000)], None)
    store.restore(store.backup())
    assert [r.entry.at_ms for r in store.read_audit(10).records] == [1000]


def test_a_replaced_leader_writes_no_audit_entry(url: str) -> None:
    first, second = open_store(url), open_store(url)
    try:
        old = first.take_over("http://s1")
        first.append_audit([entry(1000)], old)
        second.take_over("http://s2")
        with pytest.raises(DeposedError):
            first.append_audit([entry(2000)], old, forget_before_ms=5000)
        assert [r.entry.at_ms for r in second.read_audit(10).records] == [1000]
    finally:
        first.close()
        second.close()
