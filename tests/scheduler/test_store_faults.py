"""Durable before visible, and fail-stop: a write the store refuses stops the scheduler before
anyone hears of the change, and a scheduler started again on the store finds everything it
said succeeded and nothing it said failed. In-process, on both backends, with a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from daybreak.model.records import Changes, Snapshot
from daybreak.model.task_state import TaskState
from daybreak.scheduler.carrier import StoreWriteFailedError
from tests.databases import BACKENDS, store_url
from tests.scheduler.harness import FakeAgent, InProcess, in_process

Request = Callable[[InProcess], Awaitable[Any]]


def fail_next_write(harness: InProcess, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The store's next write raises; returns the batches it refused."""
    refused: list[object] = []

    def refuse(batch: list[Changes | Snapshot], epoch: int | None = None) -> None:
        refused.append(batch)
        raise OSError("disk full (injected)")

    monkeypatch.setattr(harness.scheduler.store, "write_all", refuse)
    return refused


async def running_job(harness: InProcess) -> FakeAgent:
    agent = await harness.connect(FakeAgent("a1"))
    response = await harness.api.post("/api/v1/jobs", content=_encode(harness.job(service=True)))
    assert response.status_code == 201, response.text
    await harness.advance(1000)  # a round places both instances
    await harness.run_everything()
    assert len(agent.launches()) == 2
    return agent


def _encode(value: object) -> bytes:
    import msgspec

    return msgspec.json.encode(value)


async def create_other(harness: InProcess) -> Any:
    return await harness.api.post("/api/v1/jobs", content=_encode(harness.job("other", 1)))


async def kill_instance(harness: InProcess) -> Any:
    return await harness.api.post("/api/v1/jobs/test/www/prod/web/kill",
                                  json={"instances": [0]})  # fmt: skip


async def add_instances(harness: InProcess) -> Any:
    return await harness.api.post("/api/v1/jobs/test/www/prod/web/instances", json={"count": 2})


async def start_update(harness: InProcess) -> Any:
    spec = harness.job(instances=3, service=True)
    return await harness.api.post("/api/v1/jobs/test/www/prod/web/update",
                                  content=_encode({"spec": spec}))  # fmt: skip


async def set_quota(harness: InProcess) -> Any:
    return await harness.api.put("/api/v1/quotas/www", json={"cpu": 8, "ram_mb": 1024,
                                                              "disk_mb": 1024})  # fmt: skip


REQUESTS: dict[str, Request] = {
    "create": create_other,
    "kill": kill_instance,
    "add": add_instances,
    "update": start_update,
    "quota": set_quota,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
def test_a_refused_write_stops_the_scheduler_before_anyone_hears_of_the_change(
    backend: str, request_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = REQUESTS[request_name]

    async def scenario(url: str) -> None:
        async with in_process(url) as harness:
            agent = await running_job(harness)
            before = await harness.status(harness.job().key)
            sent_before = len(agent.received)
            refused = fail_next_write(harness, monkeypatch)

            response = await request(harness)

            assert response.status_code == 503, response.text
            assert "store refused a write" in response.json()["error"]
            assert refused, "the change reached the store's writer"
            await harness.settle()
            assert harness.run.done()
            assert isinstance(harness.run.exception(), StoreWriteFailedError)
            # Nothing was told to an agent, and reads show the state as it was.
            assert agent.received[sent_before:] == []
            assert await harness.status(harness.job().key) == before
            missing = await harness.api.get("/api/v1/jobs/test/www/prod/other")
            assert missing.status_code == 404
            # Time passing does nothing either: the scheduler has stopped.
            await harness.advance(5000)
            assert agent.received[sent_before:] == []
            monkeypatch.undo()

        # Started again on the same store: what was said to succeed is there, nothing else.
        async with in_process(url, first_id=1000) as again:
            status = await again.status(again.job().key)
            assert [t.task_id for t in status.active] == [t.task_id for t in before.active]
            assert all(t.state is TaskState.RUNNING for t in status.active)
            assert (await again.api.get("/api/v1/jobs/test/www/prod/other")).status_code == 404
            assert (await again.api.get("/api/v1/updates")).json()["updates"] == []
            quota = (await again.api.get("/api/v1/quotas/www")).json()["quota"]
            assert quota["cpu"] == 0

    with store_url(backend, tmp_path) as url:
        asyncio.run(scenario(url))


def test_a_refused_status_update_is_never_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent keeps a report until it is acknowledged; a report the store refused must stay
    with the agent, to be offered again to whoever leads next."""

    async def scenario(url: str) -> None:
        async with in_process(url) as harness:
            agent = await harness.connect(FakeAgent("a1"))
            await create_other(harness)
            await harness.advance(1000)
            [task_id] = agent.launches()
            fail_next_write(harness, monkeypatch)
            await harness.report(agent, task_id, TaskState.RUNNING)
            assert agent.acks() == []
            assert isinstance(harness.run.exception(), StoreWriteFailedError)
            monkeypatch.undo()
        async with in_process(url, first_id=1000) as again:
            agent = await again.connect(FakeAgent("a1", inventory=agent.inventory))
            welcome = agent.received[0]
            assert welcome.applied_seq == 0  # type: ignore[attr-defined]
            await again.report(agent, task_id, TaskState.RUNNING)
            assert agent.acks() == [agent.seq]

    with store_url("sqlite", tmp_path) as url:
        asyncio.run(scenario(url))
