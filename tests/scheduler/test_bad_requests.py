"""Requests that did not come through the client: the server applies the same rules as the
client, bounds every size, takes ranges as ranges, and answers a malformed body with 400 and
where it is wrong. Nothing already stored is lost on the way."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from daybreak.scheduler import views
from daybreak.scheduler.app import MAX_REQUEST_BYTES
from tests.scheduler.harness import FakeAgent, InProcess, in_process


def run(tmp_path: Path, story: Any) -> None:
    async def main() -> None:
        async with in_process(f"sqlite:///{tmp_path / 'db'}") as harness:
            await harness.connect(FakeAgent("a1"))
            await story(harness)

    asyncio.run(main())


def spec_with(harness: InProcess, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(harness.job(instances=1))
    for path, value in changes.items():
        *parents, last = path.split("__")
        place = body
        for parent in parents:
            place = place[parent]
        place[last] = value
    return body


@pytest.mark.parametrize(
    ("changes", "where", "problem"),
    [
        ({"instances": 0}, "Job.instances", "must be at least 1"),
        ({"instances": -5}, "Job.instances", "must be at least 1"),
        ({"instances": 4001}, "Job.instances", "--max-instances-per-job"),
        ({"task__resources__cpu": -1000}, "Job.task.resources.cpu", "greater than 0"),
        ({"task__resources__ram_mb": 0}, "Job.task.resources.ram", "greater than 0"),
        ({"key__role": "a/b"}, "Job.role", "'a/b' is not a valid role"),
        ({"key__name": "../x"}, "Job.name", "'../x' is not a valid name"),
        ({"key__environment": "production"}, "Job.environment",
         "'production' is not an environment this cluster allows (its scheduler's "
         "--allowed-job-environments: ^(prod|devel|test|staging\\d*)$)"),
        ({"task__processes": [{"name": "main", "cmdline": "x" * 200_000}]},
         "Job.task.processes[0].cmdline", "longer than a command line can be"),
    ],
)  # fmt: skip
def test_a_job_the_client_would_refuse_is_refused_by_the_server_too(
    tmp_path: Path, changes: dict[str, Any], where: str, problem: str
) -> None:
    async def story(harness: InProcess) -> None:
        good = await harness.api.post("/api/v1/jobs", json=spec_with(harness))
        assert good.status_code == 201, good.text
        body = spec_with(harness, **changes)
        body["key"]["name"] = body["key"]["name"] if "key__name" in changes else "other"
        response = await harness.api.post("/api/v1/jobs", json=body)
        assert response.status_code == 400, response.text
        assert f"{where}: " in response.json()["error"]
        assert problem in response.json()["error"]
        listed = (await harness.api.get("/api/v1/jobs")).json()["jobs"]
        assert [job["key"]["name"] for job in listed] == ["web"]  # nothing else, nothing lost

    run(tmp_path, story)


def test_numbers_beyond_any_limit_and_malformed_bodies_get_400_with_where(tmp_path: Path) -> None:
    async def story(harness: InProcess) -> None:
        api = harness.api
        huge = await api.post("/api/v1/jobs", json=spec_with(harness, instances=2**70))
        assert huge.status_code == 400, huge.text
        assert "instances" in huge.json()["error"]
        for body in (b"\xff\xfe{", b"[" * 100_000, b'{"key": {"role": 7}}'):
            response = await api.post("/api/v1/jobs", content=body)
            assert response.status_code == 400, (body[:20], response.text[:200])
            assert response.json()["status"] == 400
        assert (await api.post("/api/v1/jobs", json=spec_with(harness))).status_code == 201
        key = harness.job().key
        grown = await api.post(f"/api/v1/jobs/{key}/instances", json={"count": 10**9})
        assert grown.status_code == 400, grown.text
        assert "--max-instances-per-job" in grown.json()["error"]

    run(tmp_path, story)


def test_a_query_over_a_vast_range_of_instances_takes_it_as_a_range(tmp_path: Path) -> None:
    async def story(harness: InProcess) -> None:
        assert (await harness.api.post("/api/v1/jobs", json=spec_with(harness))).status_code == 201
        found = await harness.api.get("/api/v1/tasks", params={"instances": "0-10000000000000"})
        assert found.status_code == 200, found.text
        assert [task["instance"] for task in found.json()["tasks"]] == [0]
        none = await harness.api.get("/api/v1/tasks", params={"instances": "5-10000000000000"})
        assert none.json()["tasks"] == []

    run(tmp_path, story)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_unexpected_failure_is_logged_once_with_its_request_and_said_as_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(views, "job_summaries", broken)

    async def story(harness: InProcess) -> None:
        response = await harness.api.get("/api/v1/jobs")
        assert response.status_code == 500
        assert response.json() == {
            "error": "the scheduler failed on GET /api/v1/jobs: RuntimeError: the disk is on "
            "fire (see its log)",
            "status": 500,
        }

    logger, seen = logging.getLogger("daybreak.scheduler"), Records()
    logger.addHandler(seen)  # the app's logging config keeps its records from pytest's
    try:
        run(tmp_path, story)
    finally:
        logger.removeHandler(seen)
    failures = [r for r in seen.records if "event=request_failed" in r.getMessage()]
    assert len(failures) == 1 and "GET /api/v1/jobs" in failures[0].getMessage()
    assert failures[0].exc_info is not None


def test_a_quota_for_a_role_no_job_could_have_is_refused(tmp_path: Path) -> None:
    async def story(harness: InProcess) -> None:
        quota = {"cpu": 1, "ram_mb": 1, "disk_mb": 1}
        refused = await harness.api.put("/api/v1/quotas/%3B%C2%BD", json=quota)
        assert refused.status_code == 400, refused.text
        assert "';½' is not a valid role" in refused.json()["error"]
        assert (await harness.api.put("/api/v1/quotas/www", json=quota)).status_code == 200

    run(tmp_path, story)


def test_a_body_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    async def story(harness: InProcess) -> None:
        body = spec_with(harness)
        body["metadata"] = [{"key": "padding", "value": "x" * MAX_REQUEST_BYTES}]
        refused = await harness.api.post("/api/v1/jobs", json=body)
        assert refused.status_code == 413, refused.text[:200]

    run(tmp_path, story)
