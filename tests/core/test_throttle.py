from __future__ import annotations

from daybreak.core.cluster import Cluster
from daybreak.core.throttle import FlappingPolicy, flapped, flapping_penalty_ms
from daybreak.model.task import ScheduledTask, TaskEvent
from daybreak.model.task_state import TaskState as S
from tests.core.builders import job_spec

SPEC = job_spec()
POLICY = FlappingPolicy()
SECOND = 1000


def run(task_id: str, *states: tuple[S, int], ancestor: str | None = None) -> ScheduledTask:
    """A task whose history is (state, seconds) pairs."""
    events = tuple(TaskEvent(timestamp_ms=at * SECOND, state=state) for state, at in states)
    return ScheduledTask(
        task_id=task_id, spec=SPEC, instance=0, state=events[-1].state, events=events,
        ancestor_id=ancestor,
    )  # fmt: skip


def short_run(task_id: str, ancestor: str | None = None, *, end: S = S.FAILED) -> ScheduledTask:
    return run(
        task_id, (S.PENDING, 0), (S.ASSIGNED, 1), (S.RUNNING, 2), (end, 12), ancestor=ancestor
    )


def test_a_run_that_dies_within_the_threshold_flapped() -> None:
    assert flapped(short_run("a"), POLICY)
    assert flapped(short_run("a", end=S.FINISHED), POLICY)
    assert flapped(
        run("a", (S.PENDING, 0), (S.RUNNING, 1), (S.PREEMPTING, 5), (S.KILLED, 6)), POLICY
    )  # preemption is not an exemption, as in Aurora


def test_long_runs_interruptions_and_active_tasks_did_not_flap() -> None:
    assert not flapped(run("a", (S.PENDING, 0), (S.RUNNING, 1), (S.FAILED, 302)), POLICY)
    for interruption in (S.KILLING, S.RESTARTING, S.DRAINING):
        assert not flapped(
            run("a", (S.PENDING, 0), (S.RUNNING, 1), (interruption, 2), (S.KILLED, 3)), POLICY
        )
    # Its agent went silent a second in: the machine failed, not the task.
    assert not flapped(
        run("a", (S.PENDING, 0), (S.RUNNING, 1), (S.PARTITIONED, 2), (S.LOST, 2)), POLICY
    )
    assert not flapped(run("a", (S.PENDING, 0), (S.RUNNING, 1)), POLICY)


def test_the_run_is_measured_from_its_start_not_from_a_late_partition_or_preemption() -> None:
    """Aurora measured from the last active event, so a long run that lost its agent flapped."""
    long_then_lost = run(
        "a", (S.PENDING, 0), (S.ASSIGNED, 1), (S.RUNNING, 2), (S.PARTITIONED, 900), (S.LOST, 900)
    )
    assert not flapped(long_then_lost, POLICY)
    long_then_preempted = run("a", (S.RUNNING, 1), (S.PREEMPTING, 900), (S.KILLED, 901))
    assert not flapped(long_then_preempted, POLICY)
    never_healthy = run("a", (S.PENDING, 0), (S.ASSIGNED, 1), (S.STARTING, 2), (S.FAILED, 60))
    assert flapped(never_healthy, POLICY)


def chain(length: int) -> dict[str, ScheduledTask]:
    tasks = {"t0": short_run("t0")}
    for index in range(1, length):
        tasks[f"t{index}"] = short_run(f"t{index}", ancestor=f"t{index - 1}")
    return tasks


def penalty_after(length: int, tasks: dict[str, ScheduledTask] | None = None) -> int:
    tasks = tasks if tasks is not None else chain(length)
    new = ScheduledTask(
        task_id="new", spec=SPEC, instance=0, state=S.INIT, ancestor_id=f"t{length - 1}"
    )
    return flapping_penalty_ms(new, tasks.get, POLICY)


def test_penalty_doubles_along_the_ancestor_chain_up_to_the_maximum() -> None:
    penalties = [penalty_after(n) for n in range(1, 9)]
    assert 30 * SECOND <= penalties[0] < 37.5 * SECOND
    assert 60 * SECOND <= penalties[1] < 2 * 37.5 * SECOND * 1.25
    assert penalties == sorted(penalties)
    assert penalties[-1] == penalties[-2] == 5 * 60 * SECOND


def test_chain_ends_at_a_healthy_run_or_a_pruned_one() -> None:
    assert penalty_after(0, {}) == 0  # ancestor pruned from history
    tasks = chain(3)
    tasks["t1"] = run("t1", (S.PENDING, 0), (S.RUNNING, 1), (S.FAILED, 999), ancestor="t0")
    assert penalty_after(3, tasks) == penalty_after(1)
    new = ScheduledTask(task_id="new", spec=SPEC, instance=0, state=S.INIT)
    assert flapping_penalty_ms(new, tasks.get) == 0  # a first run


def test_same_history_same_penalty() -> None:
    assert penalty_after(4) == penalty_after(4)


def test_a_penalty_carries_on_after_a_restart_or_takeover() -> None:
    """The deadline is judged again from the same history: not ended (Daybreak's first round
    ended every penalty at a restart), not started over."""
    tasks = chain(3)
    throttled = ScheduledTask(
        task_id="new", spec=SPEC, instance=0, state=S.THROTTLED, ancestor_id="t2",
        events=(TaskEvent(timestamp_ms=20 * SECOND, state=S.THROTTLED),),
    )  # fmt: skip
    penalty = flapping_penalty_ms(throttled, tasks.get, POLICY)
    cluster = Cluster()
    cluster.restore([], [*tasks.values(), throttled])  # restored 5 s after it was throttled
    assert cluster.throttled_until["new"] == 20 * SECOND + penalty
    assert cluster.tick(20 * SECOND + penalty - 1) == []
    cluster.tick(20 * SECOND + penalty)
    assert cluster.tasks["new"].state is S.PENDING
