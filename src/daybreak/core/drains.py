"""Draining agents as each job's SLA allows (Aurora's `sla_host_drain`, on the scheduler).

Rules this module owns:

- Each pass (every round) walks the draining agents. A task there leaves (DRAINING, then it is
  placed elsewhere) only if its job's SLA policy holds without it (`daybreak.core.sla`); the
  others wait, each with the reason, until a later pass finds the job can spare it.
- Past the drain's force time (at once for a forced drain) every task leaves regardless.
- An agent drained before drains had terms has none: it is drained as forced.
"""

from __future__ import annotations

from typing import Protocol

from daybreak.core import jobs
from daybreak.core.agents import Agents
from daybreak.core.ready import Ready
from daybreak.core.sla import SlaBudget
from daybreak.model.jobspec import JobKey
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import PLACED_STATES


class SchedulerState(jobs.SchedulerState, Protocol):
    """What drains read and change of the scheduler's state (`daybreak.core.state`): the
    tasks, the agents, and the reasons tasks wait."""

    agents: Agents
    drain_waits: dict[str, dict[str, str]]


def drain_pass(state: SchedulerState, now: int, ready: Ready) -> None:
    draining = state.agents.draining()
    for agent_id in list(state.drain_waits):
        if agent_id not in draining:
            del state.drain_waits[agent_id]
    if not draining:
        return

    def active(key: JobKey) -> list[ScheduledTask]:
        return jobs.active_tasks(state, key)

    budget = SlaBudget(state.settings.sla_rules, active, now)
    leaving: list[str] = []
    for agent_id in draining:
        record = state.agents.get(agent_id)
        request = None if record is None else record.stored.drain
        forced = request is None or now >= request.force_at_ms
        before = state.drain_waits.get(agent_id, {})
        waits: dict[str, str] = {}
        for task in state.cluster.on_agent(agent_id):
            if task.state not in PLACED_STATES:
                continue
            reason = None if forced or request is None else budget.take(task, request.terms)
            if reason is None:
                leaving.append(task.task_id)
                continue
            waits[task.task_id] = reason
            if task.task_id not in before:
                ready.log("drain_waits", agent=agent_id, task=task.task_id, job=task.job,
                          instance=task.instance, reason=reason)  # fmt: skip
        if waits:
            state.drain_waits[agent_id] = waits
        else:
            state.drain_waits.pop(agent_id, None)
    if leaving:
        state.carry(state.cluster.drain_tasks(leaving, now), ready)
