"""One guard for every route: each handler says what access it needs in `opt["access"]`.

- OPEN: anyone (health);
- READ: anyone when the operator leaves reads open, else any authenticated user;
- ROLE: a user of the role in the path (or, for a create, in the body; see `require_role`);
- FILES: a task's sandbox and logs, which hold secrets: a user of the task's role, or an
  admin, whenever security is on (open reads do not open them);
- ADMIN: an admin;
- AGENT: an agent's credential.

A task presents its workload credential (`daybreak.scheduler.workload`): it is a user of its
role, checked by the leader, which alone knows whether the task still runs.

No credentials where some are needed is 401; the wrong ones for the role or admin is 403.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers import BaseRouteHandler

from daybreak.model.credentials import is_workload_credential
from daybreak.scheduler.passwords import TooManyPasswordChecksError
from daybreak.scheduler.role import NotLeaderError, Role
from daybreak.scheduler.security import BadCredentialsError, Principal, Security

# Basic first: a browser answers only the first challenge of the header, and Basic is the one
# it can (with the user's password); the CLI sends its bearer token without being asked.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="daybreak", Bearer realm="daybreak"'}
RETRY_SOON = {"Retry-After": "1"}


class Access(Enum):
    OPEN = "open"
    READ = "read"
    ROLE = "role"
    FILES = "files"
    ADMIN = "admin"
    AGENT = "agent"


def access(level: Access) -> dict[str, Any]:
    """A handler's `opt`, e.g. `@post(..., opt=access(Access.ROLE))`."""
    return {"access": level}


def _unauthenticated(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=detail, headers=CHALLENGE)


async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    level: Access = handler.opt.get("access", Access.READ)
    if level is Access.OPEN:
        return
    security: Security = connection.app.state.security
    header = connection.headers.get("authorization")
    if level is Access.AGENT:
        server = connection.scope.get("server")
        if not security.agent_allowed(header, None if server is None else server[1]):
            raise _unauthenticated(
                "agents must present a token the scheduler's agents accept, or connect to "
                "the agents' port with a certificate of the agents' CA"
            )
        return
    try:
        principal = await _caller(connection, security, header)
    except BadCredentialsError as error:
        raise _unauthenticated(f"not authenticated: {error}") from error
    except TooManyPasswordChecksError as error:
        raise ServiceUnavailableException(detail=str(error), headers=RETRY_SOON) from error
    if principal is None:
        if level is Access.READ and security.open_reads:
            return
        if level is Access.FILES:
            raise _unauthenticated(
                "a task's files need credentials of its role (or an admin's), even where "
                "reads are open"
            )
        raise _unauthenticated(
            "this call needs credentials: a bearer token (DAYBREAK_TOKEN) or a user and "
            "password for HTTP basic (~/.netrc)"
        )
    connection.state.principal = principal
    if level is Access.ADMIN and not principal.admin:
        raise PermissionDeniedException(detail=f"{principal.name} is not an admin")
    role = connection.path_params.get("role")
    if level is Access.ROLE and role is not None:
        require_role(connection, role)
    if level is Access.FILES:
        role = role or _role_of_task(connection, connection.path_params.get("task_id"))
        if role is not None and not principal.may_change(role):
            raise PermissionDeniedException(
                detail=f"{principal.name} may not read the files of role {role!r}"
            )


async def _caller(
    connection: ASGIConnection[Any, Any, Any, Any], security: Security, header: str | None
) -> Principal | None:
    scheme, _, value = (header or "").partition(" ")
    if security.enabled and scheme.lower() == "bearer" and is_workload_credential(value.strip()):
        standing: Role = connection.app.state.role
        scheduler = standing.scheduler
        if scheduler is None or scheduler.identities is None:
            raise NotLeaderError(standing.leader_address())  # the leader knows the task
        return scheduler.identities.principal(value.strip())
    return await security.authenticate(header)


def _role_of_task(
    connection: ASGIConnection[Any, Any, Any, Any], task_id: str | None
) -> str | None:
    """The role of the task in the path (None when unknown: the handler says so, 404)."""
    scheduler = connection.app.state.role.scheduler
    task = None if scheduler is None or task_id is None else scheduler.view.tasks.get(task_id)
    return None if task is None else task.job.role


def require_role(connection: ASGIConnection[Any, Any, Any, Any], role: str) -> None:
    """Refuse unless the authenticated caller may change jobs of `role`."""
    principal: Principal = connection.state.principal
    if not principal.may_change(role):
        raise PermissionDeniedException(
            detail=f"{principal.name} may not change jobs of role {role!r}"
        )


def user_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The authenticated caller's name, where the scheduler knows it."""
    principal: Principal | None = getattr(connection.state, "principal", None)
    return None if principal is None else principal.name
