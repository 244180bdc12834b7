"""The audit trail in-process: an entry per request that asks for a change, none for reads,
and a store that refuses an entry costs that entry only: the request was answered, and the
scheduler schedules on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from daybreak.model.audit import AuditList
from tests.scheduler.harness import in_process


async def audit(api: Any) -> AuditList:
    response = await api.get("/api/v1/audit")
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=AuditList)


def test_a_refused_audit_write_loses_its_entries_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(scenario(f"sqlite:///{tmp_path / 'db'}", monkeypatch))


async def scenario(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with in_process(url) as harness:
        store = harness.scheduler.store
        append = store.append_audit
        refused: list[object] = []

        def refuse_once(*args: Any) -> None:
            if not refused:
                refused.append(args)
                raise OSError("disk full (injected)")
            append(*args)

        monkeypatch.setattr(store, "append_audit", refuse_once)
        web = harness.job("web", 1)
        created = await harness.api.post("/api/v1/jobs", content=msgspec.json.encode(web))
        assert created.status_code == 201, created.text
        assert (await audit(harness.api)).records == ()
        assert harness.scheduler.audit.unwritten == 1 and not harness.run.done()

        other = harness.job("other", 1)
        created = await harness.api.post("/api/v1/jobs", content=msgspec.json.encode(other))
        assert created.status_code == 201
        await harness.api.get(f"/api/v1/jobs/{other.key}")  # a read: not audited
        [record] = (await audit(harness.api)).records
        assert (record.entry.who, record.entry.target) == ("anonymous", str(other.key))
        assert record.entry.at_ms == harness.clock.now()
        assert len((await harness.status(other.key)).active) == 1  # and it scheduled on
