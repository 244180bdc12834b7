"""A job's health from its tasks, worked out by hand for each rule and their order."""

from __future__ import annotations

import msgspec
import pytest

from daybreak.model.health import Health, JobHealth, instances_text, job_health
from daybreak.model.jobspec import JobSpec
from daybreak.model.task import ScheduledTask, TaskEvent
from daybreak.model.task_state import TaskState
from daybreak.model.update import JobUpdate, UpdatePlan, UpdateProgress, UpdateStatus
from tests.core.builders import job_spec

S = TaskState
SERVICE = job_spec("web", instances=3, service=True)
BATCH = job_spec("batch", instances=2)


def task(instance: int, state: TaskState, message: str | None = None, *, at: int = 1,
         ancestor: str | None = None, spec: JobSpec = SERVICE) -> ScheduledTask:  # fmt: skip
    return ScheduledTask(
        task_id=f"t{instance}-{at}", spec=spec, instance=instance, state=state,
        events=(TaskEvent(timestamp_ms=at, state=state, message=message),), ancestor_id=ancestor,
    )  # fmt: skip


def update(status: UpdateStatus, message: str | None = None) -> JobUpdate:
    return JobUpdate(
        update_id="u-7", job=SERVICE.key, created_ms=1, modified_ms=2,
        plan=UpdatePlan(initial={}, desired={}, settings=SERVICE.update),
        progress=UpdateProgress(status=status, instances={}, message=message), configs={},
    )  # fmt: skip


def health(
    tasks: list[ScheduledTask], spec: JobSpec | None = SERVICE, **facts: object
) -> JobHealth:
    return job_health(spec, tasks, **facts)  # type: ignore[arg-type]


RUNNING_3 = [task(i, S.RUNNING) for i in range(3)]


def test_every_instance_running_is_healthy() -> None:
    assert health(RUNNING_3) == JobHealth(health=Health.HEALTHY, reason="3 instances running")
    assert not health(RUNNING_3).needs_attention


def test_a_throttled_instance_is_crash_looping_and_says_how_its_last_run_ended() -> None:
    failed = task(1, S.FAILED, "Process main failed: exit status 1", at=1)
    tasks = [task(0, S.RUNNING), failed, task(1, S.THROTTLED, at=2, ancestor=failed.task_id),
             task(2, S.RUNNING)]  # fmt: skip
    assert health(tasks) == JobHealth(
        health=Health.CRASH_LOOPING,
        reason="instance 1 held back for restarting too often; its last run: Process main "
        "failed: exit status 1",
    )


def test_cannot_be_placed_is_told_apart_from_waiting_for_room() -> None:
    tasks = [task(0, S.RUNNING), task(1, S.PENDING), task(2, S.PENDING)]
    never = {"t2-1": "needs gpu 1 where the largest agent has 0"}
    assert health(tasks, never=never.get) == JobHealth(
        health=Health.CANNOT_BE_PLACED,
        reason="instance 2 cannot be placed on any agent: needs gpu 1 where the largest agent "
        "has 0",
    )
    assert health(tasks) == JobHealth(
        health=Health.DEGRADED, reason="1 of 3 instances running; instances 1-2 PENDING"
    )


@pytest.mark.parametrize(
    ("status", "failed"),
    [(UpdateStatus.ROLLED_BACK, True), (UpdateStatus.FAILED, True), (UpdateStatus.ERROR, True),
     (UpdateStatus.ABORTED, False), (UpdateStatus.ROLLED_FORWARD, False),
     (UpdateStatus.ROLLING_FORWARD, False)],
)  # fmt: skip
def test_the_latest_update_failing_is_shown_until_another_update(
    status: UpdateStatus, failed: bool
) -> None:
    shown = health(RUNNING_3, latest_update=update(status, "instance 0 failed"))
    if failed:
        word = status.name.lower().replace("_", " ")
        assert shown == JobHealth(
            health=Health.UPDATE_FAILED, reason=f"update u-7 {word}: instance 0 failed"
        )
    else:
        assert shown.health is Health.HEALTHY


def test_the_rules_go_in_order_crash_looping_first() -> None:
    tasks = [task(0, S.THROTTLED), task(1, S.PENDING), task(2, S.RUNNING)]
    found = health(tasks, never=lambda _: "no agent matches its constraints",
                   latest_update=update(UpdateStatus.ROLLED_BACK))  # fmt: skip
    assert found.health is Health.CRASH_LOOPING
    assert health(tasks[1:], never=lambda _: "no agent matches",
                  latest_update=update(UpdateStatus.ROLLED_BACK)).health is Health.CANNOT_BE_PLACED  # fmt: skip


def test_jobs_with_nothing_active() -> None:
    done = [task(0, S.FINISHED, spec=BATCH), task(1, S.FINISHED, spec=BATCH)]
    assert health(done, BATCH) == JobHealth(health=Health.FINISHED, reason="2 instances ended")
    # The last run of each instance counts: instance 1 failed once, then finished.
    retried = [*done[:1], task(1, S.FAILED, "exit status 2", at=1, spec=BATCH),
               task(1, S.FINISHED, at=5, spec=BATCH)]  # fmt: skip
    assert health(retried, BATCH).health is Health.FINISHED
    failed = [*done[:1], task(1, S.LOST, "Agent unreachable", spec=BATCH)]
    assert health(failed, BATCH) == JobHealth(
        health=Health.FAILED, reason="instance 1 ended LOST: Agent unreachable"
    )
    killed = [task(i, S.KILLED) for i in range(3)]
    assert health(killed, None) == JobHealth(
        health=Health.FINISHED, reason="3 instances ended, 3 killed"
    )
    assert health([], SERVICE).reason == "none of 3 instances running"
    cron = msgspec.structs.replace(BATCH, cron_schedule="0 * * * *")
    assert health(done, cron, next_cron_ms=60_000).health is Health.SCHEDULED


def test_instances_are_written_as_ranges() -> None:
    assert instances_text([3]) == "instance 3"
    assert instances_text([7, 0, 1, 2, 9, 10]) == "instances 0-2, 7, 9-10"
