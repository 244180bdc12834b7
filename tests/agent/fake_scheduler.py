"""A scheduler that speaks the real agent protocol, held in memory, for the agent's tests.

It runs a WebSocket server on 127.0.0.1 in a thread of its own, so tests stay synchronous and
drive it by method calls; every wait takes a deadline and wakes on the event it waits for.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import websockets

from daybreak.model import agent_protocol as protocol
from daybreak.model.jobspec import JobSpec
from daybreak.model.task_state import TaskState

WAIT_S = 20.0


@dataclass
class FakeScheduler:
    heartbeat_interval_ms: int = 200
    acknowledge: bool = True
    # How long each connection waits before the WebSocket handshake is answered: a scheduler
    # with a queue of agents ahead of this one.
    handshake_delay_s: float = 0.0
    handshakes: int = 0
    hellos: list[protocol.Hello] = field(default_factory=list)
    updates: list[protocol.StatusUpdate] = field(default_factory=list)
    heartbeats: list[protocol.Heartbeat] = field(default_factory=list)
    replies: dict[int, protocol.AgentMessage] = field(default_factory=dict)
    # When each (task, state) first arrived, by time.monotonic(): for latency measurements.
    arrived: dict[tuple[str, TaskState], float] = field(default_factory=dict)
    applied_seq: int = 0
    duplicates: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _connection: websockets.ServerConnection | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None
    port: int = 0
    _next_request: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeScheduler:
        started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(started),))
        self._thread.start()
        if not started.wait(WAIT_S):
            raise TimeoutError("the fake scheduler did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT_S)

    async def _serve(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with websockets.serve(
            self._handle, "127.0.0.1", 0, process_request=self._before_handshake
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            started.set()
            await self._stop.wait()

    async def _before_handshake(
        self, _connection: websockets.ServerConnection, _request: websockets.Request
    ) -> None:
        self._note(self._count_handshake)
        await asyncio.sleep(self.handshake_delay_s)

    def _count_handshake(self) -> None:
        self.handshakes += 1

    async def _handle(self, connection: websockets.ServerConnection) -> None:
        assert connection.request is not None
        if connection.request.path != protocol.CONNECT_PATH:
            await connection.close(4404, "wrong path")
            return
        hello = protocol.decode_from_agent(await connection.recv())
        assert isinstance(hello, protocol.Hello)
        welcome = protocol.Welcome(
            heartbeat_interval_ms=self.heartbeat_interval_ms, applied_seq=self.applied_seq
        )
        await connection.send(protocol.encode(welcome).decode())
        self._connection = connection
        self._note(lambda: self.hellos.append(hello))
        try:
            async for frame in connection:
                await self._receive(connection, protocol.decode_from_agent(frame))
        except websockets.ConnectionClosed:
            pass
        finally:
            if self._connection is connection:
                self._connection = None

    async def _receive(
        self, connection: websockets.ServerConnection, message: protocol.AgentMessage
    ) -> None:
        if isinstance(message, protocol.StatusUpdate):
            if message.seq <= self.applied_seq:
                self._note(self._count_duplicate)
                return
            if not self.acknowledge:
                self._note(lambda: self.updates.append(message))
                return
            self.applied_seq = message.seq
            self.arrived.setdefault((message.task_id, message.state), time.monotonic())
            self._note(lambda: self.updates.append(message))
            await connection.send(protocol.encode(protocol.Ack(seq=message.seq)).decode())
        elif isinstance(message, protocol.Heartbeat):
            self._note(lambda: self.heartbeats.append(message))
        elif isinstance(message, protocol.FileList | protocol.FileChunk | protocol.RequestFailed):
            self._note(lambda: self.replies.__setitem__(message.request_id, message))

    def _count_duplicate(self) -> None:
        self.duplicates += 1

    def _note(self, change: Callable[[], None]) -> None:
        with self._changed:
            change()
            self._changed.notify_all()

    # What tests call.

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"timed out waiting for {what}; updates: {self.updates}")

    def wait_for_hello(self, count: int = 1) -> protocol.Hello:
        self.wait_until(lambda: len(self.hellos) >= count, f"hello #{count}")
        return self.hellos[count - 1]

    def states(self, task_id: str) -> list[TaskState]:
        with self._changed:
            return [u.state for u in self.updates if u.task_id == task_id]

    def wait_for_state(
        self, task_id: str, state: TaskState, timeout: float = WAIT_S
    ) -> protocol.StatusUpdate:
        def seen() -> bool:
            return any(u.task_id == task_id and u.state == state for u in self.updates)

        self.wait_until(seen, f"{task_id} {state}", timeout)
        return next(u for u in self.updates if u.task_id == task_id and u.state == state)

    def send(self, message: protocol.Message) -> None:
        assert self._loop is not None

        async def deliver() -> None:
            assert self._connection is not None, "no agent is connected"
            await self._connection.send(protocol.encode(message).decode())

        asyncio.run_coroutine_threadsafe(deliver(), self._loop).result(WAIT_S)

    def launch(
        self, task_id: str, spec: JobSpec, instance: int = 0, ports: dict[str, int] | None = None
    ) -> None:
        self.send(protocol.Launch(task_id=task_id, spec=spec, instance=instance, ports=ports or {}))

    def kill(self, task_id: str, message: str = "Killed by the test") -> None:
        self.send(protocol.Kill(task_id=task_id, message=message))

    def ask(self, build: Callable[[int], protocol.Message]) -> int:
        """Send a sandbox request; returns its id, to wait for the reply with `reply`."""
        request_id = self._next_request
        self._next_request += 1
        self.send(build(request_id))
        return request_id

    def reply(self, request_id: int) -> protocol.AgentMessage:
        self.wait_until(lambda: request_id in self.replies, f"reply to request {request_id}")
        return self.replies[request_id]

    def request(self, build: Callable[[int], protocol.Message]) -> protocol.AgentMessage:
        return self.reply(self.ask(build))
