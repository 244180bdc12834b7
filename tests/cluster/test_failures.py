"""What goes wrong in a cluster: a scheduler restart, a lost agent, an errant task."""

from __future__ import annotations

import signal
import time

import psutil

from daybreak.model.jobspec import JobSpec
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import LocalCluster, wait_for


def waiter_pids(cluster: LocalCluster, spec: JobSpec) -> dict[str, int]:
    """The waiter process of each running task, as its agent's checkpoint records it."""
    from daybreak.agent.executor.checkpoint import read_checkpoint

    pids = {}
    for task in cluster.status(spec.key).active:
        agent = next(a for a in cluster.agents if a.work_dir.name == task.agent_id)
        view = read_checkpoint(agent.task_dir(task.task_id) / "checkpoint")
        [(_, run)] = view.live_runs()
        pids[task.task_id] = run.pid
    return pids


def test_a_scheduler_restart_loses_nothing_and_restarts_no_task(cluster: LocalCluster) -> None:
    spec = cluster.job(instances=3)
    cluster.create(spec)
    before = cluster.wait_for_states(spec.key, TaskState.RUNNING, 3)
    waiters = waiter_pids(cluster, spec)

    cluster.scheduler.kill9()
    cluster.scheduler.start()
    names = [agent.work_dir.name for agent in cluster.agents]
    wait_for(lambda: all(cluster.online(name) for name in names), "the agents back")

    after = cluster.status(spec.key)
    assert [(t.task_id, t.state) for t in after.active] == [
        (t.task_id, t.state) for t in before.active
    ]
    assert after.spec == spec
    assert all(psutil.pid_exists(pid) for pid in waiters.values())
    # And it still acts: a kill after the restart reaches the agents.
    cluster.api.post(f"/jobs/{spec.key}/kill", json={})
    cluster.wait_for_states(spec.key, TaskState.KILLED, 3)


def test_a_silent_agent_has_its_tasks_lost_and_placed_elsewhere(cluster: LocalCluster) -> None:
    spec = cluster.job(instances=2)
    cluster.create(spec)
    status = cluster.wait_for_states(spec.key, TaskState.RUNNING, 2)
    victim = status.active[0].agent_id
    agent = next(a for a in cluster.agents if a.work_dir.name == victim)
    agent.kill9()

    status = cluster.wait_for_states(spec.key, TaskState.LOST, 1)
    lost = next(t for t in status.finished if t.state is TaskState.LOST)
    assert lost.agent_id == victim
    assert [(e.state, e.message) for e in lost.events[-2:]] == [
        (TaskState.PARTITIONED, "Agent unreachable"),
        (TaskState.LOST, "Partitioned past the job's partition policy"),
    ]

    def replaced() -> bool:
        running = [t for t in cluster.status(spec.key).active if t.state is TaskState.RUNNING]
        return len(running) == 2 and all(t.agent_id != victim for t in running)

    wait_for(replaced, "both instances running away from the lost agent")


def test_a_task_the_scheduler_gave_up_on_is_killed_when_its_agent_returns(
    cluster: LocalCluster,
) -> None:
    spec = cluster.job(instances=1)
    cluster.create(spec)
    [task] = cluster.wait_for_states(spec.key, TaskState.RUNNING, 1).active
    agent = next(a for a in cluster.agents if a.work_dir.name == task.agent_id)
    [waiter] = waiter_pids(cluster, spec).values()

    agent.kill9()  # its task keeps running, unknown to anyone
    cluster.wait_for_states(spec.key, TaskState.LOST, 1)
    agent.start()  # back, reporting the task the scheduler gave up on

    psutil.Process(waiter).wait(10)
    statuses = cluster.status(spec.key)
    assert any(t.task_id == task.task_id and t.state is TaskState.LOST for t in statuses.finished)


def test_a_scheduler_paused_past_the_agent_timeout_loses_no_task(cluster: LocalCluster) -> None:
    """Every agent looks silent to a scheduler that was paused (SIGSTOP) longer than the
    timeout: that is a disruption on its side, and no task is given up."""
    spec = cluster.job(instances=2)
    cluster.create(spec)
    before = cluster.wait_for_states(spec.key, TaskState.RUNNING, 2)
    process = cluster.scheduler.process
    assert process is not None
    process.send_signal(signal.SIGSTOP)
    time.sleep(8)  # past the harness's 3 s agent timeout, and the agents' pings
    process.send_signal(signal.SIGCONT)
    names = [agent.work_dir.name for agent in cluster.agents]
    wait_for(lambda: all(cluster.online(name) for name in names), "the agents back")
    after = cluster.status(spec.key)
    assert [(t.task_id, t.state) for t in after.active] == [
        (t.task_id, t.state) for t in before.active
    ]
    assert not any(t.state is TaskState.LOST for t in after.finished)
