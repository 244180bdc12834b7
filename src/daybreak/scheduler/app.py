"""The scheduler's HTTP face: the public JSON API under /api/v1, the agents' WebSocket,
the web UI, /health and /metrics. Handlers only translate: every decision is the scheduler's."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler

from daybreak import __version__
from daybreak.errors import DaybreakError
from daybreak.model.api import API_PREFIX, Problem
from daybreak.scheduler import (
    api_cron,
    api_events,
    api_jobs,
    api_operations,
    api_services,
    api_tasks,
    api_updates,
)
from daybreak.scheduler.access import Access, access, guard
from daybreak.scheduler.audit import audited
from daybreak.scheduler.gateway import agent_connection
from daybreak.scheduler.metrics import metrics_route
from daybreak.scheduler.openapi import document_errors
from daybreak.scheduler.rate_limit import InFlight, RateLimit, limited_per_client
from daybreak.scheduler.role import NotLeaderError, Role, redirect_to_leader
from daybreak.scheduler.security import Security
from daybreak.scheduler.statuses import status_of
from daybreak.scheduler.timing import server_timing

log = logging.getLogger("daybreak.scheduler")
# The largest request body, unless a route says otherwise (a restore does): a job's config is
# kilobytes, and its largest legal one (command lines of 128 KiB) is well under this.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def problem(status: int, error: str) -> Response[Problem]:
    return Response(Problem(error=error, status=status), status_code=status)


def daybreak_error(_: Request[Any, Any, Any], error: DaybreakError) -> Response[Problem]:
    return problem(status_of(error), error.message)


def invalid_request(_: Request[Any, Any, Any], error: ValidationException) -> Response[Problem]:
    details = "; ".join(
        str(item.get("message", item)) if isinstance(item, dict) else str(item)
        for item in (error.extra if isinstance(error.extra, list) else [error.extra or ""])
    )
    return problem(400, f"{error.detail}: {details}" if details else str(error.detail))


def unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    """Anything else: logged once, with the request, and said as a problem, not bare."""
    where = f"{request.method} {request.url.path}"
    if isinstance(error, RecursionError):  # raised while decoding a body, not by our code
        log.warning("event=request_refused request=%r error=nested too deeply", where)
        return problem(400, "the request body nests too deeply to read")
    log.error("event=request_failed request=%r error=%r", where, error, exc_info=error)
    return problem(
        500, f"the scheduler failed on {where}: {error.__class__.__name__}: {error} (see its log)"
    )


def http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    response = problem(error.status_code, str(error.detail))
    response.headers.update(error.headers or {})
    return response


@get("/health", media_type=MediaType.TEXT, opt=access(Access.OPEN))
async def health(request: Request[Any, Any, Any]) -> str:
    """OK, and whether this scheduler leads (and its epoch) or stands by (and who leads)."""
    role: Role = request.app.state.role
    return role.describe()


def create_app(
    role: Role,
    security: Security,
    pages: Sequence[ControllerRouterHandler] = (),
    template_config: TemplateConfig[Any] | None = None,
    *,
    rate_limit: RateLimit | None = None,
    in_flight: InFlight | None = None,
) -> Litestar:
    """The API, with `pages` (the web UI, rendered with `template_config`) beside it; each
    client held to `rate_limit` and `in_flight`, where given."""
    app = Litestar(
        route_handlers=[
            *api_jobs.ROUTES,
            *api_operations.ROUTES,
            *api_updates.ROUTES,
            *api_cron.ROUTES,
            *api_services.ROUTES,
            *api_events.ROUTES,
            *api_tasks.ROUTES,
            metrics_route(role),
            health,
            agent_connection,
            *pages,
        ],
        # A standby has no scheduler: asking for it redirects to the leader.
        dependencies={
            "scheduler": Provide(role.leading, sync_to_thread=False),
            "standing": Provide(lambda: role, sync_to_thread=False),
        },
        guards=[guard],
        request_max_body_size=MAX_REQUEST_BYTES,
        # The process sets logging up (`daybreak.log_format`): Litestar's own would take the
        # root logger over, in its format.
        logging_config=None,
        # Outermost first: a request shed for its rate is not worth an audit entry.
        middleware=[
            limited_per_client(rate_limit, in_flight),
            audited(lambda: None if role.scheduler is None else role.scheduler.audit),
            server_timing,
        ],
        state=State({"security": security, "role": role}),
        template_config=template_config,
        exception_handlers={
            NotLeaderError: redirect_to_leader,
            DaybreakError: daybreak_error,
            ValidationException: invalid_request,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
        openapi_config=OpenAPIConfig(
            title="Daybreak",
            version=__version__,
            path=API_PREFIX,
            render_plugins=[JsonRenderPlugin()],
        ),
    )
    document_errors(app)
    return app
