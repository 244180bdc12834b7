"""The agent daemon: one connection to the scheduler, the machine's tasks, nothing lost.

The tasks live in the `TaskHost`; this module is the conversation about them. Each status
change the host reports is numbered and written to the outbox before it is sent; the
connection may come and go, the outbox does not.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable

import msgspec
import websockets
from websockets import InvalidStatus

from daybreak.agent.host import TaskHost
from daybreak.agent.outbox import Outbox
from daybreak.agent.paths import make_tasks_dir
from daybreak.agent.sandbox_files import SandboxPathError, follow_file, list_files
from daybreak.agent.settings import AgentConfig
from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol
from daybreak.model.task_state import TaskState

__all__ = ["Agent", "AgentConfig", "connect_url"]

log = logging.getLogger("daybreak.agent")

RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0
PING_S = 5.0
OPEN_TIMEOUT_S = 5.0
# How a standby closes an agent's connection: "standby; the leader is URL".
STANDBY_REASON = "the leader is "
CONNECTION_ERRORS = (OSError, TimeoutError, websockets.WebSocketException, msgspec.DecodeError)


def wall_ms() -> int:
    return int(time.time() * 1000)


class _Identity(msgspec.Struct, frozen=True):
    agent_id: str


def connect_url(scheduler_url: str) -> str:
    """`http://host:port` (or ws://) to the agents' WebSocket endpoint."""
    url = scheduler_url.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(plain):
            url = secure + url.removeprefix(plain)
    if not url.startswith(("ws://", "wss://")):
        url = "ws://" + url
    return url if url.endswith(protocol.CONNECT_PATH) else url + protocol.CONNECT_PATH


class Agent:
    def __init__(self, config: AgentConfig, clock: Callable[[], int] = wall_ms) -> None:
        self.config = config
        self.clock = clock
        config.work_dir.mkdir(parents=True, exist_ok=True)
        make_tasks_dir(config.work_dir)
        self.agent_id = self._identity()
        # Looked up once: it may ask DNS, which must not stall the loop at each reconnect.
        self.address = socket.getfqdn()
        self.outbox = Outbox(config.work_dir)
        self.host = TaskHost(config, self.agent_id, clock, self._send_update)
        self._send_queue: asyncio.Queue[bytes] | None = None
        self.heartbeat_interval_s = 5.0
        self.reconnect_max_s = RECONNECT_MAX_S
        self.leader_hint: str | None = None  # where a standby said the leader is
        self.connected = asyncio.Event()

    def _identity(self) -> str:
        path = self.config.work_dir / "agent.json"
        if path.exists():
            stored = msgspec.json.decode(path.read_bytes(), type=_Identity).agent_id
            if self.config.agent_id and self.config.agent_id != stored:
                raise DaybreakError(
                    f"{path} belongs to agent {stored!r}, not {self.config.agent_id!r}: "
                    "give each agent its own --work-dir"
                )
            return stored
        agent_id = self.config.agent_id or f"{self.config.hostname}-{uuid.uuid4().hex[:8]}"
        path.write_bytes(msgspec.json.encode(_Identity(agent_id)))
        return agent_id

    async def run(self) -> None:
        """Run until cancelled; an exception in any of the agent's loops ends it, raised."""
        try:
            async with asyncio.TaskGroup() as group:
                self.host.start(group)
                group.create_task(self._connection_loop(), name="connection")
        finally:
            await self.host.close()
            self.outbox.close()

    def _send_update(self, task_id: str, state: TaskState, message: str | None) -> None:
        update = protocol.StatusUpdate(
            seq=0, task_id=task_id, state=state, timestamp_ms=self.clock(), message=message
        )
        numbered = self.outbox.add(update)
        if self._send_queue is not None:
            self._send_queue.put_nowait(protocol.encode(numbered))

    def hello(self) -> protocol.Hello:
        return protocol.Hello(
            agent_id=self.agent_id,
            hostname=self.config.hostname,
            attributes=self.config.attributes,
            resources=self.config.resources,
            ports=self.config.ports,
            inventory=self.host.inventory(),
            address=self.address,
            work_dir=str(self.config.work_dir.resolve()),
        )

    async def _connection_loop(self) -> None:
        """Keep one connection to the leading scheduler: on any failure, the next scheduler
        of the list, after a jittered backoff once the whole list has failed."""
        urls = [connect_url(url) for url in self.config.scheduler_urls]
        headers = {}
        if self.config.credential:
            headers["Authorization"] = f"Bearer {self.config.credential}"
        backoff = RECONNECT_MIN_S
        turn = 0
        while True:
            url = urls[turn % len(urls)]
            turn += 1
            if self.leader_hint is not None:
                # A standby said where the leader is: go there first, even if not on our list.
                url, self.leader_hint = connect_url(self.leader_hint), None
                turn -= 1
            try:
                async with websockets.connect(
                    url,
                    additional_headers=headers,
                    max_size=None,
                    # A scheduler that stops answering (paused, cut off) is left in time to
                    # say hello to another before the timeout gives our tasks up.
                    ping_interval=PING_S,
                    ping_timeout=PING_S,
                    open_timeout=OPEN_TIMEOUT_S,
                ) as connection:
                    backoff = RECONNECT_MIN_S
                    await self._converse(connection)
            except* websockets.InvalidStatus as refused:
                refusal = refused.exceptions[0]
                status = refusal.response.status_code if isinstance(refusal, InvalidStatus) else 0
                log.error(
                    "event=refused url=%s status=HTTP %d: the scheduler turned this agent "
                    "away; does --credential-file hold a token of its [agents]?",
                    url,
                    status,
                )
            except* (
                OSError,
                TimeoutError,
                websockets.WebSocketException,
                msgspec.DecodeError,
            ) as errors:
                log.warning("event=disconnected url=%s error=%r", url, errors.exceptions[0])
            finally:
                self._send_queue = None
                self.connected.clear()
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Asked to stop while a library turned the cancellation into a connection
                # error: stop all the same.
                raise asyncio.CancelledError
            if turn % len(urls) == 0:
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # jittered: not in step
                backoff = min(self.reconnect_max_s, backoff * 2)

    async def _converse(self, connection: websockets.ClientConnection) -> None:
        await connection.send(protocol.encode(self.hello()))
        try:
            welcome = protocol.decode_from_scheduler(await connection.recv())
        except websockets.ConnectionClosed as closed:
            reason = closed.rcvd.reason if closed.rcvd is not None else ""
            if STANDBY_REASON in reason:
                self.leader_hint = reason.split(STANDBY_REASON, 1)[1].strip() or None
            raise
        if not isinstance(welcome, protocol.Welcome):
            raise msgspec.DecodeError(f"expected a welcome, got {type(welcome).__name__}")
        self.heartbeat_interval_s = welcome.heartbeat_interval_ms / 1000
        if welcome.agent_timeout_ms:
            # Back in well within the time the scheduler waits before giving up our tasks.
            self.reconnect_max_s = min(RECONNECT_MAX_S, welcome.agent_timeout_ms / 1000 / 5)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        # No await between reading the backlog and opening the queue: no update can slip by.
        for update in self.outbox.unacked_after(welcome.applied_seq):
            queue.put_nowait(protocol.encode(update))
        self._send_queue = queue
        self.connected.set()
        log.info("event=connected agent=%s backlog=%d", self.agent_id, queue.qsize())
        # The helpers and sandbox requests belong to this connection and end with it.
        async with asyncio.TaskGroup() as helpers:
            sender = helpers.create_task(self._sender(connection, queue))
            beats = helpers.create_task(self._heartbeats(queue))
            answers: set[asyncio.Task[None]] = set()
            try:
                async for frame in connection:
                    message = protocol.decode_from_scheduler(frame)
                    if isinstance(message, protocol.TaskRequest):
                        answer = helpers.create_task(self._answer(message, queue))
                        answers.add(answer)
                        answer.add_done_callback(answers.discard)
                    else:
                        self._on_message(message)
            finally:
                for helper in (sender, beats, *answers):
                    helper.cancel()

    async def _answer(self, request: protocol.TaskRequest, queue: asyncio.Queue[bytes]) -> None:
        reply: protocol.Message
        tracked = self.host.tasks.get(request.task_id)
        try:
            if tracked is None:
                raise SandboxPathError(f"no task {request.task_id} on agent {self.agent_id}")
            root = tracked.supervisor.paths.root
            if isinstance(request, protocol.DescribeTask):
                supervisor = tracked.supervisor
                names = [process.name for process in tracked.task.task.processes]
                reply = protocol.TaskDescription(
                    request_id=request.request_id,
                    task_id=request.task_id,
                    phase=supervisor.view.phase,
                    message=supervisor.view.message,
                    processes=supervisor.view.describe(names),
                    usage=None if supervisor.finished else tracked.usage,
                )
            elif isinstance(request, protocol.ListFiles):
                entries = list_files(root, request.path)
                reply = protocol.FileList(request_id=request.request_id, entries=entries)
            else:
                data, size = await follow_file(
                    root, request.path, request.offset, request.length, request.wait_ms / 1000
                )
                reply = protocol.FileChunk(
                    request_id=request.request_id, offset=request.offset, data=data, size=size
                )
        except SandboxPathError as error:
            reply = protocol.RequestFailed(request_id=request.request_id, error=str(error))
        queue.put_nowait(protocol.encode(reply))

    async def _sender(
        self, connection: websockets.ClientConnection, queue: asyncio.Queue[bytes]
    ) -> None:
        while True:
            frame = await queue.get()
            await connection.send(frame.decode())

    async def _heartbeats(self, queue: asyncio.Queue[bytes]) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            heartbeat = protocol.Heartbeat(timestamp_ms=self.clock(), usage=self.host.usage())
            queue.put_nowait(protocol.encode(heartbeat))

    def _on_message(self, message: protocol.SchedulerMessage) -> None:
        if isinstance(message, protocol.Launch):
            self.host.launch(message)
        elif isinstance(message, protocol.Kill):
            self.host.kill(message)
        elif isinstance(message, protocol.Ack):
            self.outbox.ack(message.seq)
        elif isinstance(message, protocol.Welcome):
            log.warning("event=unexpected_welcome")
