"""The agents' WebSocket: one per agent, speaking `daybreak.model.agent_protocol`.

Reading and writing are separate: the scheduler hands messages to a queue without waiting, and
a writer task sends them in order. An agent that sends something malformed is disconnected
with the reason; it reconnects and starts over with `Hello`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol
from daybreak.scheduler.access import Access, access
from daybreak.scheduler.role import Role
from daybreak.scheduler.service import Scheduler, SchedulerStoppingError

log = logging.getLogger("daybreak.scheduler")

GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008


async def _receive(socket: WebSocket[Any, Any, Any]) -> list[protocol.AgentMessage]:
    """The next frame's messages, whether the agent framed it as text or as bytes."""
    event = await socket.receive()
    if event["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="the agent closed the connection")
    frame = cast("bytes | str | None", event.get("bytes") or event.get("text"))
    return protocol.messages_from_agent(frame or b"")


@dataclass
class _Peer:
    batches: bool = False  # the agent takes several messages in a frame


async def _write(
    socket: WebSocket[Any, Any, Any], queue: asyncio.Queue[bytes | None], peer: _Peer
) -> None:
    """Send queued messages in order, as many in a frame as are waiting if the agent takes
    that (a round's launches to one agent, say: one send instead of hundreds); None hangs up
    (the agent reconnects and says hello)."""
    while True:
        first = await queue.get()
        waiting = protocol.waiting_behind(first, queue) if peer.batches else [first]
        encoded = [message for message in waiting if message is not None]
        if encoded:
            await socket.send_text(protocol.frame_of(encoded).decode())
        if waiting[-1] is None:
            await socket.close(GOING_AWAY, "the scheduler asks this agent to reconnect")
            return


@websocket(protocol.CONNECT_PATH, opt=access(Access.AGENT))
async def agent_connection(socket: WebSocket[Any, Any, Any], standing: Role) -> None:
    await socket.accept()
    scheduler = standing.scheduler
    if scheduler is None:
        # A standby: the agent goes to the leader, or tries the next scheduler it knows.
        leader = standing.leader_address()
        reason = f"standby; the leader is {leader}" if leader else "standby; no leader yet"
        await socket.close(TRY_AGAIN_LATER, reason[:120])
        return
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def send(message: protocol.Message) -> None:
        queue.put_nowait(protocol.encode(message))

    def hang_up() -> None:
        queue.put_nowait(None)

    agent_id: str | None = None
    try:
        # The connection owns its writer: a failure of either ends both, raised.
        async with asyncio.TaskGroup() as connection:
            peer = _Peer()
            writer = connection.create_task(_write(socket, queue, peer))
            try:
                first = await _receive(socket)
                hello = first[0] if len(first) == 1 else None
                if not isinstance(hello, protocol.Hello):
                    raise msgspec.ValidationError(
                        f"expected hello first, alone, got {[type(m).__name__ for m in first]}"
                    )
                agent_id = hello.agent_id
                peer.batches = hello.protocol >= protocol.BATCHES_SINCE
                scheduler.agent_connected(hello, send, hang_up)
                await _read(socket, scheduler, agent_id)
            finally:
                writer.cancel()
    except* WebSocketDisconnect:
        pass
    except* DaybreakError as refusals:
        refusal = refusals.exceptions[0]
        if not isinstance(refusal, SchedulerStoppingError):  # logged once, where it stops
            log.warning("event=agent_refused agent=%s error=%s", agent_id, refusal)
        with contextlib.suppress(Exception):
            await socket.close(POLICY_VIOLATION, str(refusal)[:120])
    except* (msgspec.DecodeError, msgspec.ValidationError) as errors:
        error = errors.exceptions[0]
        log.warning("event=agent_protocol_error agent=%s error=%s", agent_id, error)
        with contextlib.suppress(Exception):
            await socket.close(POLICY_VIOLATION, str(error)[:120])
    finally:
        if agent_id is not None:
            # A scheduler that is stopping takes no more news: nothing to tell the agent.
            with contextlib.suppress(SchedulerStoppingError):
                scheduler.agent_disconnected(agent_id, send)


async def _read(socket: WebSocket[Any, Any, Any], scheduler: Scheduler, agent_id: str) -> None:
    """Hand each message of the agent to the scheduler, until the connection ends."""
    while True:
        for message in await _receive(socket):
            if isinstance(message, protocol.StatusUpdate):
                scheduler.status_update(agent_id, message)
            elif isinstance(message, protocol.Heartbeat):
                scheduler.heartbeat(agent_id, message.usage)
            elif isinstance(message, protocol.AgentReply):
                scheduler.requests.answer(agent_id, message)
            else:
                raise msgspec.ValidationError(f"unexpected {type(message).__name__} after hello")
