"""`GET /api/v1/services/ROLE/ENV/JOB`: service discovery, what Aurora's announcer wrote to
ZooKeeper serversets. Each RUNNING instance's host and named ports, the announcer's primary
port apart; with `?watch=true`, the list as server-sent events, again whenever it changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import MediaType, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response, ServerSentEvent, ServerSentEventMessage

from daybreak.model.api import API_PREFIX, ServiceEndpoints
from daybreak.model.jobspec import JobKey
from daybreak.scheduler import views
from daybreak.scheduler.events import Follower
from daybreak.scheduler.service import Scheduler

SERVICE_PATH = API_PREFIX + "/services/{role:str}/{environment:str}/{name:str}"


def _key(scheduler: Scheduler, role: str, environment: str, name: str) -> JobKey:
    cluster = scheduler.config.cluster
    return JobKey(cluster=cluster, role=role, environment=environment, name=name)


@get(
    SERVICE_PATH,
    responses={200: ResponseSpec(ServiceEndpoints, description="the endpoints, or a stream")},
)
async def service_endpoints(
    role: str, environment: str, name: str, scheduler: Scheduler, watch: bool = False
) -> Response[Any]:
    """The job's instances that take traffic, with their endpoints; with `watch=true`, the
    same as `endpoints` server-sent events, now and each time they change."""
    key = _key(scheduler, role, environment, name)
    if not watch:
        endpoints = views.service_endpoints(scheduler.view, key)
        return Response(msgspec.json.encode(endpoints), media_type=MediaType.JSON)
    # Following before the first read: no change can fall between the two.
    follower = scheduler.events.subscribe(lambda job: job == key)
    try:
        first = views.service_endpoints(scheduler.view, key)  # an unknown job is refused here
    except BaseException:
        scheduler.events.unsubscribe(follower)
        raise
    return _watch(scheduler, key, first, follower)


def _watch(
    scheduler: Scheduler, key: JobKey, first: ServiceEndpoints, follower: Follower
) -> ServerSentEvent:
    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        last = msgspec.json.encode(first)
        yield ServerSentEventMessage(event="endpoints", data=last.decode())
        async for event in scheduler.events.follow(follower.wants, follower):
            if event is None:
                yield ServerSentEventMessage(data=None, comment="keepalive")
                continue
            if event.kind == "lagged":
                yield ServerSentEventMessage(event="lagged", data=event.data.decode())
                return
            now = msgspec.json.encode(views.service_endpoints(scheduler.view, key))
            if now != last:
                last = now
                yield ServerSentEventMessage(event="endpoints", data=now.decode())

    return ServerSentEvent(stream())


ROUTES = (service_endpoints,)
