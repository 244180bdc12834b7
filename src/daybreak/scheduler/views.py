"""What the API shows: read-only projections of the scheduler's in-memory state."""

from __future__ import annotations

from collections.abc import Iterable

from daybreak.core.quota import counts_against_quota
from daybreak.model.agent import MaintenanceMode
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
from daybreak.scheduler.service import JobNotFoundError, Scheduler


def job_status(scheduler: Scheduler, key: JobKey) -> JobStatus:
    tasks = scheduler.cluster.job_tasks(key)
    if not tasks and key not in scheduler.jobs:
        raise JobNotFoundError(key)
    active: list[TaskSummary] = []
    finished: list[TaskSummary] = []
    for task in sorted(tasks, key=lambda t: (t.instance, t.last_event_ms)):
        (finished if task.state in TERMINAL_STATES else active).append(scheduler.summarize(task))
    return JobStatus(
        key=key, spec=scheduler.jobs.get(key), active=tuple(active), finished=tuple(finished)
    )


def job_summaries(scheduler: Scheduler, role: str | None = None) -> list[JobSummary]:
    keys = set(scheduler.jobs) | set(scheduler.cluster.by_job)
    summaries = []
    for key in sorted(keys, key=str):
        if role is not None and key.role != role:
            continue
        states: dict[TaskState, int] = {}
        for task in scheduler.cluster.job_tasks(key):
            if task.state in ACTIVE_STATES:
                states[task.state] = states.get(task.state, 0) + 1
        spec = scheduler.jobs.get(key)
        instances = spec.instances if spec is not None else sum(states.values())
        summaries.append(JobSummary(key=key, instances=instances, states=states))
    return summaries


def agent_summaries(scheduler: Scheduler, hosts: Iterable[str] | None = None) -> list[AgentSummary]:
    """Every agent, or those of `hosts` (agent ids or hostnames)."""
    wanted = None if hosts is None else set(hosts)
    fleet = scheduler.cluster.fleet
    summaries = []
    for agent_id, stored in sorted(scheduler.agents.items()):
        if wanted is not None and not {agent_id, stored.info.hostname} & wanted:
            continue
        row = fleet.index.get(agent_id)
        mode = stored.maintenance if row is None else MaintenanceMode(int(fleet.maintenance[row]))
        summaries.append(
            AgentSummary(
                agent_id=agent_id,
                hostname=stored.info.hostname,
                attributes=stored.info.attributes,
                resources=stored.info.resources,
                online=agent_id in scheduler.links,
                maintenance=mode.name,
                tasks=len(scheduler.cluster.by_row.get(row, ())) if row is not None else 0,
            )
        )
    return summaries


def quota_report(scheduler: Scheduler, role: str) -> QuotaReport:
    production = [0.0, 0.0, 0.0]
    other = [0.0, 0.0, 0.0]
    for task in scheduler.cluster.tasks.values():
        if task.job.role != role or task.state not in ACTIVE_STATES:
            continue
        resources = task.spec.task.resources
        into = production if counts_against_quota(task.spec) else other
        for index, amount in enumerate((resources.cpu, resources.ram_mb, resources.disk_mb)):
            into[index] += amount
    return QuotaReport(
        role=role,
        quota=scheduler.quotas.get(role, Quota()),
        production=Quota(cpu=production[0], ram_mb=production[1], disk_mb=production[2]),
        non_production=Quota(cpu=other[0], ram_mb=other[1], disk_mb=other[2]),
    )


def roles(scheduler: Scheduler) -> list[str]:
    return sorted(set(scheduler.quotas) | {key.role for key in scheduler.cluster.by_job})


def query_tasks(
    scheduler: Scheduler,
    *,
    role: str | None = None,
    environment: str | None = None,
    name: str | None = None,
    states: frozenset[TaskState] | None = None,
    instances: frozenset[int] | None = None,
    limit: int = 1000,
) -> TaskList:
    """Tasks across the cluster, as Aurora's `admin query` found them."""
    keys = sorted(
        (
            key
            for key in scheduler.cluster.by_job
            if (role is None or key.role == role)
            and (environment is None or key.environment == environment)
            and (name is None or key.name == name)
        ),
        key=str,
    )
    found: list[TaskSummary] = []
    for key in keys:
        for task in sorted(
            scheduler.cluster.job_tasks(key), key=lambda t: (t.instance, -t.last_event_ms)
        ):
            if (states is None or task.state in states) and (
                instances is None or task.instance in instances
            ):
                if len(found) == limit:
                    return TaskList(tasks=tuple(found), truncated=True)
                found.append(scheduler.summarize(task))
    return TaskList(tasks=tuple(found))
