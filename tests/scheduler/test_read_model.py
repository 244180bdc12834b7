"""The read model follows committed writes: tasks by job and agent, counts by state."""

from __future__ import annotations

import msgspec

from daybreak.core.quota import Aggregate
from daybreak.model.jobspec import Resources
from daybreak.model.records import Changes
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TaskState as S
from daybreak.scheduler.read_model import ReadModel
from tests.core.builders import job_spec

SPEC = job_spec("web")


def task(task_id: str, state: S, agent: str | None = None) -> ScheduledTask:
    return ScheduledTask(task_id=task_id, spec=SPEC, instance=0, state=state, agent_id=agent)


def test_indexes_follow_changes_deletions_and_moves() -> None:
    view = ReadModel()
    view.apply(Changes(tasks={"t1": task("t1", S.PENDING), "t2": task("t2", S.RUNNING, "a1")}))
    assert view.agent_task_count("a1") == 1 and view.state_counts[S.PENDING] == 1
    placed = task("t1", S.ASSIGNED, "a2")
    view.apply(Changes(tasks={"t1": placed, "t2": msgspec.structs.replace(
        task("t2", S.RUNNING, "a1"), state=S.FINISHED)}))  # fmt: skip
    assert view.agent_task_count("a1") == 0 and view.agent_task_count("a2") == 1
    assert (view.state_counts[S.PENDING], view.state_counts[S.ASSIGNED]) == (0, 1)
    assert [t.task_id for t in view.job_tasks(SPEC.key)] == ["t1", "t2"]
    view.apply(Changes(tasks={"t1": None, "t2": None}))
    assert view.job_keys() == [] and view.agent_task_count("a2") == 0
    assert sum(view.state_counts.values()) == 0


def test_what_agents_hold_follows_tasks_exactly() -> None:
    view = ReadModel()
    small = msgspec.structs.replace(SPEC, task=msgspec.structs.replace(
        SPEC.task, resources=Resources(cpu=0.1, ram_mb=64, disk_mb=32)))  # fmt: skip
    tasks = {f"t{n}": ScheduledTask(task_id=f"t{n}", spec=small, instance=n, state=S.RUNNING,
                                    agent_id="a1" if n % 2 else "a2") for n in range(10)}  # fmt: skip
    view.apply(Changes(tasks=dict(tasks)))
    assert view.held("a1") == Aggregate(cpu=0.5, ram_mb=320, disk_mb=160)
    assert view.held() == Aggregate(cpu=1.0, ram_mb=640, disk_mb=320)
    # By role: not production (as the quota counts it), all of it.
    assert view.held_by_role("www", production=False) == view.held()
    assert view.held_by_role("www", production=True) == Aggregate()
    # Pending tasks hold nothing; ended and deleted ones give back exactly what they held.
    ended = {tid: msgspec.structs.replace(t, state=S.FINISHED) for tid, t in tasks.items()}
    view.apply(Changes(tasks={**ended, "t0": None, "p": task("p", S.PENDING)}))
    assert view.held() == Aggregate() and view.held("a9") == Aggregate()
    assert view.held_by_role("www", production=False) == Aggregate()
