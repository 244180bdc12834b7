"""Reconciliation: comparing what an agent says it runs with what the scheduler believes.

When an agent (re)connects it reports every task it has. Four kinds of difference:
- *relaunch*: a task ASSIGNED to this agent that it does not have: its launch went with a
  connection that closed, or with a scheduler that stopped after storing it and before sending
  it (a failover). It is sent again; the transient timeout still bounds it;
- *lost*: the scheduler has a task started on this agent and the agent does not have it;
- *errant*: the agent runs a task the scheduler does not know, considers over, or placed
  elsewhere; it must be killed;
- *adopt*: both know the task but disagree on its state; the agent's report goes through the
  state machine like any status update (which may in turn legitimately refuse it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import AGENT_ASSIGNED_STATES, TERMINAL_STATES, TaskState


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    relaunch: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    errant: tuple[str, ...] = ()
    adopt: tuple[tuple[str, TaskState], ...] = ()


def reconcile(
    agent_id: str,
    reported: Mapping[str, TaskState],
    known: Mapping[str, ScheduledTask],
) -> ReconcilePlan:
    """`known` holds the scheduler's tasks by id (all of them, or at least every task placed on
    this agent and every task the agent reports)."""
    errant: list[str] = []
    adopt: list[tuple[str, TaskState]] = []
    for task_id, state in sorted(reported.items()):
        task = known.get(task_id)
        if task is None or task.agent_id != agent_id or task.state in TERMINAL_STATES:
            # Not ours to run here: kill it if it is alive; a report of its end changes nothing.
            if state in AGENT_ASSIGNED_STATES:
                errant.append(task_id)
        elif task.state != state:
            adopt.append((task_id, state))
    mine: Iterable[ScheduledTask] = (
        task for task in known.values()
        if task.agent_id == agent_id and task.state in AGENT_ASSIGNED_STATES
    )  # fmt: skip
    missing = [task for task in mine if task.task_id not in reported]
    relaunch = sorted(task.task_id for task in missing if task.state is TaskState.ASSIGNED)
    lost = sorted(task.task_id for task in missing if task.state is not TaskState.ASSIGNED)
    return ReconcilePlan(tuple(relaunch), tuple(lost), tuple(errant), tuple(adopt))
