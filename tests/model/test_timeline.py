"""A job's timeline: what happened, newest first, one line per kind and cause within a second."""

from __future__ import annotations

from daybreak.model.task import ScheduledTask, TaskEvent
from daybreak.model.task_state import TaskState as S
from daybreak.model.timeline import Happening, job_timeline
from daybreak.model.update import (
    JobUpdate,
    UpdateEvent,
    UpdatePlan,
    UpdateProgress,
    UpdateStatus,
)
from tests.core.builders import job_spec

SPEC = job_spec("web")


def task(task_id: str, instance: int, *events: tuple[int, S, str | None],
         ancestor: str | None = None) -> ScheduledTask:  # fmt: skip
    return ScheduledTask(
        task_id=task_id, spec=SPEC, instance=instance, state=events[-1][1], ancestor_id=ancestor,
        events=tuple(TaskEvent(timestamp_ms=at, state=state, message=words)
                     for at, state, words in events),
    )  # fmt: skip


def test_a_create_is_one_line_and_failures_name_their_cause() -> None:
    tasks = [
        task(f"t{n}", n, (1000 + n, S.PENDING, None), (2000, S.RUNNING, None)) for n in range(10)
    ]
    tasks[3] = task("t3", 3, (1003, S.PENDING, None), (2000, S.RUNNING, None),
                    (9000, S.FAILED, "exit 1"))  # fmt: skip
    tasks.append(task("t3b", 3, (9100, S.PENDING, None), ancestor="t3"))
    tasks.append(task("t7b", 7, (30_000, S.PENDING, None), (30_100, S.LOST, "agent gone")))
    timeline = job_timeline(tasks, [])
    assert [(e.what, e.message) for e in timeline] == [
        ("instance 7 lost", "agent gone"),
        ("instance 7 created", None),  # no ancestor: a new instance, not a retry
        ("instance 3 failed", "exit 1"),
        ("instances 0-9 created", None),
    ]
    assert timeline[2].task_id == "t3" and timeline[2].trouble
    assert not timeline[3].trouble


def test_updates_turns_are_told_with_who_and_why() -> None:
    update = JobUpdate(
        update_id="3fa2c1d0-aaaa", job=SPEC.key, created_ms=5000, modified_ms=8000,
        plan=UpdatePlan(initial={}, desired={}, settings=SPEC.update),
        progress=UpdateProgress(status=UpdateStatus.ROLLED_BACK, instances={}), configs={},
        events=(
            UpdateEvent(timestamp_ms=5000, status=UpdateStatus.ROLLING_FORWARD, user="ann"),
            UpdateEvent(timestamp_ms=8000, status=UpdateStatus.ROLLED_BACK,
                        message="instance 0 failed"),
        ),
    )  # fmt: skip
    timeline = job_timeline([], [update])
    assert [(e.happening, e.status, e.message, e.trouble) for e in timeline] == [
        (Happening.UPDATE, "ROLLED_BACK", "instance 0 failed", True),
        (Happening.UPDATE, "ROLLING_FORWARD", "by ann", False),
    ]
    assert timeline[0].what == "update 3fa2c1d0 ROLLED_BACK"
