"""The scheduler's HTTP face: the public JSON API under /api/v1, the agents' WebSocket,
/health and /metrics. Handlers only translate: every decision is the scheduler's."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from daybreak import __version__
from daybreak.core.quota import QuotaExceededError
from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model.api import (
    API_PREFIX,
    AgentList,
    JobCreated,
    JobList,
    JobStatus,
    KillRequest,
    Problem,
)
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.scheduler.access import Access, access, guard, require_role
from daybreak.scheduler.gateway import agent_connection
from daybreak.scheduler.security import Security
from daybreak.scheduler.service import (
    JobExistsError,
    JobNotFoundError,
    Scheduler,
)

JOB_PATH = API_PREFIX + "/jobs/{cluster:str}/{role:str}/{environment:str}/{name:str}"

STATUS_OF: tuple[tuple[type[DaybreakError], int], ...] = (
    (JobNotFoundError, 404),
    (JobExistsError, 409),
    (QuotaExceededError, 403),
    (InvalidParameterError, 400),
)


def problem(status: int, error: str) -> Response[Problem]:
    return Response(Problem(error=error, status=status), status_code=status)


def daybreak_error(_: Request[Any, Any, Any], error: DaybreakError) -> Response[Problem]:
    status = next((code for kind, code in STATUS_OF if isinstance(error, kind)), 400)
    return problem(status, error.message)


def invalid_request(_: Request[Any, Any, Any], error: ValidationException) -> Response[Problem]:
    details = "; ".join(
        str(item.get("message", item)) if isinstance(item, dict) else str(item)
        for item in (error.extra if isinstance(error.extra, list) else [error.extra or ""])
    )
    return problem(400, f"{error.detail}: {details}" if details else str(error.detail))


def http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    response = problem(error.status_code, str(error.detail))
    response.headers.update(error.headers or {})
    return response


def job_key(cluster: str, role: str, environment: str, name: str) -> JobKey:
    return JobKey(cluster=cluster, role=role, environment=environment, name=name)


@post(API_PREFIX + "/jobs", status_code=201, opt=access(Access.ROLE))
async def create_job(
    request: Request[Any, Any, Any], data: JobSpec, scheduler: Scheduler
) -> JobCreated:
    """Create a job: its instances go PENDING, then to agents."""
    require_role(request, data.key.role)
    await scheduler.create_job(data)
    return JobCreated(key=data.key, instances=data.instances)


@get(API_PREFIX + "/jobs")
async def list_jobs(scheduler: Scheduler, role: str | None = None) -> JobList:
    """Every job with tasks or a config, and its active tasks by state."""
    return JobList(jobs=tuple(scheduler.job_summaries(role)))


@get(JOB_PATH)
async def job_status(
    cluster: str, role: str, environment: str, name: str, scheduler: Scheduler
) -> JobStatus:
    """A job's config, its active tasks and its finished ones."""
    return scheduler.job_status(job_key(cluster, role, environment, name))


@post(JOB_PATH + "/kill", status_code=200, opt=access(Access.ROLE))
async def kill_job(
    *, cluster: str, role: str, environment: str, name: str, data: KillRequest, scheduler: Scheduler
) -> dict[str, list[str]]:
    """Kill some instances, or all of them (`instances` null)."""
    key = job_key(cluster, role, environment, name)
    killed = await scheduler.kill_job(key, data.instances, data.message)
    return {"killed": killed}


@get(API_PREFIX + "/agents")
async def list_agents(scheduler: Scheduler) -> AgentList:
    """Every agent the scheduler knows, connected or not, with its maintenance mode."""
    return AgentList(agents=tuple(scheduler.agent_summaries()))


@get("/health", media_type=MediaType.TEXT, opt=access(Access.OPEN))
async def health() -> str:
    return "OK"


def create_app(scheduler: Scheduler, security: Security) -> Litestar:
    return Litestar(
        route_handlers=[
            create_job,
            list_jobs,
            job_status,
            kill_job,
            list_agents,
            health,
            agent_connection,
        ],
        dependencies={"scheduler": Provide(lambda: scheduler, sync_to_thread=False)},
        guards=[guard],
        state=State({"security": security}),
        exception_handlers={
            DaybreakError: daybreak_error,
            ValidationException: invalid_request,
            HTTPException: http_error,
        },
        openapi_config=OpenAPIConfig(
            title="Daybreak",
            version=__version__,
            path=API_PREFIX,
            render_plugins=[JsonRenderPlugin()],
        ),
        on_startup=[scheduler.start],
        on_shutdown=[scheduler.stop],
    )
