"""The scheduler: in-memory state that answers reads, the core that decides, the store that
remembers, and the agents that act.

Every change is made in memory by the core, then written to the store, and only then told to
anyone: a launch or kill goes to an agent, an acknowledgement to an agent's status update, an
answer to an API client. Work arriving meanwhile shares the next transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from daybreak.core.cluster import Cluster
from daybreak.core.effects import DeleteTask, Effect, LaunchTask, SaveTask
from daybreak.core.quota import Aggregate, check_quota, consumption
from daybreak.core.scheduling import schedule
from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import AgentInfo, MaintenanceMode
from daybreak.model.api import AgentSummary, JobStatus, JobSummary, TaskSummary
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES, TERMINAL_STATES, TaskState
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.store import Changes, Store, StoredAgent
from daybreak.store.records import Quota
from daybreak.store.writer import StoreWriter

log = logging.getLogger("daybreak.scheduler")

# Queues one protocol message for a connected agent.
Sender = Callable[[protocol.Message], None]


class JobNotFoundError(DaybreakError):
    def __init__(self, key: JobKey) -> None:
        super().__init__(f"no job {key}: `daybreak job list {key.cluster}` shows the jobs")


class JobExistsError(DaybreakError):
    def __init__(self, key: JobKey) -> None:
        super().__init__(
            f"job {key} already has active instances: kill it first "
            f"(`daybreak job killall {key}`), or change it with an update"
        )


def new_task_id(spec: JobSpec, instance: int) -> str:
    """Aurora's shape: when, whose, which instance, and a unique tail."""
    key = spec.key
    return (
        f"{int(time.time() * 1000)}-{key.role}-{key.environment}-{key.name}-{instance}-"
        f"{uuid.uuid4().hex[:12]}"
    )


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class AgentLink:
    """A connected agent: how to reach it, and when it last spoke."""

    send: Sender
    last_seen_ms: int


class Scheduler:
    def __init__(
        self, config: SchedulerConfig, store: Store, clock: Callable[[], int] = now_ms
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.writer = StoreWriter(store)
        self.cluster = Cluster(config.core, new_task_id=new_task_id)
        self.jobs: dict[JobKey, JobSpec] = {}
        self.quotas: dict[str, Quota] = {}
        self.agents: dict[str, StoredAgent] = {}
        self.links: dict[str, AgentLink] = {}
        # Agents gone silent, and since when (they become lost after the timeout).
        self.silent_since: dict[str, int] = {}
        self._round_wanted = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    # Starting and stopping.

    def load(self) -> None:
        snapshot = self.store.load()
        now = self.clock()
        self.agents = dict(snapshot.agents)
        self.quotas = dict(snapshot.quotas)
        self.jobs = {spec.key: spec for spec in snapshot.jobs.values()}
        self.cluster.restore(
            ((agent.info, agent.maintenance) for agent in self.agents.values()),
            snapshot.tasks,
            now,
        )
        # Every agent gets the timeout to reconnect before its tasks are given up.
        self.silent_since = dict.fromkeys(self.agents, now)
        log.info(
            "event=loaded tasks=%d jobs=%d agents=%d",
            len(snapshot.tasks),
            len(self.jobs),
            len(self.agents),
        )

    async def start(self) -> None:
        await asyncio.to_thread(self.load)
        self._loops = [
            asyncio.create_task(self._scheduling_loop()),
            asyncio.create_task(self._liveness_loop()),
        ]
        self.want_round()

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)
        self.writer.close()
        self.store.close()

    # Carrying out what the core decided.

    async def carry_out(self, effects: Iterable[Effect], changes: Changes | None = None) -> None:
        """Persist the effects' records (with `changes`), then send their launches and kills."""
        changes = changes or Changes()
        sends: list[tuple[str, protocol.Message]] = []
        for effect in effects:
            if isinstance(effect, SaveTask):
                changes.tasks[effect.task.task_id] = effect.task
            elif isinstance(effect, DeleteTask):
                changes.tasks[effect.task_id] = None
            elif isinstance(effect, LaunchTask):
                task = effect.task
                assert task.agent_id is not None
                launch = protocol.Launch(
                    task_id=task.task_id, spec=task.spec, instance=task.instance, ports=task.ports
                )
                sends.append((task.agent_id, launch))
            else:
                sends.append((effect.agent_id, protocol.Kill(task_id=effect.task_id)))
        await self.writer.commit(changes)
        for agent_id, message in sends:
            link = self.links.get(agent_id)
            if link is not None:
                link.send(message)
            # An agent not connected hears of it when it reconnects: reconciliation kills
            # what should not run, and a launch it never got times out to LOST.

    def carry_out_later(self, effects: list[Effect], changes: Changes | None = None,
                        then: Callable[[], None] | None = None) -> None:  # fmt: skip
        """`carry_out` without waiting, for callers that must not block (an agent's reader);
        `then` runs once it is done."""

        async def run() -> None:
            await self.carry_out(effects, changes)
            if then is not None:
                then()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def want_round(self) -> None:
        self._round_wanted.set()

    async def _scheduling_loop(self) -> None:
        interval_s = 1.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._round_wanted.wait(), interval_s)
            self._round_wanted.clear()
            now = self.clock()
            effects = self.cluster.tick(now)
            effects += schedule(self.cluster, now)
            try:
                await self.carry_out(effects)
            except Exception:
                log.exception("event=round_failed")

    # Agents.

    def agent_connected(self, hello: protocol.Hello, send: Sender) -> protocol.Welcome:
        now = self.clock()
        info = AgentInfo(
            agent_id=hello.agent_id,
            hostname=hello.hostname,
            attributes=hello.attributes,
            resources=hello.resources,
            ports=hello.ports,
        )
        stored = self.agents.get(hello.agent_id)
        stored = (
            StoredAgent(info=info) if stored is None else msgspec.structs.replace(stored, info=info)
        )
        self.agents[hello.agent_id] = stored
        self.links[hello.agent_id] = AgentLink(send=send, last_seen_ms=now)
        self.silent_since.pop(hello.agent_id, None)
        effects = self.cluster.register_agent(info, now)
        self.cluster.fleet.set_maintenance(hello.agent_id, stored.maintenance)
        effects += self.cluster.reconcile_agent(hello.agent_id, hello.inventory, now)
        self.carry_out_later(effects, Changes(agents={hello.agent_id: stored}))
        log.info(
            "event=agent_connected agent=%s host=%s inventory=%d",
            hello.agent_id,
            hello.hostname,
            len(hello.inventory),
        )
        self.want_round()
        return protocol.Welcome(
            heartbeat_interval_ms=self.config.heartbeat_interval_ms,
            applied_seq=stored.applied_seq,
        )

    def agent_disconnected(self, agent_id: str, send: Sender) -> None:
        link = self.links.get(agent_id)
        if link is not None and link.send is send:
            del self.links[agent_id]
            self.silent_since[agent_id] = self.clock()
            log.info("event=agent_disconnected agent=%s", agent_id)

    def status_update(self, agent_id: str, update: protocol.StatusUpdate) -> None:
        """Apply an agent's report; the agent hears `Ack` once it is durable."""
        link = self.links.get(agent_id)
        stored = self.agents[agent_id]
        if link is not None:
            link.last_seen_ms = self.clock()
        if update.seq <= stored.applied_seq:
            if link is not None:
                link.send(protocol.Ack(seq=stored.applied_seq))
            return
        effects = self.cluster.status_update(
            agent_id, update.task_id, update.state, self.clock(), update.message
        )
        stored = msgspec.structs.replace(stored, applied_seq=update.seq)
        self.agents[agent_id] = stored

        def acknowledge() -> None:
            current = self.links.get(agent_id)
            if current is not None:
                current.send(protocol.Ack(seq=update.seq))

        self.carry_out_later(effects, Changes(agents={agent_id: stored}), then=acknowledge)
        if update.state in TERMINAL_STATES:
            self.want_round()

    def heartbeat(self, agent_id: str, heartbeat: protocol.Heartbeat) -> None:
        link = self.links.get(agent_id)
        if link is not None:
            link.last_seen_ms = self.clock()

    async def _liveness_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_ms / 1000)
            now = self.clock()
            timeout = self.config.agent_timeout_ms
            effects: list[Effect] = []
            for agent_id, since in list(self.silent_since.items()):
                if now - since >= timeout:
                    del self.silent_since[agent_id]
                    log.warning("event=agent_lost agent=%s", agent_id)
                    effects += self.cluster.agent_lost(agent_id, now)
            for agent_id, link in list(self.links.items()):
                if now - link.last_seen_ms >= timeout:
                    # Connected but mute: drop the link; the agent must reconnect.
                    self.agent_disconnected(agent_id, link.send)
            if effects:
                await self.carry_out(effects)
                self.want_round()

    # Jobs.

    async def create_job(self, spec: JobSpec) -> None:
        key = spec.key
        if key.cluster != self.config.cluster:
            raise InvalidParameterError(
                f"job {key} names cluster {key.cluster!r}, but this scheduler runs cluster "
                f"{self.config.cluster!r}"
            )
        if any(task.state in ACTIVE_STATES for task in self.cluster.job_tasks(key)):
            raise JobExistsError(key)
        self._check_quota(spec, spec.instances)
        now = self.clock()
        effects = self.cluster.add_instances(spec, range(spec.instances), now)
        self.jobs[key] = spec
        await self.carry_out(effects, Changes(jobs={str(key): spec}))
        log.info("event=job_created job=%s instances=%d", key, spec.instances)
        self.want_round()

    def _check_quota(self, spec: JobSpec, instances: int) -> None:
        quota = self.quotas.get(spec.key.role)
        limit = None if quota is None else Aggregate(quota.cpu, quota.ram_mb, quota.disk_mb)
        used = consumption(self.cluster.tasks.values(), spec.key.role, excluding=spec.key)
        check_quota(spec, instances, used, limit)

    def active_tasks(
        self, key: JobKey, instances: Iterable[int] | None = None
    ) -> list[ScheduledTask]:
        wanted = None if instances is None else set(instances)
        return [
            task
            for task in self.cluster.job_tasks(key)
            if task.state in ACTIVE_STATES and (wanted is None or task.instance in wanted)
        ]

    async def kill_job(
        self, key: JobKey, instances: Iterable[int] | None, message: str | None
    ) -> list[str]:
        if key not in self.jobs and not self.cluster.job_tasks(key):
            raise JobNotFoundError(key)
        tasks = self.active_tasks(key, instances)
        now = self.clock()
        effects = self.cluster.kill_tasks(
            [task.task_id for task in tasks], now, message or "Killed by request"
        )
        changes = Changes()
        if instances is None or not self.active_tasks(key):
            # Nothing of the job is meant to run any more: only its history remains.
            self.jobs.pop(key, None)
            changes.jobs[str(key)] = None
        await self.carry_out(effects, changes)
        log.info("event=job_killed job=%s tasks=%d", key, len(tasks))
        self.want_round()
        return [task.task_id for task in tasks]

    # Reading.

    def job_status(self, key: JobKey) -> JobStatus:
        tasks = self.cluster.job_tasks(key)
        if not tasks and key not in self.jobs:
            raise JobNotFoundError(key)
        reasons = self.cluster.pending_reasons
        active: list[TaskSummary] = []
        finished: list[TaskSummary] = []
        for task in sorted(tasks, key=lambda t: (t.instance, t.last_event_ms)):
            reason = reasons.get(task.task_id)
            summary = TaskSummary.of(task, None if reason is None else str(reason))
            (finished if task.state in TERMINAL_STATES else active).append(summary)
        return JobStatus(
            key=key, spec=self.jobs.get(key), active=tuple(active), finished=tuple(finished)
        )

    def agent_summaries(self) -> list[AgentSummary]:
        fleet = self.cluster.fleet
        summaries = []
        for agent_id, stored in sorted(self.agents.items()):
            row = fleet.index.get(agent_id)
            summaries.append(
                AgentSummary(
                    agent_id=agent_id,
                    hostname=stored.info.hostname,
                    attributes=stored.info.attributes,
                    resources=stored.info.resources,
                    online=agent_id in self.links,
                    maintenance=MaintenanceMode(int(fleet.maintenance[row])).name
                    if row is not None
                    else stored.maintenance.name,
                    tasks=len(self.cluster.by_row.get(row, ())) if row is not None else 0,
                )
            )
        return summaries

    def job_summaries(self, role: str | None = None) -> list[JobSummary]:
        keys = set(self.jobs) | set(self.cluster.by_job)
        summaries = []
        for key in sorted(keys, key=str):
            if role is not None and key.role != role:
                continue
            states: dict[TaskState, int] = {}
            for task in self.cluster.job_tasks(key):
                if task.state in ACTIVE_STATES:
                    states[task.state] = states.get(task.state, 0) + 1
            spec = self.jobs.get(key)
            instances = spec.instances if spec is not None else sum(states.values())
            summaries.append(JobSummary(key=key, instances=instances, states=states))
        return summaries
