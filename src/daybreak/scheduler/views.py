"""What the API shows: read-only projections of the read model (the state as committed)."""

from __future__ import annotations

from collections.abc import Container, Iterable

from daybreak.core import agents, cron
from daybreak.core.jobs import JobNotFoundError
from daybreak.core.quota import Aggregate
from daybreak.errors import DaybreakError
from daybreak.model import health
from daybreak.model.api import (
    AgentSummary,
    DrainWait,
    Endpoint,
    JobStatus,
    JobSummary,
    Quota,
    QuotaReport,
    ServiceEndpoints,
    ServiceInstance,
    TaskList,
    TaskSummary,
)
from daybreak.model.cron import CronJob, CronJobInfo
from daybreak.model.health import JobHealth
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.render import instance_ports
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES, TERMINAL_STATES, TaskState
from daybreak.scheduler.read_model import ReadModel


class UnknownAgentError(DaybreakError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"no agent {agent_id!r}: /agents lists those the scheduler knows")


class RoleNotFoundError(DaybreakError):
    def __init__(self, role: str) -> None:
        super().__init__(f"no role {role!r}: it has no jobs, no history and no quota")


def known_role(view: ReadModel, role: str) -> str:
    """`role`, if anything of it is known; a page of nothing would look like a role at rest."""
    if role not in view.quotas and not any(key.role == role for key in view.job_keys()):
        raise RoleNotFoundError(role)
    return role


def job_spec(view: ReadModel, key: JobKey) -> JobSpec | None:
    """The job's config, or its cron template."""
    spec = view.jobs.get(key)
    if spec is None and key in view.cron:
        return view.cron[key].spec
    return spec


def job_status(view: ReadModel, key: JobKey) -> JobStatus:
    tasks = view.job_tasks(key)
    spec = job_spec(view, key)
    if not tasks and spec is None:
        raise JobNotFoundError(key)
    active: list[TaskSummary] = []
    finished: list[TaskSummary] = []
    for task in sorted(tasks, key=lambda t: (t.instance, t.last_event_ms)):
        (finished if task.state in TERMINAL_STATES else active).append(view.summarize(task))
    return JobStatus(key=key, spec=spec, active=tuple(active), finished=tuple(finished),
                     health=job_health(view, key, tasks))  # fmt: skip


def next_cron_run_ms(view: ReadModel, key: JobKey) -> int | None:
    record = view.cron.get(key)
    return None if record is None else cron.next_run_ms(record, view.cron_zone)


def job_health(view: ReadModel, key: JobKey, tasks: list[ScheduledTask] | None = None) -> JobHealth:
    """The job's health (`daybreak.model.health`), from what the read model holds."""
    updates = view.job_updates(key)

    def never(task_id: str) -> str | None:
        reason = view.pending_reason(task_id)
        return None if reason is None else reason.never

    return health.job_health(
        job_spec(view, key),
        view.job_tasks(key) if tasks is None else tasks,
        latest_update=updates[0] if updates else None,
        next_cron_ms=next_cron_run_ms(view, key),
        never=never,
    )


def job_summaries(view: ReadModel, role: str | None = None) -> list[JobSummary]:
    summaries = []
    for key in view.job_keys():
        if role is not None and key.role != role:
            continue
        states: dict[TaskState, int] = {}
        tasks = view.job_tasks(key)
        for task in tasks:
            if task.state in ACTIVE_STATES:
                states[task.state] = states.get(task.state, 0) + 1
        spec = job_spec(view, key)
        instances = spec.instances if spec is not None else sum(states.values())
        cron = view.cron.get(key)
        summaries.append(
            JobSummary(
                key=key, instances=instances, states=states,
                cron_schedule=None if cron is None else cron.spec.cron_schedule,
                health=job_health(view, key, tasks),
            )
        )  # fmt: skip
    return summaries


def service_endpoints(view: ReadModel, key: JobKey) -> ServiceEndpoints:
    """The job's instances that take traffic: RUNNING (and so healthy: an agent reports RUNNING
    once the health check passes), with the host and named ports of each. An instance leaves
    the list as it is marked to be killed, which is committed before the kill goes out."""
    tasks = view.job_tasks(key)
    if not tasks and job_spec(view, key) is None:
        raise JobNotFoundError(key)
    members = []
    for task in sorted(tasks, key=lambda t: t.instance):
        if task.state is not TaskState.RUNNING or task.hostname is None:
            continue
        host = task.hostname
        ports = instance_ports(task.spec, task.ports)
        primary = None if task.spec.announce is None else task.spec.announce.primary_port
        members.append(
            ServiceInstance(
                instance=task.instance,
                task_id=task.task_id,
                host=host,
                service_endpoint=(
                    Endpoint(host=host, port=ports[primary]) if primary in ports else None
                ),
                additional_endpoints={
                    name: Endpoint(host=host, port=port) for name, port in sorted(ports.items())
                },
            )
        )
    return ServiceEndpoints(job=key, instances=tuple(members))


NEXT_CRON_RUNS = 5


def cron_info(view: ReadModel, record: CronJob, now: int) -> CronJobInfo:
    spec = record.spec
    schedule = spec.cron_schedule
    assert schedule is not None  # a cron template has a schedule
    zone = view.cron_zone
    return CronJobInfo(
        key=spec.key,
        schedule=schedule,
        explanation=cron.explain(schedule),
        time_zone=str(zone),
        collision_policy=spec.cron_collision_policy,
        instances=spec.instances,
        scheduled_ms=record.scheduled_ms,
        next_runs_ms=cron.upcoming_ms(
            schedule, max(now, record.last_trigger_ms), zone, NEXT_CRON_RUNS
        ),
        runs=record.runs,
        spec=spec,
    )


def cron_job(view: ReadModel, key: JobKey, now: int) -> CronJobInfo:
    record = view.cron.get(key)
    if record is None:
        raise cron.NotCronError(key)
    return cron_info(view, record, now)


def cron_jobs(view: ReadModel, now: int, role: str | None = None) -> list[CronJobInfo]:
    return [
        cron_info(view, record, now)
        for key, record in sorted(view.cron.items(), key=lambda item: str(item[0]))
        if role is None or key.role == role
    ]


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
                drain=stored.drain,
                drain_waits=drain_waits(view, agent_id),
                version=stored.info.version,
            )
        )
    return summaries


def drain_waits(view: ReadModel, agent_id: str) -> tuple[DrainWait, ...]:
    waits = []
    for task_id, reason in view.drain_waits(agent_id).items():
        task = view.tasks.get(task_id)
        if task is not None:
            waits.append(DrainWait(task_id=task_id, job=str(task.job), instance=task.instance,
                                   reason=reason))  # fmt: skip
    return tuple(sorted(waits, key=lambda wait: (wait.job, wait.instance)))


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
        production_running=_quota(view.held_by_role(role, production=True)),
        non_production_running=_quota(view.held_by_role(role, production=False)),
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
