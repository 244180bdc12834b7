"""What the API shows: read-only projections of the scheduler's in-memory state."""

from __future__ import annotations

from collections.abc import Iterable

from daybreak.core.quota import Aggregate, consumption, counts_against_quota, per_task
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


def agent_summaries(
    scheduler: Scheduler, agent_ids: Iterable[str] | None = None
) -> list[AgentSummary]:
    """Every agent, or those of `agent_ids` (`Scheduler.agent_ids` resolves hostnames)."""
    wanted = None if agent_ids is None else set(agent_ids)
    fleet = scheduler.cluster.fleet
    summaries = []
    for agent_id, stored in sorted(scheduler.agents.items()):
        if wanted is not None and agent_id not in wanted:
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
    tasks = scheduler.cluster.tasks.values()
    other = Aggregate()
    for task in tasks:
        active = task.job.role == role and task.state in ACTIVE_STATES
        if active and not counts_against_quota(task.spec):
            other += per_task(task.spec)
    return QuotaReport(
        role=role,
        quota=scheduler.quotas.get(role, Quota()),
        production=_quota(consumption(tasks, role)),
        non_production=_quota(other),
    )


def _quota(total: Aggregate) -> Quota:
    return Quota(cpu=total.cpu, ram_mb=total.ram_mb, disk_mb=total.disk_mb)


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
