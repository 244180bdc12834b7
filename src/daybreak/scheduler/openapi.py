"""The API document says what the server does when it refuses: every error is a `Problem`
(`{"error": ..., "status": ...}`), and each operation lists the statuses it can answer with,
from what the operation is (who may call it, whether it names a job or a task, whether it
changes anything). Litestar documents only its own 400 shape; this replaces it."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)
from litestar.routes import HTTPRoute

from daybreak.model.api import API_PREFIX
from daybreak.scheduler.access import Access

PROBLEM = "Problem"
CHANGES = {"POST", "PUT", "DELETE"}


def errors_of(path: str, method: str, level: Access, has_parameters: bool) -> dict[int, str]:
    """The error statuses of one operation, each with when it is answered."""
    errors = {
        500: "the scheduler failed unexpectedly (its log has the details)",
        503: "no scheduler leads just now, this one is stopping, or the caller has too many "
        "requests under way (--max-requests-per-client): retry after Retry-After",
        429: "the caller asks faster than --rate-limit: retry after Retry-After",
    }
    if has_parameters or method in CHANGES:
        errors[400] = "the request is malformed or breaks a rule; the error says where"
    if method in CHANGES:
        errors[413] = "the request body is larger than the scheduler reads"
    if level is not Access.OPEN:
        errors[401] = "credentials are needed (or were wrong)"
    if level in (Access.ROLE, Access.ADMIN, Access.FILES):
        errors[403] = "the caller may not do this (role, admin), or a quota is exceeded"
    if "{" in path:
        errors[404] = "no such job, task or update"
    if method in CHANGES and "/jobs" in path:
        errors[409] = "the job exists already, or an update of it is under way"
    if "/tasks/{" in path:
        errors[502] = "the task's agent answered something unexpected"
    return errors


def document_errors(app: Litestar) -> None:
    """Rewrite `app`'s OpenAPI document in place (before it is first served)."""
    document = app.openapi_schema
    components = document.components
    if components.schemas is None:
        components.schemas = {}
    components.schemas[PROBLEM] = Schema(
        type=OpenAPIType.OBJECT,
        properties={
            "error": Schema(type=OpenAPIType.STRING, description="what is wrong, and where"),
            "status": Schema(type=OpenAPIType.INTEGER, description="the HTTP status again"),
        },
        required=["error", "status"],
        description="Every error the API answers with.",
    )
    problem = {
        "application/json": OpenAPIMediaType(schema=Reference(f"#/components/schemas/{PROBLEM}"))
    }
    redirect = OpenAPIResponse(
        description="this scheduler stands by: the same request to the leader",
        headers={"Location": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING))},
    )
    for route in app.routes:
        item = (document.paths or {}).get(route.path_format)
        if not isinstance(route, HTTPRoute) or item is None:
            continue
        # Outside the API (/metrics): the same limits answer, but no standby redirects.
        in_api = route.path_format.startswith(API_PREFIX)
        for handler in route.route_handlers:
            level = handler.opt.get("access", Access.READ)
            for method in handler.http_methods:
                operation: Any = getattr(item, method.lower(), None)
                if operation is None or operation.responses is None:
                    continue
                has_parameters = bool(operation.parameters) or operation.request_body is not None
                for code, when in errors_of(
                    route.path_format, method, level, has_parameters
                ).items():
                    operation.responses[str(code)] = OpenAPIResponse(
                        description=when, content=problem
                    )
                if in_api:
                    operation.responses["307"] = redirect
