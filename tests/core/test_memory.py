"""The collector's share of a big state: the scheduler holds a record, its events and its
holding for every task, hundreds of thousands of them, and a full cyclic collection used to
walk every one (a second's pause at 100,000 tasks, in the middle of whatever the scheduler was
doing). They are immutable trees that cannot form cycles, so none is tracked: the objects the
collector walks must not grow with the number of tasks."""

from __future__ import annotations

import gc

from daybreak.core.commands import AgentHello, AgentStatus, CreateJob, Tick
from daybreak.core.settings import Settings
from daybreak.core.state import Liveness, SchedulerState
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.jobspec import Resources
from daybreak.model.task_state import TaskState
from tests.core.builders import job_spec


def running(tasks: int) -> SchedulerState:
    state = SchedulerState("west", Settings(placements_per_round=tasks), Liveness(1000, 30_000))
    for number in range(4):
        info = protocol.Hello(
            agent_id=f"a{number}", hostname=f"h{number}", attributes={},
            resources=Resources(cpu=1000, ram_mb=1 << 30, disk_mb=1 << 30),
            ports=PortRange(first=31000, last=31009), inventory={},
        )  # fmt: skip
        state.handle(AgentHello(info, connection=number), 0)
    state.handle(CreateJob(job_spec("big", instances=tasks, cpu=0.1, ram_mb=1, disk_mb=1)), 0)
    seq: dict[str, int] = {}
    for agent_id, message in state.handle(Tick(), 0).sends:
        if isinstance(message, protocol.Launch):
            seq[agent_id] = seq.get(agent_id, 0) + 1
            update = protocol.StatusUpdate(
                seq=seq[agent_id], task_id=message.task_id, state=TaskState.RUNNING,
                timestamp_ms=1,
            )  # fmt: skip
            state.handle(AgentStatus(agent_id, update), 1)
    assert len(state.cluster.by_state[TaskState.RUNNING]) == tasks
    return state


def tracked_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


def test_the_objects_the_collector_walks_do_not_grow_with_the_tasks() -> None:
    before = tracked_objects()
    small = running(10)
    with_small = tracked_objects() - before
    big = running(3000)
    with_big = tracked_objects() - before - with_small
    # 3,000 tasks RUNNING, each with a record, 3 events and a holding: 12,000 objects or
    # more if they were tracked.
    assert with_big < with_small + 300, (with_small, with_big)
    task = next(iter(big.cluster.tasks.values()))
    assert not gc.is_tracked(task) and not gc.is_tracked(task.events[0])
    assert not gc.is_tracked(next(iter(big.cluster.holdings.values())))
    assert small is not big
