"""The event hub on its own: followers get their jobs' changes in order; one that lags is
told so and let go, and the hub does not grow."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from daybreak.model.api import TaskSummary
from daybreak.model.cron import CronJob, CronRun, CronRunStatus
from daybreak.model.records import Changes
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TaskState
from daybreak.scheduler import events
from daybreak.scheduler.events import EventHub
from tests.core.builders import job_spec

WEB, DB = job_spec("web"), job_spec("db")


def task(spec: object, number: int) -> ScheduledTask:
    return ScheduledTask(task_id=f"t{number}", spec=spec, instance=number,  # type: ignore[arg-type]
                         state=TaskState.PENDING)  # fmt: skip


def changes(*tasks: ScheduledTask) -> Changes:
    return Changes(tasks={t.task_id: t for t in tasks})


async def take(hub: EventHub, count: int, job: object) -> list[str]:
    kinds: list[str] = []
    async for event in hub.follow(lambda key: key == job):
        assert event is not None
        kinds.append(f"{event.kind}:{event.data.decode()[:40]}")
        if len(kinds) == count:
            break
    return kinds


def test_followers_get_their_jobs_changes_in_commit_order() -> None:
    async def scenario() -> list[str]:
        hub = EventHub(TaskSummary.of)
        follower = asyncio.create_task(take(hub, 3, WEB.key))
        await asyncio.sleep(0)  # the follower subscribes
        hub.publish(changes(task(WEB, 0), task(DB, 1)), {})
        hub.publish(Changes(tasks={"t0": None}, jobs={str(WEB.key): None}), {"t0": WEB.key})
        return await follower

    kinds = asyncio.run(scenario())
    assert [k.split(":")[0] for k in kinds] == ["task", "task-deleted", "job"]
    assert '"task_id":"t0"' in kinds[1]


def test_a_cron_job_scheduled_run_and_descheduled_is_followed() -> None:
    nightly = msgspec.structs.replace(job_spec("nightly"), cron_schedule="0 2 * * *")
    record = CronJob(spec=nightly, scheduled_ms=1, last_trigger_ms=1)
    run = CronRun(trigger_ms=2, cause="manual", status=CronRunStatus.RUNNING, started_ms=2)

    async def follow(hub: EventHub) -> list[tuple[str, dict[str, object]]]:
        seen = []
        async for event in hub.follow(lambda key: key == nightly.key):
            assert event is not None
            seen.append((event.kind, msgspec.json.decode(event.data)))
            if len(seen) == 3:
                return seen
        return seen

    async def scenario() -> list[tuple[str, dict[str, object]]]:
        hub = EventHub(TaskSummary.of)
        follower = asyncio.create_task(follow(hub))
        await asyncio.sleep(0)
        key = str(nightly.key)
        hub.publish(Changes(cron={key: record}), {})
        hub.publish(Changes(cron={key: msgspec.structs.replace(record, runs=(run,))}), {})
        hub.publish(Changes(cron={key: None}), {})
        return await follower

    seen = asyncio.run(scenario())
    assert [kind for kind, _ in seen] == ["cron"] * 3
    assert [(data["scheduled"], data["schedule"]) for _, data in seen] == [
        (True, "0 2 * * *"), (True, "0 2 * * *"), (False, None)
    ]  # fmt: skip
    assert [len(data["runs"]) for _, data in seen] == [0, 1, 0]  # type: ignore[arg-type]


def test_a_follower_that_falls_behind_is_told_and_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "QUEUE_LIMIT", 3)

    async def scenario() -> tuple[list[str], int]:
        hub = EventHub(TaskSummary.of)
        received: list[str] = []

        async def follow() -> None:
            async for event in hub.follow(lambda key: True):
                assert event is not None
                received.append(event.kind)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0)
        hub.publish(changes(*(task(WEB, n) for n in range(10))), {})  # never read meanwhile
        await follower  # ends by itself
        return received, len(hub.followers)

    received, left = asyncio.run(scenario())
    assert received == ["lagged"]
    assert left == 0


def test_update_changes_carry_each_instances_progress() -> None:
    from daybreak.core import updater
    from daybreak.model.update import JobUpdate, UpdatePlan

    plan = UpdatePlan(initial={0: "a", 1: "a"}, desired={0: "b", 1: "b"}, settings=WEB.update)
    update = JobUpdate(update_id="u1", job=WEB.key, created_ms=1, modified_ms=1, plan=plan,
                       progress=updater.start(plan), configs={"a": WEB, "b": WEB})  # fmt: skip

    async def scenario() -> bytes:
        hub = EventHub(TaskSummary.of)

        async def first() -> bytes:
            async for event in hub.follow(lambda key: key == WEB.key):
                assert event is not None and event.kind == "update"
                return event.data
            raise AssertionError("no event")

        follower = asyncio.create_task(first())
        await asyncio.sleep(0)
        hub.publish(Changes(updates={"u1": update, "gone": None}), {})
        return await follower

    data = asyncio.run(scenario())
    assert data.startswith(b'{"update":{"update_id":"u1"')
    assert data.endswith(b'"instances":{"0":"IDLE","1":"IDLE"}}')
