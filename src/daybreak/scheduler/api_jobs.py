"""The API's job and task routes: create, read and kill jobs; find tasks across jobs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Request, get, post

from daybreak.core.commands import AddInstances, CreateJob, KillJob, RestartInstances
from daybreak.errors import InvalidParameterError
from daybreak.model.api import (
    API_PREFIX,
    AddRequest,
    InstancesAdded,
    JobCreated,
    JobList,
    JobStatus,
    KillRequest,
    KillResult,
    RestartRequest,
    RestartResult,
    TaskList,
)
from daybreak.model.jobkey import parse_instance_ranges
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task_state import TaskState
from daybreak.scheduler import views
from daybreak.scheduler.access import Access, access, require_role
from daybreak.scheduler.service import Scheduler

JOB_PATH = API_PREFIX + "/jobs/{cluster:str}/{role:str}/{environment:str}/{name:str}"


def job_key(cluster: str, role: str, environment: str, name: str) -> JobKey:
    return JobKey(cluster=cluster, role=role, environment=environment, name=name)


@post(API_PREFIX + "/jobs", status_code=201, opt=access(Access.ROLE))
async def create_job(
    request: Request[Any, Any, Any], data: JobSpec, scheduler: Scheduler
) -> JobCreated:
    """Create a job: its instances go PENDING, then to agents."""
    require_role(request, data.key.role)
    await scheduler.ask(CreateJob(data))
    return JobCreated(key=data.key, instances=data.instances)


@get(API_PREFIX + "/jobs")
async def list_jobs(scheduler: Scheduler, role: str | None = None) -> JobList:
    """Every job with tasks or a config, and its active tasks by state."""
    return JobList(jobs=tuple(views.job_summaries(scheduler.view, role)))


@get(JOB_PATH)
async def job_status(
    cluster: str, role: str, environment: str, name: str, scheduler: Scheduler
) -> JobStatus:
    """A job's config, its active tasks and its finished ones."""
    return views.job_status(scheduler.view, job_key(cluster, role, environment, name))


@post(JOB_PATH + "/kill", status_code=200, opt=access(Access.ROLE))
async def kill_job(
    *, cluster: str, role: str, environment: str, name: str, data: KillRequest, scheduler: Scheduler
) -> KillResult:
    """Kill some instances, or all of them (`instances` null)."""
    key = job_key(cluster, role, environment, name)
    killed = await scheduler.ask(KillJob(key, _instances(data.instances), data.message))
    return KillResult(killed=tuple(killed))


@post(JOB_PATH + "/restart", status_code=200, opt=access(Access.ROLE))
async def restart_job(
    *, cluster: str, role: str, environment: str, name: str, data: RestartRequest,
    scheduler: Scheduler,
) -> RestartResult:  # fmt: skip
    """Restart running instances (all with `instances` null): each is killed and comes back as
    a new task with the same config. A rolling restart calls this a batch at a time."""
    key = job_key(cluster, role, environment, name)
    restarted = await scheduler.ask(RestartInstances(key, _instances(data.instances), data.message))
    return RestartResult(restarted=tuple(restarted))


@post(JOB_PATH + "/instances", status_code=200, opt=access(Access.ROLE))
async def add_instances(
    *, cluster: str, role: str, environment: str, name: str, data: AddRequest,
    scheduler: Scheduler,
) -> InstancesAdded:  # fmt: skip
    """Add `count` instances of the job's config (quota permitting)."""
    key = job_key(cluster, role, environment, name)
    added = await scheduler.ask(AddInstances(key, data.count))
    return InstancesAdded(key=key, instances=tuple(added))


def _instances(instances: Iterable[int] | None) -> tuple[int, ...] | None:
    return None if instances is None else tuple(instances)


def _states(text: str | None) -> frozenset[TaskState] | None:
    if not text:
        return None
    try:
        return frozenset(TaskState[word.strip().upper()] for word in text.split(","))
    except KeyError as error:
        known = ", ".join(state.name for state in TaskState)
        raise InvalidParameterError(f"unknown task state {error}; states are: {known}") from None


@get(API_PREFIX + "/tasks")
async def query_tasks(
    *,
    scheduler: Scheduler,
    role: str | None = None,
    environment: str | None = None,
    name: str | None = None,
    states: str | None = None,
    instances: str | None = None,
    limit: int = 1000,
) -> TaskList:
    """Tasks across jobs, filtered: `states=RUNNING,PENDING`, `instances=0-3,7`."""
    return views.query_tasks(
        scheduler.view,
        role=role,
        environment=environment,
        name=name,
        states=_states(states),
        instances=None if not instances else parse_instance_ranges(instances),
        limit=limit,
    )


ROUTES = (
    create_job, list_jobs, job_status, kill_job, restart_job, add_instances, query_tasks,
)  # fmt: skip
