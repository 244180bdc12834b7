"""The scheduler service in-process, on a real SQLite store: what it does when the store
refuses a write."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.jobspec import Resources
from daybreak.model.task_state import TaskState
from daybreak.scheduler.service import Scheduler
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.store import open_store
from tests.core.builders import job_spec


def hello() -> protocol.Hello:
    return protocol.Hello(
        agent_id="a1", hostname="a1", attributes={"host": "a1"},
        resources=Resources(cpu=4, ram_mb=4096, disk_mb=4096),
        ports=PortRange(first=31000, last=31010), inventory={},
    )  # fmt: skip


def test_a_status_update_the_store_refused_is_not_acknowledged_and_comes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SchedulerConfig(
        store_url=f"sqlite:///{tmp_path / 'db'}", host="127.0.0.1", port=0, cluster="west",
        heartbeat_interval_ms=1000, agent_timeout_ms=30000,
    )  # fmt: skip
    sent: list[protocol.Message] = []
    hung_up: list[bool] = []

    async def scenario(scheduler: Scheduler) -> None:
        scheduler.load()
        scheduler.agent_connected(hello(), sent.append, lambda: hung_up.append(True))
        spec = job_spec("web")
        await scheduler.create_job(spec)
        [task_id] = list(scheduler.cluster.tasks)
        scheduler.cluster.assign(task_id, 0, {}, 0)  # placed on a1, as a round would
        await scheduler.carry_out(scheduler.cluster.drain_effects())
        update = protocol.StatusUpdate(seq=1, task_id=task_id, state=TaskState.STARTING,
                                       timestamp_ms=1)  # fmt: skip

        original = scheduler.store.write
        monkeypatch.setattr(scheduler.store, "write", lambda changes: 1 / 0)
        scheduler.status_update("a1", update)
        await asyncio.gather(*scheduler._background)
        assert hung_up == [True]
        assert not any(isinstance(m, protocol.Ack) for m in sent)
        assert scheduler.agents["a1"].applied_seq == 0

        # The store is back; the agent reconnects and offers the update again.
        monkeypatch.setattr(scheduler.store, "write", original)
        scheduler.agent_connected(hello(), sent.append, lambda: None)
        scheduler.status_update("a1", update)
        await asyncio.gather(*scheduler._background)
        assert protocol.Ack(seq=1) in sent
        assert scheduler.store.load().agents["a1"].applied_seq == 1

    scheduler = Scheduler(config, open_store(config.store_url))
    try:
        asyncio.run(scenario(scheduler))
    finally:
        scheduler.writer.close()
        scheduler.store.close()
