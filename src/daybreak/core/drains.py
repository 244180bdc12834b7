"""Draining agents as each job's SLA allows (Aurora's `sla_host_drain`, on the scheduler).

Rules this module owns:

- Each pass (every round) walks the draining agents. A task there leaves (DRAINING, then it is
  placed elsewhere) only if its job's SLA policy holds without it (`daybreak.core.sla`); the
  others wait, each with the reason, until a later pass finds the job can spare it.
- A job with a `CoordinatorSlaPolicy` is asked instead: its coordinator is sent one question at
  a time (Aurora's lock per coordinator URL), and the task leaves as soon as the answer is yes.
  A coordinator that says no, or cannot be reached, is asked again after
  `coordinator_retry_ms`. Questions and answers are not stored: a new leader asks again.
- Past the drain's force time (at once for a forced drain) every task leaves regardless.
- An agent drained before drains had terms has none: it is drained as forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from daybreak.core import jobs
from daybreak.core.agents import Agents
from daybreak.core.commands import CoordinatorAnswer
from daybreak.core.ready import CoordinatorAsk, Ready
from daybreak.core.sla import SlaBudget, policy_for
from daybreak.model.agent import DrainRequest
from daybreak.model.jobspec import CoordinatorSlaPolicy, JobKey
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import PLACED_STATES
from daybreak.model.units import duration_text


@dataclass(frozen=True, slots=True)
class Answer:
    allowed: bool
    detail: str
    at_ms: int


@dataclass
class Coordination:
    """The questions out to coordinators, and their last answers."""

    asking: dict[str, str] = field(default_factory=dict)  # coordinator URL -> task id
    answers: dict[str, Answer] = field(default_factory=dict)  # task id -> its last answer


class SchedulerState(jobs.SchedulerState, Protocol):
    """What drains read and change of the scheduler's state (`daybreak.core.state`): the
    tasks, the agents, the reasons tasks wait, and the questions to coordinators."""

    agents: Agents
    drain_waits: dict[str, dict[str, str]]
    coordination: Coordination


def drain_pass(state: SchedulerState, now: int, ready: Ready) -> None:
    draining = state.agents.draining()
    for agent_id in list(state.drain_waits):
        if agent_id not in draining:
            del state.drain_waits[agent_id]
    if not draining:
        state.coordination.answers.clear()
        return

    def active(key: JobKey) -> list[ScheduledTask]:
        return jobs.active_tasks(state, key)

    budget = SlaBudget(state.settings.sla_rules, active, now)
    leaving: list[str] = []
    for agent_id in draining:
        record = state.agents.get(agent_id)
        request = None if record is None else record.stored.drain
        before = state.drain_waits.get(agent_id, {})
        waits: dict[str, str] = {}
        for task in state.cluster.on_agent(agent_id):
            if task.state not in PLACED_STATES:
                continue
            reason = _why_wait(state, budget, task, request=request, now=now, ready=ready)
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
    waiting = {task_id for waits in state.drain_waits.values() for task_id in waits}
    for task_id in state.coordination.answers.keys() - waiting:
        del state.coordination.answers[task_id]
    if leaving:
        state.carry(state.cluster.drain_tasks(leaving, now), ready)


def _why_wait(
    state: SchedulerState,
    budget: SlaBudget,
    task: ScheduledTask,
    *,
    request: DrainRequest | None,
    now: int,
    ready: Ready,
) -> str | None:
    """None if `task` leaves now, else why it waits."""
    if request is None or now >= request.force_at_ms:
        return None
    policy = policy_for(task.spec, request.terms)
    if not isinstance(policy, CoordinatorSlaPolicy):
        return budget.take(task, request.terms)
    coordination = state.coordination
    url = policy.coordinator_url
    answer = coordination.answers.get(task.task_id)
    if answer is not None and answer.allowed:
        return None
    asking = coordination.asking.get(url)
    if asking == task.task_id:
        return f"waiting for the answer of coordinator {url}"
    if asking is not None:
        return f"coordinator {url} is being asked about another task (one question at a time)"
    retry_ms = state.settings.coordinator_retry_ms
    if answer is not None and now - answer.at_ms < retry_ms:
        again = duration_text((answer.at_ms + retry_ms - now + 999) // 1000)
        return f"coordinator {url} {answer.detail}; asking again in {again}"
    coordination.asking[url] = task.task_id
    ready.coordinator_asks.append(
        CoordinatorAsk(task.task_id, url, policy.status_key, request.force_at_ms - now)
    )
    return f"waiting for the answer of coordinator {url}"


def coordinator_answered(
    state: SchedulerState, command: CoordinatorAnswer, now: int, ready: Ready
) -> None:
    """A coordinator's answer: a yes moves the task at once, if it still waits to."""
    coordination = state.coordination
    if coordination.asking.get(command.url) == command.task_id:
        del coordination.asking[command.url]
    coordination.answers[command.task_id] = Answer(command.allowed, command.detail, now)
    ready.log("coordinator_answered", task=command.task_id, coordinator=command.url,
              allowed=command.allowed, detail=command.detail)  # fmt: skip
    drain_pass(state, now, ready)
    ready.wake(now)
