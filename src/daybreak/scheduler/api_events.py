"""`GET /api/v1/events`: the cluster's changes as server-sent events, for a job, a role or
everything. Each event's type is `task`, `task-deleted`, `job`, `update`, `cron` or `lagged`
(the follower fell behind and must reconnect); its data is JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from daybreak.model.api import API_PREFIX
from daybreak.model.jobkey import parse_job_key
from daybreak.model.jobspec import JobKey
from daybreak.scheduler.service import Scheduler


@get(API_PREFIX + "/events")
async def follow_events(
    scheduler: Scheduler, job: str | None = None, role: str | None = None
) -> ServerSentEvent:
    """Follow changes live: `?job=CLUSTER/ROLE/ENV/NAME`, `?role=ROLE`, or all of them. The
    first event, `following`, says every change from then on will be sent."""
    key = None if job is None else parse_job_key(job)

    def wants(candidate: JobKey) -> bool:
        return (key is None or candidate == key) and (role is None or candidate.role == role)

    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        # Subscribed first, then said so: a client that reads the job once it hears
        # `following` misses no change after that read.
        follower = scheduler.events.subscribe(wants)
        yield ServerSentEventMessage(event="following", data="{}")
        async for event in scheduler.events.follow(wants, follower):
            if event is None:
                yield ServerSentEventMessage(data=None, comment="keepalive")
            else:
                yield ServerSentEventMessage(event=event.kind, data=event.data.decode())

    return ServerSentEvent(stream())


ROUTES = (follow_events,)
