"""The API's operator routes: agents and their maintenance, quotas, backup and restore, and
the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Response, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from daybreak.core.commands import Restore, SetMaintenance, SetQuota
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
from daybreak.model.audit import AuditList
from daybreak.scheduler import views
from daybreak.scheduler.access import Access, access
from daybreak.scheduler.service import Scheduler
from daybreak.store import decode_backup

SETTABLE_MODES = ("NONE", "SCHEDULED", "DRAINING")


@get(API_PREFIX + "/agents")
async def list_agents(scheduler: Scheduler, hosts: str | None = None) -> AgentList:
    """Every agent the scheduler knows (or those of `hosts=a,b`), connected or not, with its
    maintenance mode."""
    wanted = None if not hosts else views.agent_ids(scheduler.view, hosts.split(","))
    return AgentList(agents=tuple(views.agent_summaries(scheduler.view, wanted)))


@post(API_PREFIX + "/maintenance", status_code=200, opt=access(Access.ADMIN))
async def set_maintenance(data: MaintenanceRequest, scheduler: Scheduler) -> AgentList:
    """Drain hosts (their tasks move elsewhere as each job's SLA policy allows, then DRAINED;
    `drain` gives the terms), deactivate them (SCHEDULED: used last) or return them to service
    (NONE)."""
    if data.mode not in SETTABLE_MODES:
        raise InvalidParameterError(
            f"mode {data.mode!r} cannot be set; use one of {', '.join(SETTABLE_MODES)}"
        )
    command = SetMaintenance(tuple(data.hosts), MaintenanceMode[data.mode], data.drain)
    agent_ids = await scheduler.ask(command)
    return AgentList(agents=tuple(views.agent_summaries(scheduler.view, agent_ids)))


@get(API_PREFIX + "/quotas")
async def list_quotas(scheduler: Scheduler) -> QuotaList:
    """Every role with a quota or tasks: its quota and what it uses."""
    return QuotaList(
        quotas=tuple(views.quota_report(scheduler.view, role) for role in scheduler.view.roles())
    )


@get(API_PREFIX + "/quotas/{role:str}")
async def get_quota(role: str, scheduler: Scheduler) -> QuotaReport:
    """A role's quota, and what its production and other tasks hold."""
    return views.quota_report(scheduler.view, role)


@put(API_PREFIX + "/quotas/{role:str}", opt=access(Access.ADMIN))
async def set_quota(role: str, data: Quota, scheduler: Scheduler) -> QuotaReport:
    """Set a role's production quota (it replaces the old one, as Aurora's setQuota did)."""
    await scheduler.ask(SetQuota(role, data))
    return views.quota_report(scheduler.view, role)


@get(
    API_PREFIX + "/backup",
    media_type=MediaType.JSON,
    opt=access(Access.ADMIN),
    responses={200: ResponseSpec(dict[str, Any], description="the backup document")},
)
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
    tasks, jobs = await scheduler.ask(Restore(decode_backup(body)))
    return RestoreResult(tasks=tasks, jobs=jobs)


MAX_AUDIT_PAGE = 1000
MAX_AUDIT_ID = 2**63 - 1  # the column's


@get(API_PREFIX + "/audit", opt=access(Access.ADMIN))
async def read_audit(
    scheduler: Scheduler,
    limit: Annotated[int, Parameter(ge=1, le=MAX_AUDIT_PAGE)] = 100,
    before: Annotated[int | None, Parameter(ge=1, le=MAX_AUDIT_ID)] = None,
    who: str | None = None,
) -> AuditList:
    """Requests that asked for a change, newest first: who, from where, what, and the answer.
    The next page: `before` as the last page said."""
    await scheduler.audit.flushed()  # a caller sees its own requests
    return await scheduler.writer.call(lambda: scheduler.store.read_audit(limit, before, who))


ROUTES = (
    list_agents, set_maintenance, list_quotas, get_quota, set_quota, backup, restore, read_audit,
)  # fmt: skip
