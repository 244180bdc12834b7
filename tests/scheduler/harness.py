"""The whole scheduler in-process: its real HTTP app (through httpx's ASGI transport), a real
store, a fake clock, and agents held in memory that speak the agent protocol. A test advances
time instead of sleeping, and every step is awaited, so nothing depends on the machine's speed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from daybreak.core.ids import SequentialIds
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.api import JobStatus
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.task_state import TaskState
from daybreak.scheduler.clock import FakeClock
from daybreak.scheduler.role import Role
from daybreak.scheduler.security import Security
from daybreak.scheduler.service import Scheduler
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.server import create_app
from daybreak.store import open_store

CLUSTER = "test"
SMALL = Resources(cpu=0.5, ram_mb=64, disk_mb=64)


@dataclass
class FakeAgent:
    """An agent in memory: it records what the scheduler sends and reports what a test says."""

    agent_id: str
    cpu: float = 4.0
    received: list[protocol.Message] = field(default_factory=list)
    hung_up: int = 0
    seq: int = 0
    inventory: dict[str, TaskState] = field(default_factory=dict)
    connection: Callable[[protocol.Message], None] | None = None
    secret: str = ""

    def hello(self) -> protocol.Hello:
        return protocol.Hello(
            agent_id=self.agent_id, hostname=self.agent_id, attributes={"host": self.agent_id},
            resources=Resources(cpu=self.cpu, ram_mb=8192, disk_mb=8192),
            ports=PortRange(first=31000, last=31099), inventory=dict(self.inventory),
            secret=self.secret,
        )  # fmt: skip

    def send(self, message: protocol.Message) -> None:
        self.received.append(message)
        if isinstance(message, protocol.Launch):
            self.inventory[message.task_id] = TaskState.STARTING

    def hang_up(self) -> None:
        self.hung_up += 1

    def launches(self) -> list[str]:
        return [m.task_id for m in self.received if isinstance(m, protocol.Launch)]

    def kills(self) -> list[str]:
        return [m.task_id for m in self.received if isinstance(m, protocol.Kill)]

    def acks(self) -> list[int]:
        return [m.seq for m in self.received if isinstance(m, protocol.Ack)]

    def report(self, task_id: str, state: TaskState) -> protocol.StatusUpdate:
        self.seq += 1
        self.inventory[task_id] = state
        return protocol.StatusUpdate(seq=self.seq, task_id=task_id, state=state, timestamp_ms=0)


@dataclass
class InProcess:
    scheduler: Scheduler
    clock: FakeClock
    api: httpx.AsyncClient
    run: asyncio.Task[None]
    agents: dict[str, FakeAgent] = field(default_factory=dict)

    async def settle(self) -> None:
        """Let everything handed over be persisted and carried out, and whatever that wakes
        run too: until the carrier has been idle for a few turns of the loop."""
        quiet = 0
        for _ in range(10_000):
            if self.run.done():
                return
            await asyncio.sleep(0)
            await self.scheduler.writer.call(lambda: None)
            quiet = quiet + 1 if self.scheduler.carrier.idle else 0
            if quiet >= 5:
                return
        raise AssertionError("the scheduler never settled")

    async def connect(self, agent: FakeAgent) -> FakeAgent:
        self.agents[agent.agent_id] = agent
        # One bound method for the connection: the scheduler tells connections apart by it.
        agent.connection = agent.send
        self.scheduler.agent_connected(agent.hello(), agent.connection, agent.hang_up)
        await self.settle()
        return agent

    async def disconnect(self, agent: FakeAgent) -> None:
        assert agent.connection is not None
        self.scheduler.agent_disconnected(agent.agent_id, agent.connection)
        await self.settle()

    async def report(self, agent: FakeAgent, task_id: str, state: TaskState) -> None:
        self.scheduler.status_update(agent.agent_id, agent.report(task_id, state))
        await self.settle()

    async def advance(self, ms: int) -> None:
        """Move time on in steps of at most a second, letting each round run."""
        while ms > 0:
            step = min(ms, 1000)
            self.clock.advance(step)
            ms -= step
            await self.settle()

    async def run_everything(self) -> None:
        """Report every launched task RUNNING on its agent."""
        for agent in self.agents.values():
            for task_id in agent.launches():
                if agent.inventory.get(task_id) is TaskState.STARTING:
                    await self.report(agent, task_id, TaskState.RUNNING)

    def job(self, name: str = "web", instances: int = 2, **options: Any) -> JobSpec:
        return JobSpec(
            key=JobKey(cluster=CLUSTER, role="www", environment="prod", name=name),
            task=Task(name=name, processes=(Process(name="main", cmdline="sleep 600"),),
                      resources=SMALL),
            instances=instances, **options,
        )  # fmt: skip

    async def status(self, key: JobKey) -> JobStatus:
        response = await self.api.get(f"/api/v1/jobs/{key}")
        assert response.status_code == 200, response.text
        return msgspec.json.decode(response.content, type=JobStatus)


def config(store_url: str) -> SchedulerConfig:
    return SchedulerConfig(
        store_url=store_url, host="127.0.0.1", port=0, cluster=CLUSTER,
        heartbeat_interval_ms=1000, agent_timeout_ms=10_000,
        rate_limit_per_s=0,  # tests ask as fast as they can; the limit has its own test
    )  # fmt: skip


@asynccontextmanager
async def in_process(
    store_url: str, clock: FakeClock | None = None, first_id: int = 0
) -> AsyncIterator[InProcess]:
    """A scheduler on the store at `store_url`, listening (for its agents' timeouts). Ids count
    from `first_id`: a scheduler started again on the same store must not reuse them."""
    clock = clock or FakeClock()
    store = await asyncio.to_thread(open_store, store_url)
    scheduler = Scheduler(config(store_url), store, clock, SequentialIds(first_id))
    role = Role("http://scheduler")
    app = create_app(role, Security.disabled(), scheduler.config)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    try:
        await scheduler.load()
        async with (
            scheduler.running() as run,
            httpx.AsyncClient(transport=transport, base_url="http://scheduler") as api,
        ):
            role.scheduler = scheduler
            scheduler.listening()
            harness = InProcess(scheduler, clock, api, run)
            await harness.settle()
            yield harness
    finally:
        await asyncio.to_thread(store.close)
