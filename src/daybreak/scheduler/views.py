"""What the API shows: read-only projections of the read model (the state as committed)."""

from __future__ import annotations

from collections.abc import Container, Iterable

from daybreak.core import agents
from daybreak.core.jobs import JobNotFoundError
from daybreak.core.quota import Aggregate
from daybreak.errors import DaybreakError
from daybreak.model.api import (
    AgentSummary,
    JobStatus,
    JobSummary,
    Quota,
    QuotaReport,
    TaskList,
    TaskSummary,
)
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import ACTIVE_STATES, TERMINAL_STATES, TaskState
from daybreak.scheduler.read_model import ReadModel


class RoleNotFoundError(DaybreakError):
    def __init__(self, role: str) -> None:
        super().__init__(f"no role {role!r}: it has no jobs, no history and no quota")


def known_role(view: ReadModel, role: str) -> str:
    """`role`, if anything of it is known; a page of nothing would look like a role at rest."""
    if role not in view.quotas and not any(key.role == role for key in view.job_keys()):
        raise RoleNotFoundError(role)
    return role


def job_status(view: ReadModel, key: JobKey) -> JobStatus:
    tasks = view.job_tasks(key)
    if not tasks and key not in view.jobs:
        raise JobNotFoundError(key)
    active: list[TaskSummary] = []
    finished: list[TaskSummary] = []
    for task in sorted(tasks, key=lambda t: (t.instance, t.last_event_ms)):
        (finished if task.state in TERMINAL_STATES else active).append(view.summarize(task))
    return JobStatus(
        key=key, spec=view.jobs.get(key), active=tuple(active), finished=tuple(finished)
    )


def job_summaries(view: ReadModel, role: str | None = None) -> list[JobSummary]:
    summaries = []
    for key in view.job_keys():
        if role is not None and key.role != role:
            continue
        states: dict[TaskState, int] = {}
        for task in view.job_tasks(key):
            if task.state in ACTIVE_STATES:
                states[task.state] = states.get(task.state, 0) + 1
        spec = view.jobs.get(key)
        instances = spec.instances if spec is not None else sum(states.values())
        summaries.append(JobSummary(key=key, instances=instances, states=states))
    return summaries


def agent_summaries(view: ReadModel, agent_ids: Iterable[str] | None = None) -> list[AgentSummary]:
    """Every agent, or those of `agent_ids` (`agent_ids` resolves hostnames)."""
    wanted = None if agent_ids is None else set(agent_ids)
    summaries = []
    for agent_id, stored in sorted(view.agents.items()):
        if wanted is not None and agent_id not in wanted:
            continue
        summaries.append(
            AgentSummary(
                agent_id=agent_id,
                hostname=stored.info.hostname,
                attributes=stored.info.attributes,
                resources=stored.info.resources,
                online=view.online(agent_id),
                maintenance=stored.maintenance.name,
                tasks=view.agent_task_count(agent_id),
            )
        )
    return summaries


def agent_ids(view: ReadModel, hosts: Iterable[str]) -> list[str]:
    """The agents named by `hosts`, each an agent id or a hostname."""
    hostnames = {stored.info.hostname: agent_id for agent_id, stored in view.agents.items()}
    return agents.agent_ids(view.agents.keys(), hostnames, hosts)


def quota_report(view: ReadModel, role: str) -> QuotaReport:
    return QuotaReport(
        role=role,
        quota=view.quotas.get(role, Quota()),
        production=_quota(view.quota_use.of_role(role)),
        non_production=_quota(view.quota_use.of_role(role, production=False)),
    )


def _quota(total: Aggregate) -> Quota:
    return Quota(cpu=total.cpu, ram_mb=total.ram_mb, disk_mb=total.disk_mb)


def query_tasks(
    view: ReadModel,
    *,
    role: str | None = None,
    environment: str | None = None,
    name: str | None = None,
    states: frozenset[TaskState] | None = None,
    instances: Container[int] | None = None,
    limit: int = 1000,
) -> TaskList:
    """Tasks across the cluster, as Aurora's `admin query` found them."""
    keys = [
        key
        for key in view.job_keys()
        if (role is None or key.role == role)
        and (environment is None or key.environment == environment)
        and (name is None or key.name == name)
    ]
    found: list[TaskSummary] = []
    for key in keys:
        for task in sorted(view.job_tasks(key), key=lambda t: (t.instance, -t.last_event_ms)):
            if (states is None or task.state in states) and (
                instances is None or task.instance in instances
            ):
                if len(found) == limit:
                    return TaskList(tasks=tuple(found), truncated=True)
                found.append(view.summarize(task))
    return TaskList(tasks=tuple(found))
