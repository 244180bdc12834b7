"""The audit log on a real scheduler: every request that asks for a change, carried out or
refused, with who asked, from where and the answer; shown to admins only, by the API and by
`daybreak admin audit`, and kept across a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from daybreak.model.audit import UNAUTHENTICATED, AuditList
from tests.cluster.conftest import CLUSTER, LocalCluster
from tests.cluster.test_security import (
    ALICE_TOKEN,
    BOB_TOKEN,
    OPS_TOKEN,
    bearer,
    secured_cluster,
)
from tests.conftest import run_cli

OPS = bearer(OPS_TOKEN)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[LocalCluster]:
    with secured_cluster("sqlite", tmp_path) as local:
        yield local


def audit(local: LocalCluster, **params: str | int) -> AuditList:
    response = local.api.get("/audit", params=params, headers=OPS)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=AuditList)


def test_every_change_asked_for_is_audited_with_who_where_and_the_answer(
    secured: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = secured.api
    spec = secured.job(instances=1)
    body = msgspec.json.encode(spec)
    assert api.post("/jobs", content=body).status_code == 401
    assert api.post("/jobs", content=body, headers=bearer(BOB_TOKEN)).status_code == 403
    assert api.post("/jobs", content=body, headers=bearer(ALICE_TOKEN)).status_code == 201
    assert api.get(f"/jobs/{spec.key}").status_code == 200  # a read: not audited
    kill = f"/jobs/{spec.key}/kill"
    assert api.post(kill, json={"instances": [0]}, headers=OPS).status_code == 200
    assert api.get("/audit", headers=bearer(ALICE_TOKEN)).status_code == 403  # admins only

    page = audit(secured)
    create = "/api/v1/jobs"
    assert [(e.who, e.method, e.path, e.status, e.target) for e in (r.entry for r in page.records)] == [
        ("ops", "POST", "/api/v1" + kill, 200, ""),
        ("alice", "POST", create, 201, str(spec.key)),
        ("bob", "POST", create, 403, str(spec.key)),
        # Turned away before its body was read: which job it named is not known.
        (UNAUTHENTICATED, "POST", create, 401, ""),
    ]  # fmt: skip
    assert {r.entry.source for r in page.records} == {"127.0.0.1"}
    times = [r.entry.at_ms for r in page.records]
    assert times == sorted(times, reverse=True)

    first = audit(secured, limit=3)
    assert len(first.records) == 3 and first.before == first.records[-1].id
    rest = audit(secured, limit=3, before=first.before)
    assert [r.entry.who for r in rest.records] == [UNAUTHENTICATED] and rest.before is None
    assert [r.entry.status for r in audit(secured, who="bob").records] == [403]

    # Kept in the store: a scheduler killed and started again shows the same log.
    secured.scheduler.kill9()
    secured.scheduler.start()
    assert audit(secured) == page

    config_root = tmp_path / "config"
    config_root.mkdir()
    clusters = [{"name": CLUSTER, "scheduler_uri": secured.scheduler.url}]
    (config_root / "clusters.json").write_text(json.dumps(clusters))
    monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(config_root))
    monkeypatch.setenv("DAYBREAK_TOKEN", OPS_TOKEN)
    shown = run_cli(["admin", "audit", CLUSTER, "--limit", "2"])
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0].split() == ["TIME", "WHO", "FROM", "ANSWER", "REQUEST", "JOB"]
    assert "UTC  ops    127.0.0.1  200" in lines[1] and f"POST /api/v1{kill}" in lines[1]
    assert "alice" in lines[2] and f"POST {create}" in lines[2] and str(spec.key) in lines[2]
    assert lines[3] == f"(older entries: --before {page.records[1].id})"
    monkeypatch.setenv("DAYBREAK_TOKEN", ALICE_TOKEN)
    refused = run_cli(["admin", "audit", CLUSTER])
    assert refused.code == 30 and "alice is not an admin" in refused.err
