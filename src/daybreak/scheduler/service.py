"""The scheduler's shell: commands in, `Ready`s out, carried out in order.

Everything that would change the state (an API request, an agent's message, time passing)
becomes a command for the core (`daybreak.core.state`), handled at once on the event loop.
What the core decides is carried out by the `Carrier`: persisted, then made visible to reads
and followers, then sent to agents, then answered. Reads go to the read model, which follows
the store.

Every loop has an owner: `run` holds them in one task group, and a failed write or a failed
decision ends `run` with the cause, which ends the process (see `daybreak.server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from daybreak.core.commands import (
    AgentDisconnected,
    AgentHeartbeat,
    AgentHello,
    AgentStatus,
    Command,
    CoordinatorAnswer,
    Listening,
    Tick,
)
from daybreak.core.ids import IdSource
from daybreak.core.ready import Ready
from daybreak.core.state import Liveness, SchedulerState
from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol
from daybreak.model.credentials import hash_token
from daybreak.model.jobspec import JobSpec
from daybreak.scheduler.agent_requests import (
    REPLY_TIMEOUT_S,
    AgentRequests,
    AgentUnavailableError,
    Reply,
)
from daybreak.scheduler.audit import AuditTrail
from daybreak.scheduler.carrier import Carrier, Outlets
from daybreak.scheduler.clock import Clock, SystemClock
from daybreak.scheduler.coordinators import Coordinators
from daybreak.scheduler.events import EventHub
from daybreak.scheduler.read_model import ReadModel
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.scheduler.usage_samples import UsageSamples
from daybreak.scheduler.workload import WorkloadIdentities
from daybreak.store import Store
from daybreak.store.writer import StoreWriter

log = logging.getLogger("daybreak.scheduler")

# Queues one protocol message for a connected agent.
Sender = Callable[[protocol.Message], None]


class TaskNotFoundError(DaybreakError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task {task_id!r}: `daybreak job status` shows a job's tasks")


class SchedulerStoppingError(DaybreakError):
    """The scheduler stopped taking commands (a write or a decision failed): ask again once it,
    or a standby, is back."""


class DecisionFailedError(Exception):
    """The core raised on a command: a bug. The scheduler stops rather than run on a state
    that may be half changed."""


class UuidIds:
    """Aurora's task id shape: when, whose, which instance, and a unique tail."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def task_id(self, spec: JobSpec, instance: int) -> str:
        key = spec.key
        return (
            f"{self.clock.now()}-{key.role}-{key.environment}-{key.name}-{instance}-"
            f"{uuid.uuid4().hex[:12]}"
        )

    def update_id(self) -> str:
        return str(uuid.uuid4())


@dataclass
class AgentLink:
    """A connected agent: its connection's number, how to reach it, how to hang up on it."""

    connection: int
    send: Sender
    hang_up: Callable[[], None]
    protocol: int = protocol.PROTOCOL_VERSION  # the agent's version, from its hello


class Scheduler:
    def __init__(
        self,
        config: SchedulerConfig,
        store: Store,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        epoch: int | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.store = store
        # The leadership epoch this scheduler writes under (None: unfenced, for tests).
        self.epoch = epoch
        self.writer = StoreWriter(store, epoch)
        self.audit = AuditTrail(self.writer, config.audit_retention_ms, self.clock.now)
        liveness = Liveness(
            config.heartbeat_interval_ms,
            config.agent_timeout_ms,
            config.disruption_share,
            heartbeat_budget_per_s=config.heartbeat_budget_per_s,
        )
        self.state = SchedulerState(
            config.cluster, config.core, liveness, ids or UuidIds(self.clock)
        )
        self.links: dict[str, AgentLink] = {}
        self._connections = 0
        self.heartbeats = 0  # received, for /metrics
        self.usage = UsageSamples(config.usage_step_ms, config.usage_window_ms)
        self.requests = AgentRequests()
        self.view = ReadModel(
            # The cluster is replaced on a restore: look it up each time.
            pending_reason=lambda task_id: self.state.cluster.pending_reasons.get(task_id),  # noqa: PLW0108
            online=lambda agent_id: agent_id in self.links,
            cron_zone=config.core.cron_zone,
            drain_waits=lambda agent_id: self.state.drain_waits.get(agent_id, {}),
            throttled_until=lambda task_id: self.state.cluster.throttled_until.get(task_id),  # noqa: PLW0108
        )
        self.events = EventHub(self.view.summarize)
        self.coordinators = Coordinators(self.view, self._coordinator_answered,
                                         config.coordinator_timeout_s)  # fmt: skip
        self.carrier = Carrier(self.writer, self.view, self.events,
                               Outlets(send=self._send, hang_up=self.hang_up,
                                       ask_coordinator=self.coordinators.ask),
                               log_transitions=config.log_format == "json")  # fmt: skip
        # Tasks' credentials, once the store has given the cluster's key (`load`).
        self.identities: WorkloadIdentities | None = None
        self.rounds = 0  # scheduling rounds run, and the seconds they took, for /metrics
        self.round_seconds = 0.0
        self._wake_at = 0
        self._rewake = asyncio.Event()

    # Starting and stopping.

    async def load(self) -> None:
        snapshot = await self.writer.call(self.store.load)
        key = await self.writer.call(self.store.signing_key)
        self.identities = WorkloadIdentities(
            key, self.config.workload_credential_ttl_ms, self.view, self.clock.now
        )
        self.state.load(snapshot, self.clock.now())
        self.view.load(snapshot)
        log.info("event=loaded tasks=%d jobs=%d agents=%d",
                 len(snapshot.tasks), len(snapshot.jobs), len(snapshot.agents))  # fmt: skip

    async def run(self) -> None:
        """Carry out decisions and keep time until cancelled, or until a write or a decision
        fails: then raise, having carried out nothing more."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.carrier.run(), name="carrier")
                group.create_task(self._timer(), name="timer")
                group.create_task(self._renew_credentials(), name="credentials")
        except BaseExceptionGroup:
            failure = self.carrier.failure
            if failure is not None:
                # The cause, whichever loop saw it, with the cause it has itself.
                raise failure from failure.__cause__
            raise

    def listening(self) -> None:
        """Agents can reach the scheduler from now: their reconnect timeouts start here."""
        self.tell(Listening())

    def hang_up_everyone(self) -> None:
        """At the end of a term: every agent reconnects, to whoever leads next."""
        for agent_id in list(self.links):
            link = self._drop_link(agent_id)
            if link is not None:
                link.hang_up()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[asyncio.Task[None]]:
        """Run (once loaded), and stop at the end; for embedding in a server or a test. The
        task yielded is `run`'s: it ends with the cause if the scheduler stops on its own,
        which the caller reads from it."""
        task = asyncio.create_task(self.run(), name="scheduler")
        try:
            yield task
        finally:
            task.cancel()
            # Its failure, if any, is the caller's to read from the task.
            await asyncio.gather(task, return_exceptions=True)
            await self.coordinators.close()
            self.hang_up_everyone()
            await self.audit.flushed()
            # The store is its owner's to close; the writer, ours.
            await asyncio.to_thread(self.writer.close)

    # Commands.

    def tell(self, command: Command) -> None:
        """Hand `command` to the core now, and what it decides to the carrier; nobody waits
        for it (an agent's message, a tick). A refusal is raised here, having changed
        nothing."""
        ready = self._decide(command)
        if (ready.reply is not None or ready.durable or ready.sends or ready.hang_ups
                or ready.logs or ready.coordinator_asks):  # fmt: skip
            self.carrier.hand_over(ready)

    def _coordinator_answered(self, answer: CoordinatorAnswer) -> None:
        # A scheduler that stops takes no answer; the next leader asks again.
        with contextlib.suppress(SchedulerStoppingError):
            self.tell(answer)

    async def ask(self, command: Command) -> Any:
        """Hand `command` to the core, and return its reply once its changes are durable and
        carried out. A refusal is raised, having changed nothing."""
        ready = self._decide(command)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.carrier.hand_over(ready, answer)
        try:
            return await answer
        except DaybreakError:
            raise
        except Exception as error:
            raise SchedulerStoppingError(f"the scheduler is stopping: {error}") from error

    def _decide(self, command: Command) -> Ready:
        if self.carrier.failure is not None:
            raise SchedulerStoppingError(f"the scheduler is stopping: {self.carrier.failure}")
        started = time.perf_counter()
        try:
            ready = self.state.handle(command, self.clock.now())
        except DaybreakError:
            raise
        except Exception as error:
            failure = DecisionFailedError(f"deciding {_describe(command)} failed: {error!r}")
            failure.__cause__ = error
            log.exception("event=decision_failed command=%s", _describe(command))
            self.carrier.stop(failure)
            raise SchedulerStoppingError(str(failure)) from error
        if isinstance(command, Tick):
            self.rounds += 1
            self.round_seconds += time.perf_counter() - started
            self._wake_at = ready.wake_at if ready.wake_at is not None else self._wake_at
        elif ready.wake_at is not None and ready.wake_at < self._wake_at:
            self._wake_at = ready.wake_at
            self._rewake.set()
        return ready

    async def _timer(self) -> None:
        while True:
            await self.clock.sleep_until(self._wake_at, self._rewake)
            self._rewake.clear()
            if self.clock.now() >= self._wake_at:
                # One round at a time: the next is decided once this one's changes are
                # carried out (a round walks every updating job; a status storm would run
                # one per report otherwise).
                await self.ask(Tick())

    # Agents.

    def agent_connected(
        self, hello: protocol.Hello, send: Sender, hang_up: Callable[[], None]
    ) -> None:
        """Take the agent's hello; a refusal (its id is another agent's) is raised, and the
        agent's current connection, if any, is left alone."""
        connection = self._connections + 1
        # Decided at once; carried out (the welcome sent) only after the link is in place.
        secret_hash = hash_token(hello.secret) if hello.secret else None
        self.tell(AgentHello(hello, connection, secret_hash))
        self._connections = connection
        previous = self.links.get(hello.agent_id)
        if previous is not None:
            previous.hang_up()  # an agent restarted before its old connection timed out
        self.links[hello.agent_id] = AgentLink(connection, send, hang_up, hello.protocol)

    def agent_disconnected(self, agent_id: str, send: Sender) -> None:
        link = self.links.get(agent_id)
        if link is not None and link.send is send:
            self._drop_link(agent_id)
            self.tell(AgentDisconnected(agent_id, link.connection))

    def status_update(self, agent_id: str, update: protocol.StatusUpdate) -> None:
        """Apply an agent's report; the agent hears `Ack` once it is durable."""
        self.tell(AgentStatus(agent_id, update))

    def heartbeat(self, agent_id: str, usage: tuple[protocol.TaskUsage, ...] = ()) -> None:
        self.heartbeats += 1
        self.usage.record(agent_id, self.clock.now(), usage)
        self.tell(AgentHeartbeat(agent_id))

    def _send(self, agent_id: str, message: protocol.Message) -> None:
        link = self.links.get(agent_id)
        # An agent not connected hears of it when it reconnects: reconciliation kills
        # what should not run, and sends again a launch it never got.
        if link is None:
            return
        if isinstance(message, protocol.Launch) and self.identities is not None:
            message = self.identities.for_launch(message)  # signed as it leaves: fresh
        link.send(message)
        if isinstance(message, protocol.Welcome):
            # The tasks it held while away may have outlived their credentials.
            self._send_credentials(agent_id, link)

    def _send_credentials(self, agent_id: str, link: AgentLink) -> None:
        if self.identities is None or link.protocol < protocol.CREDENTIALS_SINCE:
            return
        renewal = self.identities.renewal(agent_id)
        if renewal is not None:
            link.send(renewal)

    async def _renew_credentials(self) -> None:
        """Every task holds a credential that has not expired: fresh ones go to every agent
        well before the last expire (each is renewed twice in its life)."""
        never = asyncio.Event()
        every_ms = max(1000, self.config.workload_credential_ttl_ms // 3)
        while True:
            await self.clock.sleep_until(self.clock.now() + every_ms, never)
            for agent_id, link in list(self.links.items()):
                self._send_credentials(agent_id, link)

    def hang_up(self, agent_id: str) -> None:
        """Close an agent's connection; it reconnects, says hello and is reconciled."""
        link = self._drop_link(agent_id)
        if link is not None:
            link.hang_up()
            self.tell(AgentDisconnected(agent_id, link.connection))

    def _drop_link(self, agent_id: str) -> AgentLink | None:
        """Forget the agent's connection; questions waiting on it fail at once."""
        link = self.links.pop(agent_id, None)
        if link is not None:
            self.requests.agent_gone(agent_id)
        return link

    async def ask_agent(
        self,
        task_id: str,
        make: Callable[[int], protocol.TaskRequest],
        expect: type[Reply],
        timeout_s: float = REPLY_TIMEOUT_S,
    ) -> Reply:
        """Ask the agent of task `task_id` about it (its processes, its files); the answer
        is an `expect`, or the question fails."""
        task = self.view.tasks.get(task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        if task.agent_id is None:
            raise AgentUnavailableError(f"task {task_id} is {task.state.name}: it has no agent")
        link = self.links.get(task.agent_id)
        send = None if link is None else link.send
        return await self.requests.ask(task.agent_id, send, make, expect, timeout_s)

    async def backup(self) -> bytes:
        return await self.writer.call(self.store.backup)


def _describe(command: Command) -> str:
    text = repr(command)
    return text if len(text) <= 300 else text[:300] + "..."
