"""A scheduler state with in-memory agents that start what they are sent and stop what they
are told to at once, every write kept (so that a new leader can load them): for tests of the
core's rules over time, on a fake clock."""

from __future__ import annotations

from daybreak.core.commands import (
    AgentHeartbeat,
    AgentHello,
    AgentStatus,
    SetMaintenance,
    SetQuota,
    Tick,
)
from daybreak.core.ready import CoordinatorAsk
from daybreak.core.settings import Settings
from daybreak.core.sla import SlaRules
from daybreak.core.state import SchedulerState
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import DrainTerms, MaintenanceMode, PortRange
from daybreak.model.api import Quota
from daybreak.model.jobspec import Resources
from daybreak.model.records import Changes, Snapshot
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES, TaskState

S = TaskState
M = MaintenanceMode
# Drains check every job's SLA, however small.
CHECK_ALL = Settings(sla_rules=SlaRules(min_instances=1))


class World:
    """A scheduler state and agents that start what they are sent and stop what they are told
    to, at once; every write is kept, so that a new leader can load them."""

    def __init__(self, agents: int, settings: Settings = CHECK_ALL,
                 snapshot: Snapshot | None = None, now: int = 0) -> None:  # fmt: skip
        self.settings = settings
        self.state = SchedulerState("west", settings=settings)
        self.stored = snapshot or Snapshot()
        if snapshot is not None:
            self.state.load(snapshot, now)
        self.seq: dict[str, int] = {}
        self.asks: list[CoordinatorAsk] = []  # questions to SLA coordinators, in order
        self.handle(SetQuota("www", Quota(cpu=100, ram_mb=100_000, disk_mb=100_000)), now)
        for number in range(1, agents + 1):
            self.add_agent(f"a{number}", now)

    def add_agent(self, agent_id: str, now: int) -> None:
        known = self.stored.agents.get(agent_id)
        self.seq[agent_id] = 0 if known is None else known.applied_seq
        inventory = {
            task.task_id: task.state
            for task in self.stored.tasks
            if task.agent_id == agent_id and task.state in ACTIVE_STATES
        }
        hello = protocol.Hello(
            agent_id=agent_id, hostname=f"h{agent_id[1:]}", attributes={"host": agent_id},
            resources=Resources(cpu=8, ram_mb=8192, disk_mb=8192),
            ports=PortRange(first=31000, last=31099), inventory=inventory,
        )  # fmt: skip
        self.handle(AgentHello(hello, connection=1), now)

    def handle(self, command: object, now: int) -> object:
        ready = self.state.handle(command, now)  # type: ignore[arg-type]
        self.asks.extend(ready.coordinator_asks)
        everything = Changes.everything_in(self.stored)
        everything.merge(ready.writes)
        self.stored = Snapshot(
            tasks=[task for task in everything.tasks.values() if task is not None],
            jobs={k: v for k, v in everything.jobs.items() if v is not None},
            agents={k: v for k, v in everything.agents.items() if v is not None},
        )
        for agent_id, message in ready.sends:
            if isinstance(message, protocol.Launch):
                self.report(agent_id, message.task_id, S.RUNNING, now)
            elif isinstance(message, protocol.Kill):
                self.report(agent_id, message.task_id, S.KILLED, now)
        return ready.reply

    def report(self, agent_id: str, task_id: str, state: TaskState, now: int) -> None:
        self.seq[agent_id] += 1
        update = protocol.StatusUpdate(
            seq=self.seq[agent_id], task_id=task_id, state=state, timestamp_ms=now
        )
        self.handle(AgentStatus(agent_id, update), now)

    def tick(self, now: int) -> None:
        for agent_id in self.seq:
            self.handle(AgentHeartbeat(agent_id), now)
        self.handle(Tick(), now)

    def drain(self, host: str, now: int, **terms: object) -> None:
        self.handle(SetMaintenance((host,), M.DRAINING, DrainTerms(**terms)), now)  # type: ignore[arg-type]
        self.tick(now)  # a round places what left, and sees who is empty

    def settle(self, now: int) -> None:
        """Two rounds: tasks leave in the first, their agent is empty in the second."""
        self.tick(now)
        self.tick(now)

    def running_on(self, agent_id: str) -> list[ScheduledTask]:
        return sorted(
            (t for t in self.state.cluster.on_agent(agent_id) if t.state is S.RUNNING),
            key=lambda t: t.instance,
        )

    def mode(self, agent_id: str) -> MaintenanceMode:
        record = self.state.agents.get(agent_id)
        assert record is not None
        return record.maintenance

    def waits(self, agent_id: str) -> list[str]:
        return list(self.state.drain_waits.get(agent_id, {}).values())
