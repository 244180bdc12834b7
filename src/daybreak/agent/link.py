"""The conversation with the scheduler, for any machine: find the leader, say hello, resend
what it has not applied, heartbeat, and hand its orders to the machine.

The machine is whatever holds the tasks: the real agent's `TaskHost`, or a simulated one (the
fleet simulator runs thousands of these links in a few processes). Status changes go through
the outbox: numbered and kept before they are sent, so a connection may come and go and nothing
is lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

import msgspec
import websockets
from websockets import InvalidStatus

from daybreak.agent.outbox import Outbox
from daybreak.model import agent_protocol as protocol
from daybreak.model.task_state import TaskState

__all__ = ["Machine", "SchedulerLink", "connect_url"]

log = logging.getLogger("daybreak.agent")

RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0
PING_S = 5.0
# The least time a scheduler has to answer a connection.
OPEN_TIMEOUT_MIN_S = 5.0
# How a standby closes an agent's connection: "standby; the leader is URL".
STANDBY_REASON = "the leader is "


class Machine(Protocol):
    """What the conversation needs of the machine it speaks for."""

    def hello(self) -> protocol.Hello: ...

    def usage(self) -> tuple[protocol.TaskUsage, ...]: ...

    def launch(self, message: protocol.Launch) -> None: ...

    def renew_credentials(self, message: protocol.Credentials) -> None: ...

    def kill(self, message: protocol.Kill) -> None: ...

    async def answer(self, request: protocol.TaskRequest) -> protocol.AgentReply: ...


def connect_url(scheduler_url: str) -> str:
    """`http://host:port` (or ws://) to the agents' WebSocket endpoint."""
    url = scheduler_url.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(plain):
            url = secure + url.removeprefix(plain)
    if not url.startswith(("ws://", "wss://")):
        url = "ws://" + url
    return url if url.endswith(protocol.CONNECT_PATH) else url + protocol.CONNECT_PATH


class SchedulerLink:
    def __init__(
        self,
        scheduler_urls: Sequence[str],
        credential: str | None,
        outbox: Outbox,
        machine: Machine,
        clock: Callable[[], int],
        *,
        tls: ssl.SSLContext | None = None,
        own_ports: bool = False,
    ) -> None:
        self.urls = [connect_url(url) for url in scheduler_urls]
        # Schedulers serve this agent on a port of their own (mutual TLS): a leader a standby
        # names is reached at our address for its host, not at the one it advertises.
        self.own_ports = own_ports
        # Verifies wss:// schedulers (a plain ws:// one takes no TLS).
        self.tls = tls
        self.credential = credential
        self.outbox = outbox
        self.machine = machine
        self.clock = clock
        self.heartbeat_interval_s = 5.0
        self.reconnect_max_s = RECONNECT_MAX_S
        self.agent_timeout_s = protocol.DEFAULT_AGENT_TIMEOUT_MS / 1000  # until welcomed
        self.leader_hint: str | None = None  # where a standby said the leader is
        self.cluster = ""  # the cluster's name, as the scheduler's welcome says it
        self.connected = asyncio.Event()
        self._send_queue: asyncio.Queue[bytes] | None = None
        self._connection: websockets.ClientConnection | None = None
        self._scheduler_batches = False  # the scheduler takes several messages in a frame
        self._rephase = True  # the next heartbeat at a random point of the interval

    def send_update(self, task_id: str, state: TaskState, message: str | None) -> None:
        update = protocol.StatusUpdate(
            seq=0, task_id=task_id, state=state, timestamp_ms=self.clock(), message=message
        )
        numbered = self.outbox.add(update)
        if self._send_queue is not None:
            self._send_queue.put_nowait(protocol.encode(numbered))

    async def run(self) -> None:
        """Keep one connection to the leading scheduler: on any failure, the next scheduler
        of the list, after a jittered backoff once the whole list has failed."""
        headers = {}
        if self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        backoff = RECONNECT_MIN_S
        turn = 0
        while True:
            url = self.urls[turn % len(self.urls)]
            turn += 1
            if self.leader_hint is not None:
                # A standby said where the leader is: go there first, even if not on our list.
                url, self.leader_hint = self._ours(self.leader_hint), None
                turn -= 1
            try:
                async with websockets.connect(
                    url,
                    ssl=self.tls if url.startswith("wss://") else None,
                    additional_headers=headers,
                    max_size=None,
                    # A scheduler that stops answering (paused, cut off) is left in time to
                    # say hello to another before the timeout gives our tasks up. The pings
                    # slow down with the heartbeats (see `_take_pace`).
                    ping_interval=PING_S,
                    ping_timeout=PING_S,
                    # Small messages, thousands of agents: deflating them cost the scheduler
                    # more CPU than it saved bytes.
                    compression=None,
                    open_timeout=self.open_timeout_s,
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
            if turn % len(self.urls) == 0:
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # jittered: not in step
                backoff = min(self.reconnect_max_s, backoff * 2)

    async def _converse(self, connection: websockets.ClientConnection) -> None:
        hello = self.machine.hello()
        await connection.send(protocol.encode(hello))
        try:
            # The welcome comes first; orders may follow it in the same frame.
            welcome, *orders = protocol.messages_from_scheduler(await connection.recv())
        except websockets.ConnectionClosed as closed:
            reason = closed.rcvd.reason if closed.rcvd is not None else ""
            if STANDBY_REASON in reason:
                self.leader_hint = reason.split(STANDBY_REASON, 1)[1].strip() or None
            raise
        if not isinstance(welcome, protocol.Welcome):
            raise msgspec.DecodeError(f"expected a welcome, got {type(welcome).__name__}")
        self._connection = connection
        self._take_pace(welcome)
        self._scheduler_batches = welcome.protocol >= protocol.BATCHES_SINCE
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        # No await between reading the backlog and opening the queue: no update can slip by.
        for update in self.outbox.unacked_after(welcome.applied_seq):
            queue.put_nowait(protocol.encode(update))
        self._send_queue = queue
        self.connected.set()
        log.info("event=connected agent=%s backlog=%d", hello.agent_id, queue.qsize())
        # The helpers and sandbox requests belong to this connection and end with it.
        async with asyncio.TaskGroup() as helpers:
            sender = helpers.create_task(self._sender(connection, queue))
            beats = helpers.create_task(self._heartbeats(queue))
            answers: set[asyncio.Task[None]] = set()

            def take(message: protocol.SchedulerMessage) -> None:
                if isinstance(message, protocol.TaskRequest):
                    answer = helpers.create_task(self._answer(message, queue))
                    answers.add(answer)
                    answer.add_done_callback(answers.discard)
                else:
                    self._on_message(message)

            try:
                for message in orders:
                    take(message)
                async for frame in connection:
                    for message in protocol.messages_from_scheduler(frame):
                        take(message)
            finally:
                for helper in (sender, beats, *answers):
                    helper.cancel()

    def _ours(self, leader: str) -> str:
        """Where to reach the leader a standby named: the address it gave, or on the agents'
        own port (`own_ports`), our address for that host if we have one."""
        host = urlsplit(connect_url(leader)).hostname
        for url in self.urls if self.own_ports else ():
            if urlsplit(url).hostname == host:
                return url
        return connect_url(leader)

    @property
    def ping_interval_s(self) -> float:
        """How often this link pings the scheduler to find out that it stopped answering."""
        return max(PING_S, self.heartbeat_interval_s)

    @property
    def open_timeout_s(self) -> float:
        """How long to wait for a scheduler to answer a connection: each scheduler we know gets
        its share of the agent timeout. Not less: a scheduler that thousands of agents reach at
        once (it restarted, or woke from a pause) answers them in turn, and an agent that gives
        up before its turn only asks again, behind the others. With a short timeout no answer
        came in time and no agent ever got back in (2,000 agents, 5 s, a loaded machine)."""
        return max(OPEN_TIMEOUT_MIN_S, self.agent_timeout_s / len(self.urls))

    def _take_pace(self, welcome: protocol.Welcome) -> None:
        self.cluster = welcome.cluster or self.cluster
        self.heartbeat_interval_s = welcome.heartbeat_interval_ms / 1000
        if self._connection is not None:
            # Pings at most as often as heartbeats: a fleet told to beat less often would
            # otherwise still ping the scheduler every PING_S (1,000 a second from 5,000
            # agents). The library's keepalive reads the interval at each ping.
            self._connection.ping_interval = self.ping_interval_s
        if welcome.agent_timeout_ms:
            self.agent_timeout_s = welcome.agent_timeout_ms / 1000
            # Back in well within the time the scheduler waits before giving up our tasks.
            self.reconnect_max_s = min(RECONNECT_MAX_S, self.agent_timeout_s / 5)

    async def _answer(self, request: protocol.TaskRequest, queue: asyncio.Queue[bytes]) -> None:
        queue.put_nowait(protocol.encode(await self.machine.answer(request)))

    async def _sender(
        self, connection: websockets.ClientConnection, queue: asyncio.Queue[bytes]
    ) -> None:
        while True:
            first = await queue.get()
            waiting = protocol.waiting_behind(first, queue) if self._scheduler_batches else [first]
            await connection.send(protocol.frame_of(waiting).decode())

    async def _heartbeats(self, queue: asyncio.Queue[bytes]) -> None:
        self._rephase = True
        while True:
            interval = self.heartbeat_interval_s
            if self._rephase:
                # At a random point of the interval, after a hello or a new pace: a fleet that
                # connected or was re-paced all at once does not beat in one burst for ever.
                interval, self._rephase = random.uniform(0, interval), False
            await asyncio.sleep(interval)
            heartbeat = protocol.Heartbeat(timestamp_ms=self.clock(), usage=self.machine.usage())
            queue.put_nowait(protocol.encode(heartbeat))

    def _on_message(self, message: protocol.SchedulerMessage) -> None:
        if isinstance(message, protocol.Launch):
            self.machine.launch(message)
        elif isinstance(message, protocol.Kill):
            self.machine.kill(message)
        elif isinstance(message, protocol.Ack):
            self.outbox.ack(message.seq)
        elif isinstance(message, protocol.Credentials):
            self.machine.renew_credentials(message)
        elif isinstance(message, protocol.Welcome):
            # Welcomed again: the fleet grew or shrank, and this is our new pace.
            self._take_pace(message)
            self._rephase = True
            log.info("event=repaced heartbeat_interval_s=%s", self.heartbeat_interval_s)
