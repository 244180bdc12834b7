"""The agent daemon: one connection to the scheduler, one supervisor per task, nothing lost.

Everything runs on one asyncio loop. Supervisors are synchronous; the loop calls them when a
waiter's pidfd becomes readable, when a planned time comes, or when the scheduler says to
launch or kill. Each status change is numbered and written to the outbox before it is sent;
the connection may come and go, the outbox does not.

On start the daemon re-attaches to every task under its work directory (`TaskSupervisor.
recover`), so `kill -9` of the agent costs the tasks nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import websockets

from daybreak.agent.executor.checkpoint import TaskLaunch
from daybreak.agent.executor.health import Health, HealthTracker
from daybreak.agent.executor.planner import Phase
from daybreak.agent.executor.processes import account_of
from daybreak.agent.executor.supervisor import TaskSupervisor
from daybreak.agent.executor.tree import ProcessTables
from daybreak.agent.outbox import Outbox
from daybreak.agent.paths import TaskPaths, task_paths, tasks_dir
from daybreak.agent.probes import LIFECYCLE_REQUEST_TIMEOUT_S, ask_to_stop, run_check
from daybreak.agent.sandbox_files import SandboxPathError, follow_file, list_files
from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.jobspec import HttpHealthChecker, HttpLifecycle, Resources, TaskInstance
from daybreak.model.render import render_task
from daybreak.model.task_state import TaskState

log = logging.getLogger("daybreak.agent")

TERMINAL_REPORTS = {
    Phase.SUCCESS: TaskState.FINISHED,
    Phase.FAILED: TaskState.FAILED,
    Phase.KILLED: TaskState.KILLED,
}
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0
SNOOZE_FILE = ".healthchecksnooze"


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class AgentConfig:
    scheduler_url: str
    work_dir: Path
    hostname: str
    resources: Resources
    ports: PortRange
    attributes: dict[str, str] = field(default_factory=dict)
    agent_id: str | None = None
    credential: str | None = None


class _Identity(msgspec.Struct, frozen=True):
    agent_id: str


@dataclass
class _Tracked:
    supervisor: TaskSupervisor
    reported: TaskState | None = None
    timer: asyncio.TimerHandle | None = None
    pidfds: dict[int, int] = field(default_factory=dict)
    # None when the task has no health check: it is healthy once its processes run.
    health: HealthTracker | None = None
    # The health checks, then the lifecycle requests of a graceful stop.
    helpers: set[asyncio.Task[None]] = field(default_factory=set)
    # Set once nothing of the task runs any more (it left CLEANING).
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def task(self) -> TaskInstance:
        return self.supervisor.launch.task


def health_port(task: TaskInstance) -> int | None:
    return task.ports.get("health")


def lifecycle_of(task: TaskInstance) -> tuple[HttpLifecycle, int] | None:
    """The lifecycle endpoints to call before signalling, when the task has their port."""
    http = task.lifecycle.http
    if http is None or http.port not in task.ports:
        return None
    return http, task.ports[http.port]


def has_health_check(task: TaskInstance) -> bool:
    # An HTTP check needs a `health` port, as in Aurora; without one there is no check.
    checker = task.health_check.checker
    return not isinstance(checker, HttpHealthChecker) or health_port(task) is not None


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
        tasks_dir(config.work_dir).mkdir(exist_ok=True)
        self.agent_id = self._identity()
        self.outbox = Outbox(config.work_dir)
        self.tasks: dict[str, _Tracked] = {}
        self._send_queue: asyncio.Queue[bytes] | None = None
        self.process_tables = ProcessTables(time.monotonic)
        self.heartbeat_interval_s = 5.0
        self.connected = asyncio.Event()
        # Health checks open a connection each time, as Aurora's did; no proxy applies.
        self.http = httpx.AsyncClient(
            trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)
        )

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

    # Running.

    async def run(self) -> None:
        self.recover()
        try:
            await self._connection_loop()
        finally:
            for tracked in self.tasks.values():
                self._unwatch(tracked)
            await self.http.aclose()

    def recover(self) -> None:
        now = self.clock()
        for root in sorted(tasks_dir(self.config.work_dir).iterdir()):
            paths = TaskPaths(root)
            if not paths.launch.exists():
                continue
            try:
                supervisor = TaskSupervisor.recover(paths, now)
            except (OSError, msgspec.DecodeError, ValueError) as error:
                log.error("task=%s event=recover_failed error=%r", root.name, error)
                continue
            reported = None
            if paths.reported.exists():
                reported = TaskState(paths.reported.read_text().strip())
            tracked = _Tracked(supervisor, reported)
            self.tasks[supervisor.task_id] = tracked
            log.info("task=%s event=recovered phase=%s", root.name, supervisor.planner.phase)
            self._advance(tracked)
            if supervisor.planner.phase is Phase.ACTIVE:
                # Checks start over; a task already reported healthy stays so until they fail.
                self._check_health(tracked, healthy=reported is TaskState.RUNNING)

    # Tasks.

    def launch(self, message: protocol.Launch) -> None:
        if message.task_id in self.tasks:
            return  # a launch sent again after a reconnect: already running
        now = self.clock()
        paths = task_paths(self.config.work_dir, message.task_id)
        try:
            task = render_task(
                message.spec,
                instance=message.instance,
                hostname=self.config.hostname,
                task_id=message.task_id,
                ports=message.ports,
            )
        except DaybreakError as error:
            self._report_unrunnable(message.task_id, f"Cannot run the task: {error}")
            return
        role = message.spec.key.role
        user = role if os.geteuid() == 0 and account_of(role) is not None else None
        launch = TaskLaunch(task=task, launched_ms=now, user=user)
        try:
            supervisor = TaskSupervisor.create(paths, launch)
        except OSError as error:
            self._report_unrunnable(message.task_id, f"Cannot prepare the sandbox: {error}")
            return
        tracked = _Tracked(supervisor)
        self.tasks[message.task_id] = tracked
        log.info("task=%s event=launch job=%s instance=%d", task.task_id, task.job, task.instance)
        self._report(tracked, TaskState.STARTING, None)
        self._check_health(tracked, healthy=False)
        self._advance(tracked)

    def kill(self, message: protocol.Kill) -> None:
        tracked = self.tasks.get(message.task_id)
        if tracked is None:
            self._send_update(message.task_id, TaskState.LOST, "Task unknown to this agent")
            return
        log.info("task=%s event=kill message=%s", message.task_id, message.message)
        self._stop(tracked, message.message or "Killed", Phase.KILLED)

    def _stop(self, tracked: _Tracked, message: str, outcome: Phase) -> None:
        """End an active task: first through its lifecycle endpoints, if it has them, then by
        signals. The planner holds the signals back for as long as the endpoints may take."""
        supervisor = tracked.supervisor
        if supervisor.planner.phase is not Phase.ACTIVE:
            return
        lifecycle = lifecycle_of(tracked.task)
        grace_ms = 0
        if lifecycle is not None:
            http, _ = lifecycle
            waits_s = http.graceful_shutdown_wait_secs + http.shutdown_wait_secs
            grace_ms = round((waits_s + 2 * LIFECYCLE_REQUEST_TIMEOUT_S) * 1000)
        supervisor.request_kill(message, self.clock(), outcome, grace_ms)
        self._advance(tracked)
        if lifecycle is not None and not tracked.stopped.is_set():
            self._spawn(tracked, self._ask_to_stop(tracked, *lifecycle))

    async def _ask_to_stop(self, tracked: _Tracked, http: HttpLifecycle, port: int) -> None:
        await ask_to_stop(self.http, port, http, tracked.stopped)
        tracked.supervisor.terminate_now(self.clock())
        self._advance(tracked)

    def _check_health(self, tracked: _Tracked, healthy: bool) -> None:
        if not has_health_check(tracked.task):
            return
        tracker = HealthTracker(tracked.task.health_check, started_ms=self.clock())
        if healthy:
            tracker.health = Health.HEALTHY
        tracked.health = tracker
        self._spawn(tracked, self._run_health_checks(tracked, tracker))

    async def _run_health_checks(self, tracked: _Tracked, tracker: HealthTracker) -> None:
        task = tracked.task
        snooze = tracked.supervisor.paths.sandbox / SNOOZE_FILE
        while (due := tracker.next_check_ms()) is not None:
            await asyncio.sleep(max(0, due - self.clock()) / 1000)
            if tracked.supervisor.planner.phase is not Phase.ACTIVE:
                return
            if snooze.exists():
                healthy, reason = True, None
            else:
                healthy, reason = await run_check(
                    task.health_check.checker,
                    task.health_check.timeout_secs,
                    self.http,
                    tracked.supervisor.launcher,
                    health_port(task),
                )
            if tracked.supervisor.planner.phase is not Phase.ACTIVE:
                return
            before = tracker.health
            after = tracker.record(healthy, reason)
            if after is Health.UNHEALTHY:
                log.warning("task=%s event=unhealthy reason=%s", task.task_id, tracker.reason)
                self._stop(tracked, f"Failed health check! {tracker.reason}", Phase.FAILED)
            elif after is not before:
                self._report_progress(tracked)

    def _spawn(self, tracked: _Tracked, work: Coroutine[None, None, None]) -> None:
        helper = asyncio.get_running_loop().create_task(work)
        tracked.helpers.add(helper)
        helper.add_done_callback(tracked.helpers.discard)

    def _report_unrunnable(self, task_id: str, reason: str) -> None:
        log.error("task=%s event=unrunnable reason=%s", task_id, reason)
        self._send_update(task_id, TaskState.FAILED, reason)

    def _advance(self, tracked: _Tracked) -> None:
        supervisor = tracked.supervisor
        if tracked.timer is not None:
            tracked.timer.cancel()
            tracked.timer = None
        try:
            wake = supervisor.advance(self.clock(), self.process_tables)
        except OSError as error:
            log.exception("task=%s event=advance_failed", supervisor.task_id)
            supervisor.request_kill(f"The agent could not run the task: {error}", self.clock())
            wake = self.clock()
        self._watch(tracked)
        self._report_progress(tracked)
        if wake is not None:
            delay = max(0.0, (wake - self.clock()) / 1000)
            tracked.timer = asyncio.get_running_loop().call_later(delay, self._advance, tracked)

    def _watch(self, tracked: _Tracked) -> None:
        loop = asyncio.get_running_loop()
        for pid in list(tracked.supervisor.waiters):
            if pid in tracked.pidfds:
                continue
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                self._waiter_gone(tracked, pid)
                continue
            tracked.pidfds[pid] = fd
            loop.add_reader(fd, self._waiter_exited, tracked, pid)

    def _unwatch(self, tracked: _Tracked) -> None:
        loop = asyncio.get_running_loop()
        for fd in tracked.pidfds.values():
            loop.remove_reader(fd)
            os.close(fd)
        tracked.pidfds.clear()
        if tracked.timer is not None:
            tracked.timer.cancel()
        for helper in tracked.helpers:
            helper.cancel()

    def _waiter_exited(self, tracked: _Tracked, pid: int) -> None:
        fd = tracked.pidfds.pop(pid)
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        self._waiter_gone(tracked, pid)
        self._advance(tracked)

    def _waiter_gone(self, tracked: _Tracked, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # ours unless we were restarted since it started
        tracked.supervisor.waiter_exited(pid, self.clock())

    def _report_progress(self, tracked: _Tracked) -> None:
        supervisor = tracked.supervisor
        phase = supervisor.planner.phase
        if phase not in (Phase.ACTIVE, Phase.CLEANING):
            tracked.stopped.set()
        if phase in TERMINAL_REPORTS:
            self._report(tracked, TERMINAL_REPORTS[phase], supervisor.planner.message)
            if not supervisor.waiters:
                # Waiters of runs killed at the end are still watched, to be reaped and
                # recorded; once they are gone the task holds no descriptor.
                self._unwatch(tracked)
                supervisor.close()
        elif (
            phase is Phase.ACTIVE
            and tracked.reported in (None, TaskState.STARTING)
            and (tracked.health is None or tracked.health.health is Health.HEALTHY)
        ):
            self._report(tracked, TaskState.RUNNING, None)

    def _report(self, tracked: _Tracked, state: TaskState, message: str | None) -> None:
        if tracked.reported == state:
            return
        tracked.reported = state
        paths = tracked.supervisor.paths
        paths.reported.write_text(state.value)
        log.info("task=%s event=status state=%s message=%s", paths.task_id, state, message)
        self._send_update(paths.task_id, state, message)

    def _send_update(self, task_id: str, state: TaskState, message: str | None) -> None:
        update = protocol.StatusUpdate(
            seq=0, task_id=task_id, state=state, timestamp_ms=self.clock(), message=message
        )
        numbered = self.outbox.add(update)
        if self._send_queue is not None:
            self._send_queue.put_nowait(protocol.encode(numbered))

    # The scheduler.

    def hello(self) -> protocol.Hello:
        inventory = {
            task_id: tracked.reported or TaskState.STARTING
            for task_id, tracked in self.tasks.items()
        }
        return protocol.Hello(
            agent_id=self.agent_id,
            hostname=self.config.hostname,
            attributes=self.config.attributes,
            resources=self.config.resources,
            ports=self.config.ports,
            inventory=inventory,
        )

    async def _connection_loop(self) -> None:
        url = connect_url(self.config.scheduler_url)
        headers = {}
        if self.config.credential:
            headers["Authorization"] = f"Bearer {self.config.credential}"
        backoff = RECONNECT_MIN_S
        while True:
            try:
                async with websockets.connect(
                    url, additional_headers=headers, max_size=None
                ) as connection:
                    backoff = RECONNECT_MIN_S
                    await self._converse(connection)
            except (OSError, websockets.WebSocketException, msgspec.DecodeError) as error:
                log.warning("event=disconnected url=%s error=%r", url, error)
            finally:
                self._send_queue = None
                self.connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(RECONNECT_MAX_S, backoff * 2)

    async def _converse(self, connection: websockets.ClientConnection) -> None:
        await connection.send(protocol.encode(self.hello()))
        welcome = protocol.decode_from_scheduler(await connection.recv())
        if not isinstance(welcome, protocol.Welcome):
            raise msgspec.DecodeError(f"expected a welcome, got {type(welcome).__name__}")
        self.heartbeat_interval_s = welcome.heartbeat_interval_ms / 1000
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        # No await between reading the backlog and opening the queue: no update can slip by.
        for update in self.outbox.unacked_after(welcome.applied_seq):
            queue.put_nowait(protocol.encode(update))
        self._send_queue = queue
        self.connected.set()
        log.info("event=connected agent=%s backlog=%d", self.agent_id, queue.qsize())
        # The helpers and sandbox requests belong to this connection and end with it.
        helpers = {
            asyncio.create_task(self._sender(connection, queue)),
            asyncio.create_task(self._heartbeats(queue)),
        }
        try:
            async for frame in connection:
                message = protocol.decode_from_scheduler(frame)
                if isinstance(message, protocol.ListFiles | protocol.ReadFile):
                    request = asyncio.create_task(self._answer(message, queue))
                    helpers.add(request)
                    request.add_done_callback(helpers.discard)
                else:
                    self._on_message(message)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _answer(
        self, request: protocol.ListFiles | protocol.ReadFile, queue: asyncio.Queue[bytes]
    ) -> None:
        reply: protocol.Message
        tracked = self.tasks.get(request.task_id)
        try:
            if tracked is None:
                raise SandboxPathError(f"no task {request.task_id} on agent {self.agent_id}")
            root = tracked.supervisor.paths.root
            if isinstance(request, protocol.ListFiles):
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
            queue.put_nowait(protocol.encode(protocol.Heartbeat(timestamp_ms=self.clock())))

    def _on_message(self, message: protocol.SchedulerMessage) -> None:
        if isinstance(message, protocol.Launch):
            self.launch(message)
        elif isinstance(message, protocol.Kill):
            self.kill(message)
        elif isinstance(message, protocol.Ack):
            self.outbox.ack(message.seq)
        elif isinstance(message, protocol.Welcome):
            log.warning("event=unexpected_welcome")
