from __future__ import annotations

from dataclasses import replace

import hypothesis.strategies as st
from hypothesis import given, settings

from daybreak.core.cluster import Cluster
from daybreak.core.pruning import prunable
from daybreak.core.reconcile import ReconcilePlan, reconcile
from daybreak.core.settings import Settings
from daybreak.model.task import ScheduledTask, TaskEvent
from daybreak.model.task_state import TERMINAL_STATES, TaskState
from daybreak.model.units import DAY_MS, HOUR_MS
from tests.core.builders import agent, job_spec

S = TaskState
SPEC = job_spec()


def task(
    task_id: str, state: TaskState, agent_id: str | None = "a1", ended: int = 0
) -> ScheduledTask:
    return ScheduledTask(
        task_id=task_id, spec=SPEC, instance=0, state=state, agent_id=agent_id,
        events=(TaskEvent(timestamp_ms=ended, state=state),),
    )  # fmt: skip


def test_reconcile_sorts_tasks_into_relaunched_lost_errant_and_adopted() -> None:
    known = {
        t.task_id: t
        for t in [
            task("running", S.RUNNING),
            task("missing", S.RUNNING),
            task("launched", S.ASSIGNED),
            task("launch_lost", S.ASSIGNED),
            task("over", S.KILLED),
            task("elsewhere", S.RUNNING, agent_id="a2"),
            task("queued", S.PENDING, agent_id=None),
        ]
    }
    reported = {
        "running": S.RUNNING, "launched": S.RUNNING, "over": S.RUNNING,
        "elsewhere": S.RUNNING, "stranger": S.RUNNING, "old": S.FINISHED,
    }  # fmt: skip
    assert reconcile("a1", reported, known) == ReconcilePlan(
        relaunch=("launch_lost",),
        lost=("missing",),
        errant=("elsewhere", "over", "stranger"),
        adopt=(("launched", S.RUNNING),),
    )


def test_history_is_kept_two_days_and_at_least_an_hour() -> None:
    settings = Settings()
    tasks = [task("old", S.FINISHED, ended=0), task("new", S.FAILED, ended=DAY_MS),
             task("live", S.RUNNING, ended=0)]  # fmt: skip
    assert prunable(tasks, 2 * DAY_MS - 1, settings) == []
    assert prunable(tasks, 2 * DAY_MS, settings) == ["old"]
    assert prunable(tasks, 3 * DAY_MS, settings) == ["old", "new"]


def test_beyond_the_per_job_limit_the_oldest_go_but_not_the_youngest() -> None:
    settings = replace(Settings(), history_max_per_job=2)
    tasks = [task(f"t{n}", S.FINISHED, ended=n * HOUR_MS) for n in range(5)]
    # At 4.5 h: t0..t3 are over an hour old; 3 over the limit of 2, oldest first.
    assert prunable(tasks, int(4.5 * HOUR_MS), settings) == ["t0", "t1", "t2"]
    # At 3.5 h only t0..t2 are old enough, though 3 still exceed the limit.
    assert prunable(tasks, int(3.5 * HOUR_MS), settings) == ["t0", "t1", "t2"]
    assert prunable(tasks, int(1.5 * HOUR_MS), settings) == ["t0"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["end", "tick"]), st.sampled_from("abc"),
                  st.integers(0, 3 * HOUR_MS)),
        max_size=40,
    )
)  # fmt: skip
def test_a_cluster_prunes_only_due_jobs_exactly_as_walking_every_job_would(
    steps: list[tuple[str, str, int]],
) -> None:
    """Rounds prune only the jobs whose history grew or whose next prune time came; what is
    left after each round must be what pruning every job every round leaves."""
    rules = replace(Settings(), history_max_per_job=2, history_min_retention_ms=HOUR_MS,
                    history_prune_ms=2 * HOUR_MS)  # fmt: skip
    cluster = Cluster(rules)
    cluster.register_agent(agent("a1", cpu=1000, ram_mb=1 << 30, disk_mb=1 << 30), 0)
    specs = {name: job_spec(name, cpu=0.1, ram_mb=1, disk_mb=1) for name in "abc"}
    now, instance = 0, 0
    for step, name, wait in steps:
        now += wait
        if step == "end":
            cluster.add_instances(specs[name], [instance], now)
            [task_id] = [t.task_id for t in cluster.job_tasks(specs[name].key)
                         if t.instance == instance]  # fmt: skip
            cluster.assign(task_id, 0, {}, now)
            cluster.status_update("a1", task_id, S.FINISHED, now)
            assert cluster.tasks[task_id].state is S.FINISHED
            instance += 1
            continue
        ended = [t for t in cluster.tasks.values() if t.state in TERMINAL_STATES]
        expected = set(cluster.tasks) - {
            task_id
            for spec in specs.values()
            for task_id in prunable([t for t in ended if t.job == spec.key], now, rules)
        }
        cluster.tick(now)
        assert set(cluster.tasks) == expected
