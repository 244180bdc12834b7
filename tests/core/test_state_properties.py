"""The whole scheduler state driven through `handle` alone: people's commands, agents' messages
(from agents that remember what they were sent), time, and writes the store refuses (after
which the scheduler starts again from what the store holds, as a real one would).

Invariants: no agent is over-committed; at most one active task per instance outside
partitions; never more than a batch updating; terminal states never change; a refused command
changes nothing; and the state rebuilt from the persisted writes is the state itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import hypothesis.strategies as st
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from daybreak.core.commands import (
    AddInstances,
    AgentDisconnected,
    AgentHeartbeat,
    AgentHello,
    AgentStatus,
    Command,
    CreateJob,
    KillJob,
    Listening,
    OperateUpdate,
    RestartInstances,
    SetMaintenance,
    SetQuota,
    StartUpdate,
    Tick,
    UpdateAction,
)
from daybreak.core.ids import SequentialIds
from daybreak.core.ready import Ready
from daybreak.core.state import Liveness, SchedulerState
from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import MaintenanceMode, PortRange
from daybreak.model.api import Quota
from daybreak.model.jobspec import (
    JobKey,
    JobSpec,
    Process,
    QueueStrategy,
    Resources,
    Task,
    UpdateSettings,
)
from daybreak.model.records import Snapshot
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES, TERMINAL_STATES, TaskState
from daybreak.model.update import ACTIVE_UPDATE_STATUSES, InstanceStatus

S = TaskState
T = TypeVar("T")
SECOND = 1000
AGENTS = ("a0", "a1", "a2")
JOBS = ("web", "db", "batch")
BATCH = 2


@dataclass
class FakeAgent:
    """What an agent knows: the tasks it was sent, and the reports it has numbered."""

    agent_id: str
    connection: int = 0
    connected: bool = False
    seq: int = 0
    acked: int = 0
    tasks: dict[str, TaskState] = field(default_factory=dict)

    def hello(self) -> protocol.Hello:
        return protocol.Hello(
            agent_id=self.agent_id, hostname=self.agent_id, attributes={"host": self.agent_id},
            resources=Resources(cpu=2, ram_mb=4096, disk_mb=4096),
            ports=PortRange(first=31000, last=31009), inventory=dict(self.tasks),
        )  # fmt: skip


class Store:
    """The store as the scheduler's writes leave it."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def write(self, ready: Ready) -> None:
        if ready.replace_all is not None:
            self.snapshot = ready.replace_all
        changes, snapshot = ready.writes, self.snapshot
        tasks = {t.task_id: t for t in snapshot.tasks}
        _apply(tasks, changes.tasks)
        _apply(snapshot.jobs, changes.jobs)
        _apply(snapshot.agents, changes.agents)
        _apply(snapshot.quotas, changes.quotas)
        _apply(snapshot.updates, changes.updates)
        snapshot.tasks = sorted(tasks.values(), key=lambda t: t.task_id)


def _apply(table: dict[str, T], written: dict[str, T | None]) -> None:
    for key, value in written.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def spec(name: str, instances: int, cmdline: str = "serve", cpu: float = 0.5) -> JobSpec:
    return JobSpec(
        key=JobKey(cluster="test", role="www", environment="prod", name=name),
        task=Task(name=name, processes=(Process(name="main", cmdline=cmdline),),
                  resources=Resources(cpu=cpu, ram_mb=64, disk_mb=64)),
        instances=instances,
        service=name != "batch",
        update=UpdateSettings(watch_secs=1, strategy=QueueStrategy(batch_size=BATCH)),
    )  # fmt: skip


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000
        self.ids = SequentialIds()
        self.state = self._new_state()
        self.store = Store()
        self.agents = {agent_id: FakeAgent(agent_id) for agent_id in AGENTS}
        self.ended: dict[str, TaskState] = {}  # every terminal task seen, and its state

    def _new_state(self) -> SchedulerState:
        return SchedulerState("test", liveness=Liveness(1000, 10_000), ids=self.ids)

    def key(self, name: str) -> JobKey:
        return JobKey(cluster="test", role="www", environment="prod", name=name)

    # -- carrying out, as the shell does -------------------------------------------------------

    def handle(self, command: Command) -> Ready | None:
        before = self.state.snapshot()
        try:
            ready = self.state.handle(command, self.now)
        except DaybreakError:
            assert self.state.snapshot() == before, f"{command} was refused but changed state"
            return None
        self.store.write(ready)
        for agent_id, message in ready.sends:
            agent = self.agents[agent_id]
            if not agent.connected:
                continue
            if isinstance(message, protocol.Launch):
                agent.tasks[message.task_id] = S.STARTING
            elif isinstance(message, protocol.Ack):
                agent.acked = max(agent.acked, message.seq)
        for agent_id in ready.hang_ups:
            self.agents[agent_id].connected = False
            self.agents[agent_id].connection = -1
        return ready

    # -- people --------------------------------------------------------------------------------

    @rule(name=st.sampled_from(JOBS), instances=st.integers(1, 3), cpu=st.sampled_from([0.5, 1.5]))
    def create(self, name: str, instances: int, cpu: float) -> None:
        self.handle(CreateJob(spec(name, instances, cpu=cpu)))

    @rule(name=st.sampled_from(JOBS), instance=st.none() | st.integers(0, 3))
    def kill(self, name: str, instance: int | None) -> None:
        self.handle(KillJob(self.key(name), None if instance is None else (instance,)))

    @rule(name=st.sampled_from(JOBS), count=st.integers(0, 2))
    def add(self, name: str, count: int) -> None:
        self.handle(AddInstances(self.key(name), count))

    @rule(name=st.sampled_from(JOBS))
    def restart(self, name: str) -> None:
        self.handle(RestartInstances(self.key(name), None))

    @rule(name=st.sampled_from(JOBS), instances=st.integers(1, 4),
          cmdline=st.sampled_from(["serve", "serve --v2", "false"]))  # fmt: skip
    def update(self, name: str, instances: int, cmdline: str) -> None:
        self.handle(StartUpdate(spec(name, instances, cmdline), None))

    @rule(name=st.sampled_from(JOBS), action=st.sampled_from(list(UpdateAction)))
    def operate(self, name: str, action: UpdateAction) -> None:
        self.handle(OperateUpdate(self.key(name), action))

    @rule(cpu=st.sampled_from([-1.0, 0.0, 4.0]))
    def quota(self, cpu: float) -> None:
        self.handle(SetQuota("www", Quota(cpu=cpu, ram_mb=4096, disk_mb=4096)))

    @rule(host=st.sampled_from([*AGENTS, "nowhere"]), mode=st.sampled_from(list(MaintenanceMode)))
    def maintenance(self, host: str, mode: MaintenanceMode) -> None:
        self.handle(SetMaintenance((host,), mode))

    # -- agents --------------------------------------------------------------------------------

    @rule(agent_id=st.sampled_from(AGENTS))
    def hello(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        agent.connection += 2
        agent.connected = True
        ready = self.handle(AgentHello(agent.hello(), agent.connection))
        assert ready is not None
        welcome = ready.sends[0][1]
        assert isinstance(welcome, protocol.Welcome)
        agent.acked = welcome.applied_seq
        # An agent offers again, in order, every report above what the scheduler applied.
        agent.seq = min(agent.seq, agent.acked)

    @rule(agent_id=st.sampled_from(AGENTS))
    def heartbeat(self, agent_id: str) -> None:
        if self.agents[agent_id].connected:
            self.handle(AgentHeartbeat(agent_id))

    @rule(agent_id=st.sampled_from(AGENTS))
    def disconnect(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        if agent.connected:
            agent.connected = False
            self.handle(AgentDisconnected(agent_id, agent.connection))

    @rule(agent_id=st.sampled_from(AGENTS))
    def agent_runs_what_it_was_sent(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        for task_id, state in sorted(agent.tasks.items()):
            if agent.connected and state is S.STARTING:
                self._report(agent, task_id, S.RUNNING)

    @rule(data=st.data(), state=st.sampled_from([S.RUNNING, S.FINISHED, S.FAILED, S.KILLED]))
    def report(self, data: st.DataObject, state: TaskState) -> None:
        connected = [a for a in self.agents.values() if a.connected and a.tasks]
        if not connected:
            return
        agent = data.draw(st.sampled_from(connected))
        task_id = data.draw(st.sampled_from(sorted(agent.tasks)))
        if agent.tasks[task_id] in TERMINAL_STATES:
            return
        self._report(agent, task_id, state)

    def _report(self, agent: FakeAgent, task_id: str, state: TaskState) -> None:
        agent.tasks[task_id] = state
        agent.seq += 1
        update = protocol.StatusUpdate(seq=agent.seq, task_id=task_id, state=state,
                                       timestamp_ms=self.now)  # fmt: skip
        self.handle(AgentStatus(agent.agent_id, update))

    # -- time and failure ----------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 1, 1, 2, 5, 11, 61, 400]))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds * SECOND
        self.handle(Tick())

    @precondition(lambda self: bool(self.store.snapshot.tasks))
    @rule()
    def store_refuses_a_write_and_the_scheduler_starts_again(self) -> None:
        """Fail-stop: what the last command decided is lost with the process; a new one loads
        what the store holds, and its agents reconnect."""
        self.state = self._new_state()
        self.state.load(self.store.snapshot, self.now)
        self.handle(Listening())
        for agent in self.agents.values():
            agent.connected = False

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def no_agent_is_overcommitted(self) -> None:
        fleet = self.state.cluster.fleet
        assert np.all(fleet.used <= fleet.capacity + 1e-9)

    @invariant()
    def at_most_one_active_task_per_instance_outside_partitions(self) -> None:
        seen: set[tuple[JobKey, int]] = set()
        for task in self.state.cluster.tasks.values():
            if task.state in ACTIVE_STATES and task.state is not S.PARTITIONED:
                assert (task.job, task.instance) not in seen, f"two active: {task.task_id}"
                seen.add((task.job, task.instance))

    @invariant()
    def never_more_than_a_batch_updating(self) -> None:
        for update in self.state.updates.records.values():
            if update.status in ACTIVE_UPDATE_STATUSES:
                working = [p for p in update.progress.instances.values()
                           if p.status is InstanceStatus.WORKING]  # fmt: skip
                assert len(working) <= BATCH

    @invariant()
    def terminal_states_never_change(self) -> None:
        tasks: dict[str, ScheduledTask] = self.state.cluster.tasks
        for task_id, state in self.ended.items():
            if task_id in tasks:
                assert tasks[task_id].state is state
        for task in tasks.values():
            if task.state in TERMINAL_STATES:
                self.ended.setdefault(task.task_id, task.state)

    @invariant()
    def the_persisted_writes_rebuild_the_same_state(self) -> None:
        assert self.store.snapshot.tasks == self.state.snapshot().tasks
        live = self.state.snapshot()
        stored = self.store.snapshot
        assert (stored.jobs, stored.agents, stored.quotas, stored.updates) == (
            live.jobs, live.agents, live.quotas, live.updates,
        )  # fmt: skip
        rebuilt = self._new_state()
        rebuilt.load(stored, self.now)
        assert rebuilt.snapshot() == live


SchedulerMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
TestScheduler = SchedulerMachine.TestCase
