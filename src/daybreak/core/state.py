"""The scheduler's whole state, and the one way it changes: `handle(command, now) -> Ready`.

Jobs and their configs, tasks (`Cluster`), agents and their liveness (`Agents`), quotas,
maintenance and updates live here and nowhere else. A command either raises a `DaybreakError`
having changed nothing, or changes the state and says in its `Ready` what the shell must
persist, send, answer and log, and when to wake the core next. The shell persists before it
tells anyone anything, and stops if it cannot (see `daybreak.core.ready`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from daybreak.core import cron, drains, jobs
from daybreak.core.agents import (
    REQUESTED,
    AgentAction,
    Agents,
    Changed,
    Link,
    MaintenanceEvent,
)
from daybreak.core.cluster import Cluster
from daybreak.core.commands import (
    AddInstances,
    AgentDisconnected,
    AgentHeartbeat,
    AgentHello,
    AgentStatus,
    Command,
    CoordinatorAnswer,
    CreateJob,
    DescheduleCron,
    KillJob,
    Listening,
    OperateUpdate,
    RestartInstances,
    Restore,
    ScheduleCron,
    SetMaintenance,
    SetQuota,
    StartCron,
    StartUpdate,
    Tick,
)
from daybreak.core.effects import DeleteTask, Effect, LaunchTask, SaveTask
from daybreak.core.ids import IdSource, SequentialIds
from daybreak.core.pace import Pacer
from daybreak.core.ready import Ready
from daybreak.core.scheduling import schedule_round
from daybreak.core.settings import Settings
from daybreak.core.sla import check_terms
from daybreak.core.updates import JobUpdates
from daybreak.errors import AuthError, InvalidParameterError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import AgentInfo, DrainRequest
from daybreak.model.api import Quota
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.records import Snapshot
from daybreak.model.task_state import TERMINAL_STATES


@dataclass(frozen=True, slots=True)
class Liveness:
    """How often agents heartbeat, and how long one may stay silent before its tasks are
    given up."""

    heartbeat_interval_ms: int = 1000
    agent_timeout_ms: int = protocol.DEFAULT_AGENT_TIMEOUT_MS
    # No agent is given up while more than this share of them (and more than
    # `disruption_minimum`), or all of several, cannot be reached at once.
    disruption_share: float = 0.3
    disruption_minimum: int = 3
    # Heartbeats a second the whole fleet may send: a large fleet is told to beat less often
    # (and its timeout grows to match; see `daybreak.core.pace`).
    heartbeat_budget_per_s: float = 200.0

    @property
    def round_interval_ms(self) -> int:
        """Rounds run at least this often, so that timeouts are noticed in time."""
        return min(1000, self.heartbeat_interval_ms)

    @property
    def stall_ms(self) -> int:
        """A round this late means the scheduler itself stood still (paused, frozen, starved
        of CPU): it heard nobody meanwhile, and that silence is not the agents'."""
        return 5 * self.round_interval_ms


@dataclass(frozen=True, slots=True)
class Disruption:
    """Too many agents unreachable at once: none is given up meanwhile."""

    unreachable: int
    agents: int
    share: float  # the guard's threshold, a fraction of `agents`


Handler = Callable[["SchedulerState", Any, int, Ready], None]


class SchedulerState:
    def __init__(
        self,
        cluster_name: str,
        settings: Settings | None = None,
        liveness: Liveness | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.settings = settings or Settings()
        self.liveness = liveness or Liveness()
        self.ids: IdSource = ids or SequentialIds()
        self.cluster = Cluster(self.settings, self.ids)
        self.jobs: dict[JobKey, JobSpec] = {}
        self.updates = JobUpdates(self.ids.update_id)
        self.quotas: dict[str, Quota] = {}
        self.cron = cron.CronJobs()
        self.agents = Agents()
        # Draining agents' tasks that wait for their job's SLA: agent -> task -> why.
        self.drain_waits: dict[str, dict[str, str]] = {}
        self.coordination = drains.Coordination()
        # Agents whose tasks are held back from being given up, in a disruption (0: none).
        self.held_back = 0
        self.last_round_ms: int | None = None
        self.pacer = Pacer(
            self.liveness.heartbeat_interval_ms,
            self.liveness.agent_timeout_ms,
            self.liveness.heartbeat_budget_per_s,
        )

    def disruption(self) -> Disruption | None:
        """What the disruption guard holds back, while it does."""
        if not self.held_back:
            return None
        share = self.liveness.disruption_share
        return Disruption(self.held_back, self.agents.population(), share)

    # -- the entry point -----------------------------------------------------------------------

    def handle(self, command: Command, now: int) -> Ready:
        """Apply `command` at time `now`. A refused command raises and changes nothing."""
        ready = Ready()
        HANDLERS[type(command)](self, command, now, ready)
        return ready

    def carry(self, effects: Iterable[Effect], ready: Ready) -> None:
        """The task layer's effects, as writes and sends."""
        for effect in effects:
            if isinstance(effect, SaveTask):
                ready.writes.tasks[effect.task.task_id] = effect.task
            elif isinstance(effect, DeleteTask):
                ready.writes.tasks[effect.task_id] = None
                ready.deleted[effect.task_id] = effect.job
            elif isinstance(effect, LaunchTask):
                task = effect.task
                assert task.agent_id is not None  # ASSIGNED tasks have an agent
                launch = protocol.Launch(
                    task_id=task.task_id, spec=task.spec, instance=task.instance, ports=task.ports
                )
                ready.sends.append((task.agent_id, launch))
            else:
                ready.sends.append((effect.agent_id, protocol.Kill(task_id=effect.task_id)))

    # -- loading -------------------------------------------------------------------------------

    def load(self, snapshot: Snapshot, now: int) -> None:
        """Take the stored state (at start, or a restore). Agents are silent until they say
        hello; their tasks hold their resources meanwhile."""
        self.cluster = Cluster(self.settings, self.ids)
        self.jobs = {spec.key: spec for spec in snapshot.jobs.values()}
        self.quotas = dict(snapshot.quotas)
        self.updates = JobUpdates(self.ids.update_id)
        self.updates.load(snapshot.updates)
        self.cron.load(snapshot.cron.values(), now, self.settings)
        self.agents.restore(snapshot.agents, now)
        # Found again by the next round; questions to coordinators are asked again.
        self.drain_waits = {}
        self.coordination = drains.Coordination()
        # The whole known fleet will say hello: its pace (and so the grace each agent has to
        # come back) is sized for all of it from the start.
        self.pacer.settle(len(snapshot.agents))
        self.cluster.restore(
            ((agent.info, agent.maintenance) for agent in snapshot.agents.values()),
            snapshot.tasks,
        )

    def snapshot(self) -> Snapshot:
        """The state as the store should hold it (for tests that replay the writes)."""
        return Snapshot(
            tasks=sorted(self.cluster.tasks.values(), key=lambda t: t.task_id),
            jobs={str(key): spec for key, spec in self.jobs.items()},
            agents={record.info.agent_id: record.stored for record in self.agents},
            quotas=dict(self.quotas),
            updates=dict(self.updates.records),
            cron={str(key): record for key, record in self.cron.records.items()},
        )

    # -- agents --------------------------------------------------------------------------------

    def _hello(self, command: AgentHello, now: int, ready: Ready) -> None:
        hello = command.hello
        info = AgentInfo(
            agent_id=hello.agent_id, hostname=hello.hostname, attributes=hello.attributes,
            resources=hello.resources, ports=hello.ports, address=hello.address,
            work_dir=hello.work_dir, version=hello.version,
        )  # fmt: skip
        secret_hash = command.secret_hash
        known = self.agents.get(info.agent_id)
        if known is not None and known.link is not Link.LOST:
            claimed = known.stored.secret_hash
            if claimed is not None and claimed != secret_hash:
                raise AuthError(
                    f"agent {info.agent_id!r} is known by another secret: this is not the "
                    "agent that first connected with that id (a copied or reinstalled work "
                    "directory, or an impostor); its id is free again once it is LOST"
                )
        changed = self.agents.hello(info, command.connection, now, secret_hash)
        stored = changed.record.stored
        self.cluster.register_agent(info, now)
        self.cluster.fleet.set_maintenance(info.agent_id, stored.maintenance)
        ready.writes.agents[info.agent_id] = stored
        ready.sends.append((info.agent_id, self._welcome(stored.applied_seq)))
        if AgentAction.RECONCILE in changed.actions:
            self.carry(self.cluster.reconcile_agent(info.agent_id, hello.inventory, now), ready)
        ready.log("agent_connected", agent=info.agent_id, host=info.hostname,
                  inventory=len(hello.inventory))  # fmt: skip
        ready.wake(now)

    def _welcome(self, applied_seq: int) -> protocol.Welcome:
        pace = self.pacer.told
        return protocol.Welcome(
            heartbeat_interval_ms=pace.heartbeat_interval_ms,
            applied_seq=applied_seq,
            agent_timeout_ms=pace.agent_timeout_ms,
            protocol=protocol.PROTOCOL_VERSION,
            cluster=self.cluster_name,
        )

    def _repace(self, now: int, ready: Ready) -> None:
        """Keep the fleet's heartbeats within the budget: a new pace is told to every
        connected agent in a welcome sent again."""
        population = self.agents.population()
        pace = self.pacer.repace(population, now)
        if pace is None:
            return
        for record in self.agents:
            if record.link is Link.CONNECTED:
                agent_id = record.info.agent_id
                ready.sends.append((agent_id, self._welcome(record.stored.applied_seq)))
        ready.log("agents_repaced", agents=population,
                  heartbeat_interval_ms=pace.heartbeat_interval_ms,
                  agent_timeout_ms=pace.agent_timeout_ms)  # fmt: skip

    def _status(self, command: AgentStatus, now: int, ready: Ready) -> None:
        agent_id, update = command.agent_id, command.update
        record = self.agents.get(agent_id)
        if record is None or record.link is not Link.CONNECTED:
            # Not since its hello (a restore forgot it, or a timeout hung up on it): it must
            # say hello again before its reports count.
            ready.hang_ups.append(agent_id)
            return
        self.agents.heard_from(agent_id, now)
        if update.seq <= record.stored.applied_seq:
            ready.sends.append((agent_id, protocol.Ack(seq=record.stored.applied_seq)))
            return
        effects = self.cluster.status_update(
            agent_id, update.task_id, update.state, now, update.message
        )
        self.carry(effects, ready)
        ready.writes.agents[agent_id] = self.agents.applied(agent_id, update.seq)
        ready.sends.append((agent_id, protocol.Ack(seq=update.seq)))
        task = self.cluster.tasks.get(update.task_id)
        if update.state in TERMINAL_STATES or (
            task is not None and task.job in self.updates.active
        ):
            ready.wake(now)

    def _heartbeat(self, command: AgentHeartbeat, now: int, ready: Ready) -> None:
        self.agents.heard_from(command.agent_id, now)

    def _disconnected(self, command: AgentDisconnected, now: int, ready: Ready) -> None:
        if self.agents.disconnected(command.agent_id, command.connection, now) is not None:
            ready.log("agent_disconnected", agent=command.agent_id)

    def _listening(self, command: Listening, now: int, ready: Ready) -> None:
        self.agents.restart_timeouts(now)
        ready.wake(now)

    def _discount_stall(self, now: int, ready: Ready) -> None:
        """Silence counts against an agent only while the scheduler was there to hear it.
        Without this, agents that went quiet as the scheduler froze would be given up the
        moment it wakes, before they can reconnect, while those whose heartbeats waited in
        its sockets look fine and keep the disruption guard from holding back."""
        last, self.last_round_ms = self.last_round_ms, now
        if last is None:
            return
        stalled = now - last - self.liveness.round_interval_ms
        if stalled > self.liveness.stall_ms:
            self.agents.discount_silence(stalled, now)
            ready.log("scheduler_stalled", warning=True, stalled_ms=stalled,
                      action="silence meanwhile not counted against agents")  # fmt: skip

    def _timeouts(self, now: int, ready: Ready) -> None:
        liveness = self.liveness
        timeout_ms = self.pacer.timeout_ms(now)
        silent, population = self.agents.unreachable(now, timeout_ms)
        limit = max(liveness.disruption_minimum, liveness.disruption_share * population)
        # All of several at once is never theirs to answer for, however few they are.
        everyone = population > 1 and silent == population
        if silent > limit or everyone:
            if not self.held_back:
                ready.log("disruption", warning=True, unreachable=silent, agents=population,
                          action="holding back agent timeouts")  # fmt: skip
            self.held_back = silent
            return
        if self.held_back:
            # Those not back yet may be on their way (a fleet reconnects over seconds, not at
            # once): each gets a whole timeout from here, and from each return after it.
            ready.log("disruption_over", unreachable=silent, agents=population,
                      action=f"timeouts start over for {silent}, and at each return")  # fmt: skip
            self.held_back = 0
            self.agents.recover(now)
        for changed in self.agents.timeouts(now, timeout_ms):
            agent_id = changed.record.info.agent_id
            if AgentAction.HANG_UP in changed.actions:
                # Connected but mute: it must reconnect and say hello.
                ready.hang_ups.append(agent_id)
                ready.log("agent_mute", warning=True, agent=agent_id)
            if AgentAction.GIVE_UP_TASKS in changed.actions:
                ready.log("agent_lost", warning=True, agent=agent_id)
                self.carry(self.cluster.agent_lost(agent_id, now), ready)

    # -- maintenance ---------------------------------------------------------------------------

    def _set_maintenance(self, command: SetMaintenance, now: int, ready: Ready) -> None:
        """Aurora's host maintenance: DRAINING moves tasks away, NONE returns the host."""
        event = REQUESTED.get(command.mode)
        if event is None:
            settable = ", ".join(mode.name for mode in REQUESTED)
            raise InvalidParameterError(
                f"mode {command.mode.name} cannot be set; use one of {settable}"
            )
        agent_ids = self.agents.by_name(list(command.hosts))
        check_terms(command.terms)
        request = DrainRequest(terms=command.terms, started_ms=now)
        for agent_id in agent_ids:
            changed = self.agents.maintain(agent_id, event, request)
            if changed is not None:
                self._maintained(changed, now, ready)
        drains.drain_pass(self, now, ready)
        self._finish_drains(now, ready)
        ready.log("maintenance", mode=command.mode.name, agents=",".join(agent_ids))
        ready.reply = agent_ids
        ready.wake(now)

    def _maintained(self, changed: Changed, now: int, ready: Ready) -> None:
        stored = changed.record.stored
        agent_id = stored.info.agent_id
        self.cluster.fleet.set_maintenance(agent_id, stored.maintenance)
        ready.writes.agents[agent_id] = stored

    def _finish_drains(self, now: int, ready: Ready) -> None:
        for agent_id in self.agents.draining():
            if not self.cluster.on_agent(agent_id):
                changed = self.agents.maintain(agent_id, MaintenanceEvent.EMPTIED)
                if changed is not None:
                    self._maintained(changed, now, ready)
                    ready.log("agent_drained", agent=agent_id)

    # -- time ----------------------------------------------------------------------------------

    def _tick(self, command: Tick, now: int, ready: Ready) -> None:
        self._discount_stall(now, ready)
        self._repace(now, ready)
        self._timeouts(now, ready)
        self.carry(self.cluster.tick(now), ready)
        drains.drain_pass(self, now, ready)
        self._finish_drains(now, ready)
        # Cron and updates first: the tasks they add are placed in the same round.
        cron.cron_tick(self, now, ready)
        effects, changes, ended = self.updates.evaluate(self.cluster, self.jobs, now)
        self.carry(effects, ready)
        ready.writes.merge(changes)
        for update in ended:
            ready.log("update_ended", job=update.job, update=update.update_id,
                      status=update.status)  # fmt: skip
        effects, deferred = schedule_round(self.cluster, now, self.settings.placements_per_round)
        self.carry(effects, ready)
        ready.wake(now if deferred else now + self.liveness.round_interval_ms)

    def _restore(self, command: Restore, now: int, ready: Ready) -> None:
        """Replace the whole state with a backup's. Connected agents are hung up on: each
        reconnects and is reconciled against the restored state, as after a restart."""
        connected = [r.info.agent_id for r in self.agents if r.link is Link.CONNECTED]
        self.load(command.snapshot, now)
        ready.replace_all = command.snapshot
        ready.hang_ups.extend(connected)
        ready.log("restored", tasks=len(command.snapshot.tasks), jobs=len(command.snapshot.jobs))
        ready.reply = (len(self.cluster.tasks), len(self.jobs))
        ready.wake(now)


HANDLERS: dict[type, Handler] = {
    CreateJob: jobs.create_job,
    KillJob: jobs.kill_job,
    RestartInstances: jobs.restart_instances,
    AddInstances: jobs.add_instances,
    StartUpdate: jobs.start_update,
    OperateUpdate: jobs.operate_update,
    ScheduleCron: cron.schedule_cron,
    DescheduleCron: cron.deschedule_cron,
    StartCron: cron.start_cron,
    SetQuota: jobs.set_quota,
    SetMaintenance: SchedulerState._set_maintenance,
    CoordinatorAnswer: drains.coordinator_answered,
    Restore: SchedulerState._restore,
    AgentHello: SchedulerState._hello,
    AgentStatus: SchedulerState._status,
    AgentHeartbeat: SchedulerState._heartbeat,
    AgentDisconnected: SchedulerState._disconnected,
    Listening: SchedulerState._listening,
    Tick: SchedulerState._tick,
}
