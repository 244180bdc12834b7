"""The API's routes about one task, answered by its agent: its processes and its sandbox.

A task's files are those of its directory on the agent: `stdout`/`stderr` of console
loggers, `.logs/PROCESS/RUN/stdout` and `stderr` of each run, and `sandbox/` (the processes'
working directory). A path leaving that directory is refused by the agent.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model import agent_protocol as protocol
from daybreak.model.api import (
    API_PREFIX,
    OutputChunk,
    SandboxListing,
    TaskDetails,
    UsageHistory,
)
from daybreak.model.units import is_number
from daybreak.scheduler.access import Access, access
from daybreak.scheduler.agent_requests import REPLY_TIMEOUT_S
from daybreak.scheduler.service import Scheduler, TaskNotFoundError

TASK_PATH = API_PREFIX + "/tasks/{task_id:str}"
# How long a follower's read waits on the agent for new output before asking again.
FOLLOW_WAIT_MS = 10_000
# Where a follower with a negative offset starts: this many bytes before the end.
TAIL_BYTES = 64 * 1024
CHUNK_BYTES = 256 * 1024


async def task_details(
    scheduler: Scheduler, task_id: str, timeout_s: float = REPLY_TIMEOUT_S
) -> TaskDetails:
    task = scheduler.view.tasks.get(task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    reply = await scheduler.ask_agent(
        task_id,
        lambda request_id: protocol.DescribeTask(request_id=request_id, task_id=task_id),
        protocol.TaskDescription,
        timeout_s,
    )
    return TaskDetails(
        task=scheduler.view.summarize(task),
        phase=reply.phase,
        message=reply.message,
        processes=reply.processes,
        usage=reply.usage,
    )


async def list_task_files(scheduler: Scheduler, task_id: str, path: str) -> SandboxListing:
    reply = await scheduler.ask_agent(
        task_id,
        lambda request_id: protocol.ListFiles(request_id=request_id, task_id=task_id, path=path),
        protocol.FileList,
    )
    return SandboxListing(task_id=task_id, path=path, entries=reply.entries)


async def read_task_file(
    scheduler: Scheduler, task_id: str, path: str, *, offset: int, length: int, wait_ms: int = 0
) -> protocol.FileChunk:
    if offset < 0 or length < 0:
        raise InvalidParameterError("offset and length must not be negative")
    reply = await scheduler.ask_agent(
        task_id,
        lambda request_id: protocol.ReadFile(
            request_id=request_id,
            task_id=task_id,
            path=path,
            offset=offset,
            length=length,
            wait_ms=wait_ms,
        ),
        protocol.FileChunk,
        REPLY_TIMEOUT_S + wait_ms / 1000,
    )
    return reply


@get(TASK_PATH)
async def get_task(task_id: str, scheduler: Scheduler) -> TaskDetails:
    """A task with its processes (state, runs, exit codes) and resource usage, from its agent."""
    return await task_details(scheduler, task_id)


@get(TASK_PATH + "/usage")
async def usage_history(task_id: str, scheduler: Scheduler) -> UsageHistory:
    """The task's cpu and memory over the last hours, one point per step, next to its limits."""
    return task_usage(scheduler, task_id)


def task_usage(scheduler: Scheduler, task_id: str) -> UsageHistory:
    task = scheduler.view.tasks.get(task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    samples = scheduler.usage
    return UsageHistory(
        task_id=task_id,
        step_ms=samples.step_ms,
        cpu_limit=task.spec.task.resources.cpu,
        ram_limit_mb=task.spec.task.resources.ram_mb,
        points=samples.points(task_id, scheduler.clock.now()),
    )


@get(TASK_PATH + "/files", opt=access(Access.FILES))
async def list_files(task_id: str, scheduler: Scheduler, path: str = "") -> SandboxListing:
    """The entries of a directory of the task's (`path` relative to it; "" for the top)."""
    return await list_task_files(scheduler, task_id, path)


@get(TASK_PATH + "/file", media_type="application/octet-stream", opt=access(Access.FILES))
async def read_file(
    task_id: str, path: str, scheduler: Scheduler, offset: int = 0, length: int = CHUNK_BYTES
) -> Response[bytes]:
    """Up to `length` bytes of a file from `offset`; `X-File-Size` says how large it is."""
    chunk = await read_task_file(scheduler, task_id, path, offset=offset, length=length)
    return Response(
        chunk.data, headers={"X-File-Size": str(chunk.size), "X-Offset": str(chunk.offset)}
    )


@get(TASK_PATH + "/file/follow", opt=access(Access.FILES))
async def follow_file(
    request: Request[Any, Any, Any], task_id: str, path: str, scheduler: Scheduler, offset: int = -1
) -> ServerSentEvent:
    """Follow a growing file as server-sent `output` events (JSON `OutputChunk`, the event id
    its next offset), from `offset` (negative: the last 64 KiB). A follower that reconnects
    with `Last-Event-ID` carries on where it was. A `failed` event ends the stream: no such
    file, the task or its agent gone."""
    resumed = request.headers.get("last-event-id", "")
    if is_number(resumed):
        offset = int(resumed)
    elif offset < 0:
        size = (await read_task_file(scheduler, task_id, path, offset=0, length=0)).size
        offset = max(0, size - TAIL_BYTES)

    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        position = offset
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        yield ServerSentEventMessage(data=None, comment="following")
        while True:
            try:
                chunk = await read_task_file(
                    scheduler,
                    task_id,
                    path,
                    offset=position,
                    length=CHUNK_BYTES,
                    wait_ms=FOLLOW_WAIT_MS,
                )
            except DaybreakError as error:
                yield ServerSentEventMessage(event="failed", data=error.message)
                return
            if not chunk.data:
                yield ServerSentEventMessage(data=None, comment="keepalive")
                continue
            text = decoder.decode(chunk.data)
            start, position = position, position + len(chunk.data)
            body = OutputChunk(offset=start, next_offset=position, text=text)
            yield ServerSentEventMessage(
                event="output", data=msgspec.json.encode(body).decode(), id=str(position)
            )

    return ServerSentEvent(stream())


ROUTES = (get_task, usage_history, list_files, read_file, follow_file)
