"""The API's operator routes: agents and their maintenance, quotas, backup and restore."""

from __future__ import annotations

from litestar import MediaType, Response, get, post, put

from daybreak.errors import InvalidParameterError
from daybreak.model.agent import MaintenanceMode
from daybreak.model.api import (
    API_PREFIX,
    AgentList,
    MaintenanceRequest,
    Quota,
    QuotaList,
    QuotaReport,
    RestoreResult,
)
from daybreak.scheduler import views
from daybreak.scheduler.access import Access, access
from daybreak.scheduler.service import Scheduler

SETTABLE_MODES = ("NONE", "SCHEDULED", "DRAINING")


@get(API_PREFIX + "/agents")
async def list_agents(scheduler: Scheduler, hosts: str | None = None) -> AgentList:
    """Every agent the scheduler knows (or those of `hosts=a,b`), connected or not, with its
    maintenance mode."""
    wanted = None if not hosts else scheduler.agent_ids(hosts.split(","))
    return AgentList(agents=tuple(views.agent_summaries(scheduler, wanted)))


@post(API_PREFIX + "/maintenance", status_code=200, opt=access(Access.ADMIN))
async def set_maintenance(data: MaintenanceRequest, scheduler: Scheduler) -> AgentList:
    """Drain hosts (their tasks move elsewhere, then DRAINED), deactivate them (SCHEDULED:
    used last) or return them to service (NONE)."""
    if data.mode not in SETTABLE_MODES:
        raise InvalidParameterError(
            f"mode {data.mode!r} cannot be set; use one of {', '.join(SETTABLE_MODES)}"
        )
    agent_ids = await scheduler.set_maintenance(data.hosts, MaintenanceMode[data.mode])
    return AgentList(agents=tuple(views.agent_summaries(scheduler, agent_ids)))


@get(API_PREFIX + "/quotas")
async def list_quotas(scheduler: Scheduler) -> QuotaList:
    """Every role with a quota or tasks: its quota and what it uses."""
    return QuotaList(
        quotas=tuple(views.quota_report(scheduler, role) for role in views.roles(scheduler))
    )


@get(API_PREFIX + "/quotas/{role:str}")
async def get_quota(role: str, scheduler: Scheduler) -> QuotaReport:
    """A role's quota, and what its production and other tasks hold."""
    return views.quota_report(scheduler, role)


@put(API_PREFIX + "/quotas/{role:str}", opt=access(Access.ADMIN))
async def set_quota(role: str, data: Quota, scheduler: Scheduler) -> QuotaReport:
    """Set a role's production quota (it replaces the old one, as Aurora's setQuota did)."""
    if min(data.cpu, data.ram_mb, data.disk_mb) < 0:
        raise InvalidParameterError("a quota cannot be negative")
    await scheduler.set_quota(role, data)
    return views.quota_report(scheduler, role)


@get(API_PREFIX + "/backup", media_type=MediaType.JSON, opt=access(Access.ADMIN))
async def backup(scheduler: Scheduler) -> Response[bytes]:
    """The whole state, consistent, as one JSON document `POST /restore` accepts."""
    return Response(await scheduler.backup(), media_type=MediaType.JSON)


@post(
    API_PREFIX + "/restore",
    status_code=200,
    opt=access(Access.ADMIN),
    request_max_body_size=2**30,  # a backup of a large cluster is large
)
async def restore(body: bytes, scheduler: Scheduler) -> RestoreResult:
    """Replace the whole state with a backup's; agents reconnect and are reconciled."""
    await scheduler.restore(body)
    return RestoreResult(tasks=len(scheduler.cluster.tasks), jobs=len(scheduler.jobs))


ROUTES = (list_agents, set_maintenance, list_quotas, get_quota, set_quota, backup, restore)
