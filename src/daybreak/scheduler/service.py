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
from daybreak.model.api import Quota, TaskSummary
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES, TERMINAL_STATES, TaskState
from daybreak.model.update import ConfigId, JobUpdate, UpdatePlan, UpdateProgress
from daybreak.scheduler.agent_requests import (
    REPLY_TIMEOUT_S,
    AgentRequests,
    AgentUnavailableError,
)
from daybreak.scheduler.events import EventHub
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.scheduler.updates import JobUpdates
from daybreak.store import Changes, Snapshot, Store, StoredAgent
from daybreak.store.writer import StoreWriter

log = logging.getLogger("daybreak.scheduler")

# What a restart applies to: instances placed on an agent (a PENDING one has nothing to restart).
RESTARTABLE = frozenset({TaskState.ASSIGNED, TaskState.STARTING, TaskState.RUNNING})

# Queues one protocol message for a connected agent.
Sender = Callable[[protocol.Message], None]


class JobNotFoundError(DaybreakError):
    def __init__(self, key: JobKey) -> None:
        super().__init__(f"no job {key}: `daybreak job list {key.cluster}` shows the jobs")


class TaskNotFoundError(DaybreakError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task {task_id!r}: `daybreak job status` shows a job's tasks")


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
    """A connected agent: how to reach it, how to hang up on it, and when it last spoke."""

    send: Sender
    hang_up: Callable[[], None]
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
        self.updates = JobUpdates()
        self.quotas: dict[str, Quota] = {}
        self.agents: dict[str, StoredAgent] = {}
        self.links: dict[str, AgentLink] = {}
        # Agents gone silent, and since when (they become lost after the timeout).
        self.silent_since: dict[str, int] = {}
        self.requests = AgentRequests()
        self.events = EventHub(self.summarize)
        self.rounds = 0  # scheduling rounds run, and the seconds they took, for /metrics
        self.round_seconds = 0.0
        self._round_wanted = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    # Starting and stopping.

    def load(self) -> None:
        self._apply(self.store.load())

    def _apply(self, snapshot: Snapshot) -> None:
        """Make the in-memory state that of `snapshot`: at start, and after a restore."""
        now = self.clock()
        self.cluster = Cluster(self.config.core, new_task_id=new_task_id)
        self.agents = dict(snapshot.agents)
        self.quotas = dict(snapshot.quotas)
        self.jobs = {spec.key: spec for spec in snapshot.jobs.values()}
        self.updates.load(snapshot.updates)
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
        deleted: dict[str, JobKey] = {}
        for effect in effects:
            if isinstance(effect, SaveTask):
                changes.tasks[effect.task.task_id] = effect.task
            elif isinstance(effect, DeleteTask):
                changes.tasks[effect.task_id] = None
                deleted[effect.task_id] = effect.job
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
        self.events.publish(changes, deleted)
        for agent_id, message in sends:
            link = self.links.get(agent_id)
            if link is not None:
                link.send(message)
            # An agent not connected hears of it when it reconnects: reconciliation kills
            # what should not run, and a launch it never got times out to LOST.

    def carry_out_later(
        self,
        effects: list[Effect],
        changes: Changes | None = None,
        then: Callable[[], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        """`carry_out` without waiting, for callers that must not block (an agent's reader);
        `then` runs once it is done, `on_failure` if it could not be made durable."""

        async def run() -> None:
            try:
                await self.carry_out(effects, changes)
            except Exception:
                log.exception("event=commit_failed")
                if on_failure is not None:
                    on_failure()
                return
            if then is not None:
                then()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def summarize(self, task: ScheduledTask) -> TaskSummary:
        reason = self.cluster.pending_reasons.get(task.task_id)
        stored = None if task.agent_id is None else self.agents.get(task.agent_id)
        return TaskSummary.of(
            task, None if reason is None else str(reason), None if stored is None else stored.info
        )

    def want_round(self) -> None:
        self._round_wanted.set()

    async def _scheduling_loop(self) -> None:
        interval_s = 1.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._round_wanted.wait(), interval_s)
            self._round_wanted.clear()
            started = time.perf_counter()
            now = self.clock()
            effects = self.cluster.tick(now)
            # Updates first: the tasks they add are placed in the same round.
            updated, changes = self.updates.evaluate(self.cluster, self.jobs, now)
            effects += updated
            effects += schedule(self.cluster, now)
            self.rounds += 1
            self.round_seconds += time.perf_counter() - started
            try:
                await self.carry_out(effects, changes)
            except Exception:
                log.exception("event=round_failed")

    # Agents.

    def agent_connected(
        self, hello: protocol.Hello, send: Sender, hang_up: Callable[[], None]
    ) -> protocol.Welcome:
        now = self.clock()
        info = AgentInfo(
            agent_id=hello.agent_id,
            hostname=hello.hostname,
            attributes=hello.attributes,
            resources=hello.resources,
            ports=hello.ports,
            address=hello.address,
            work_dir=hello.work_dir,
        )
        stored = self.agents.get(hello.agent_id)
        stored = (
            StoredAgent(info=info) if stored is None else msgspec.structs.replace(stored, info=info)
        )
        self.agents[hello.agent_id] = stored
        previous = self.links.get(hello.agent_id)
        if previous is not None:
            previous.hang_up()  # an agent restarted before its old connection timed out
        self.links[hello.agent_id] = AgentLink(send=send, hang_up=hang_up, last_seen_ms=now)
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
            self.requests.agent_gone(agent_id)
            self.silent_since[agent_id] = self.clock()
            log.info("event=agent_disconnected agent=%s", agent_id)

    def hang_up(self, agent_id: str) -> None:
        """Close an agent's connection; it reconnects, says hello and is reconciled."""
        link = self.links.get(agent_id)
        if link is not None:
            link.hang_up()
            self.agent_disconnected(agent_id, link.send)

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

        def start_over() -> None:
            # Not durable, so not acknowledged: the agent reconnects and offers it again, and
            # it must not be taken for one already applied.
            latest = self.agents[agent_id]
            applied = min(latest.applied_seq, update.seq - 1)
            self.agents[agent_id] = msgspec.structs.replace(latest, applied_seq=applied)
            self.hang_up(agent_id)

        self.carry_out_later(
            effects, Changes(agents={agent_id: stored}), then=acknowledge, on_failure=start_over
        )
        task = self.cluster.tasks.get(update.task_id)
        if update.state in TERMINAL_STATES or (
            task is not None and task.job in self.updates.active
        ):
            self.want_round()

    def heartbeat(self, agent_id: str, heartbeat: protocol.Heartbeat) -> None:
        link = self.links.get(agent_id)
        if link is not None:
            link.last_seen_ms = self.clock()

    async def ask_agent(
        self,
        task_id: str,
        make: Callable[[int], protocol.TaskRequest],
        timeout_s: float = REPLY_TIMEOUT_S,
    ) -> protocol.AgentReply:
        """Ask the agent of task `task_id` about it (its processes, its files)."""
        task = self.cluster.tasks.get(task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        if task.agent_id is None:
            raise AgentUnavailableError(f"task {task_id} is {task.state.name}: it has no agent")
        link = self.links.get(task.agent_id)
        send = None if link is None else link.send
        return await self.requests.ask(task.agent_id, send, make, timeout_s)

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
                    # Connected but mute: hang up; the agent must reconnect and say hello.
                    log.warning("event=agent_mute agent=%s", agent_id)
                    self.hang_up(agent_id)
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
        self.updates.refuse_while_updating(key, "create")
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
        self.updates.refuse_while_updating(key, "kill instances of")
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

    async def restart_instances(
        self, key: JobKey, instances: Iterable[int] | None, message: str | None
    ) -> list[str]:
        """Kill running instances so that each comes back as a new task, same config."""
        if key not in self.jobs:
            raise JobNotFoundError(key)
        self.updates.refuse_while_updating(key, "restart")
        tasks = [t for t in self.active_tasks(key, instances) if t.state in RESTARTABLE]
        effects = self.cluster.restart_tasks(
            [task.task_id for task in tasks], self.clock(), message or "Restarted by request"
        )
        await self.carry_out(effects)
        log.info("event=job_restarted job=%s tasks=%d", key, len(tasks))
        self.want_round()
        return [task.task_id for task in tasks]

    async def add_instances(self, key: JobKey, count: int) -> list[int]:
        """Grow a job by `count` instances of its config, numbered after the highest."""
        spec = self.jobs.get(key)
        if spec is None:
            raise JobNotFoundError(key)
        if count < 1:
            raise InvalidParameterError(f"cannot add {count} instances; add at least 1")
        self.updates.refuse_while_updating(key, "add instances to")
        highest = max((t.instance for t in self.active_tasks(key)), default=-1)
        first = max(spec.instances, highest + 1)
        grown = msgspec.structs.replace(spec, instances=first + count)
        self._check_quota(grown, grown.instances)
        added = list(range(first, first + count))
        effects = self.cluster.add_instances(grown, added, self.clock())
        self.jobs[key] = grown
        await self.carry_out(effects, Changes(jobs={str(key): grown}))
        log.info("event=instances_added job=%s instances=%s", key, added)
        self.want_round()
        return added

    # Updates.

    async def start_update(
        self, spec: JobSpec, scope: Iterable[int] | None, user: str | None, message: str | None
    ) -> JobUpdate | None:
        """Roll the job to `spec` (on the instances of `scope`, or all); None if that changes
        nothing. The update goes on in the scheduling rounds."""
        key = spec.key
        planned = self.plan_update(spec, scope)
        if planned is None:
            return None
        plan, configs = planned
        self._check_quota(spec, max(spec.instances, len(self.active_tasks(key))))
        update = self.updates.begin(
            spec=spec, plan=plan, configs=configs, scope=scope, user=user, message=message,
            now=self.clock(),
        )  # fmt: skip
        await self.carry_out([], Changes(updates={update.update_id: update}))
        self.want_round()
        return update

    def plan_update(
        self, spec: JobSpec, scope: Iterable[int] | None
    ) -> tuple[UpdatePlan, dict[ConfigId, JobSpec]] | None:
        """What updating the job to `spec` would change, without changing anything."""
        if spec.key not in self.jobs and not self.active_tasks(spec.key):
            raise JobNotFoundError(spec.key)
        return self.updates.plan(spec, self.cluster.job_tasks(spec.key), scope)

    async def change_update(
        self,
        key: JobKey,
        change: Callable[[UpdatePlan, UpdateProgress], UpdateProgress],
        user: str | None,
        message: str | None,
    ) -> JobUpdate:
        """A person's operation on the job's active update (pause, resume, abort, ...)."""
        update = self.updates.operate(key, change, user, message, self.clock())
        await self.carry_out([], Changes(updates=self.updates.changes_for(update)))
        self.want_round()
        return update

    # Operating the cluster.

    async def set_quota(self, role: str, quota: Quota) -> None:
        self.quotas[role] = quota
        await self.carry_out([], Changes(quotas={role: quota}))
        log.info("event=quota_set role=%s quota=%s", role, quota)

    def agent_ids(self, hosts: Iterable[str]) -> list[str]:
        """The agents named by `hosts`, each an agent id or a hostname."""
        by_hostname = {stored.info.hostname: agent_id for agent_id, stored in self.agents.items()}
        found = []
        for host in hosts:
            agent_id = host if host in self.agents else by_hostname.get(host)
            if agent_id is None:
                known = ", ".join(sorted(by_hostname)[:10]) or "none"
                raise InvalidParameterError(f"unknown host {host!r}; known hosts: {known}")
            found.append(agent_id)
        return found

    async def set_maintenance(self, hosts: Iterable[str], mode: MaintenanceMode) -> list[str]:
        """Aurora's host maintenance: DRAINING moves tasks away, NONE returns the host."""
        agent_ids = self.agent_ids(hosts)
        now = self.clock()
        effects: list[Effect] = []
        changes = Changes()
        for agent_id in agent_ids:
            effects += self.cluster.set_maintenance(agent_id, mode, now)
            stored = msgspec.structs.replace(self.agents[agent_id], maintenance=mode)
            self.agents[agent_id] = stored
            changes.agents[agent_id] = stored
        await self.carry_out(effects, changes)
        log.info("event=maintenance mode=%s agents=%s", mode.name, ",".join(agent_ids))
        self.want_round()
        return agent_ids

    async def backup(self) -> bytes:
        return await self.writer.call(self.store.backup)

    async def restore(self, data: bytes) -> None:
        """Replace the whole state with a backup's. Agents are hung up on: each reconnects and
        is reconciled against the restored state, as after a scheduler restart."""
        snapshot = await self.writer.call(lambda: self.store.restore(data))
        self._apply(snapshot)
        for agent_id in list(self.links):
            self.hang_up(agent_id)
        log.info("event=restored tasks=%d jobs=%d", len(snapshot.tasks), len(snapshot.jobs))
        self.want_round()
