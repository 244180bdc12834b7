"""`kill -9` of the agent costs its tasks nothing, and no status update is lost or doubled."""

from __future__ import annotations

from pathlib import Path

import psutil

from daybreak.agent.executor.checkpoint import read_checkpoint
from daybreak.model.jobspec import Process
from daybreak.model.task_state import TaskState
from tests.agent.conftest import AgentProcess, job
from tests.agent.fake_scheduler import WAIT_S, FakeScheduler


def waiter_pid(agent: AgentProcess, task_id: str) -> int:
    view = read_checkpoint(agent.task_dir(task_id) / "checkpoint")
    [(_, run)] = view.live_runs()
    return run.pid


def test_tasks_outlive_the_agent_and_exits_meanwhile_are_reported_with_their_status(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    steady, quitter = f"{task_prefix}-steady", f"{task_prefix}-quitter"
    scheduler.launch(steady, job(Process(name="main", cmdline="exec sleep 1000")))
    quit_later = "until [ -e go ]; do sleep 0.02; done; exit 7"
    scheduler.launch(quitter, job(Process(name="main", cmdline=quit_later)))
    scheduler.wait_for_state(steady, TaskState.RUNNING)
    scheduler.wait_for_state(quitter, TaskState.RUNNING)
    steady_waiter = waiter_pid(agent, steady)
    quitter_waiter = psutil.Process(waiter_pid(agent, quitter))

    agent.kill9()
    (agent.task_dir(quitter) / "sandbox" / "go").touch()
    quitter_waiter.wait(WAIT_S)  # the task ends while no agent is watching
    agent.start()

    hello = scheduler.wait_for_hello(2)
    assert hello.inventory[steady] == TaskState.RUNNING
    failed = scheduler.wait_for_state(quitter, TaskState.FAILED)
    assert failed.message == "Process 'main' failed 1 time(s); last run exit status 7"
    assert psutil.Process(steady_waiter).is_running()
    assert scheduler.states(steady) == [TaskState.RUNNING]  # running at once: no STARTING

    scheduler.kill(steady)
    scheduler.wait_for_state(steady, TaskState.KILLED)
    psutil.Process(steady_waiter).wait(WAIT_S)


def test_unacknowledged_updates_are_sent_again_with_the_same_numbers(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-quick"
    scheduler.acknowledge = False
    scheduler.launch(task_id, job(Process(name="main", cmdline="true")))
    scheduler.wait_for_state(task_id, TaskState.FINISHED)
    first_delivery = [(u.seq, u.state) for u in scheduler.updates]

    agent.kill9()
    scheduler.acknowledge = True
    scheduler.updates.clear()
    agent.start()
    scheduler.wait_for_state(task_id, TaskState.FINISHED)
    assert [(u.seq, u.state) for u in scheduler.updates] == first_delivery

    # Acknowledged now: a third agent has nothing to send again.
    agent.stop()
    scheduler.updates.clear()
    agent.start()
    scheduler.wait_for_hello(3)
    assert scheduler.hellos[2].inventory == {task_id: TaskState.FINISHED}
    outbox = Path(agent.work_dir / "outbox")
    # Emptied once the scheduler's welcome says that everything in it was applied.
    scheduler.wait_until(lambda: outbox.read_bytes() == b"", "the outbox emptied")
    # The backlog goes out before anything new, so once a new update arrives, none came first.
    scheduler.launch(f"{task_id}-next", job(Process(name="main", cmdline="true")))
    scheduler.wait_for_state(f"{task_id}-next", TaskState.RUNNING)
    assert scheduler.updates[0].task_id == f"{task_id}-next"
