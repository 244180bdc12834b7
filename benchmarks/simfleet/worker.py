"""One process of the fleet: many simulated agents on one event loop, each with the real
agent's `SchedulerLink` and on-disk outbox. Commands arrive on stdin, one JSON object a line;
each gets one JSON line on stdout.

    python -m benchmarks.simfleet.worker WORK_DIR
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import uvloop

from benchmarks.simfleet.machine import Behaviour, SimulatedMachine
from daybreak.agent.link import SchedulerLink
from daybreak.agent.outbox import Outbox
from daybreak.model.jobspec import Resources


class AgentSpec(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    attributes: dict[str, str]


class Start(msgspec.Struct, frozen=True, kw_only=True, tag="start"):
    """Start these agents (new ones, or ones stopped before: their tasks ran on meanwhile)."""

    agents: list[AgentSpec]
    schedulers: list[str]
    resources: Resources
    behaviour: Behaviour
    credential: str | None = None


class Stop(msgspec.Struct, frozen=True, kw_only=True, tag="stop"):
    """Stop these agents' links at once, as a killed agent process would; tasks run on."""

    agent_ids: list[str]


class Count(msgspec.Struct, frozen=True, kw_only=True, tag="count"):
    pass


Command = Start | Stop | Count


class Counts(msgspec.Struct, kw_only=True):
    agents: int = 0  # started and not stopped
    connected: int = 0
    tasks: dict[str, int] = msgspec.field(default_factory=dict)  # by state
    unacked: int = 0  # status updates waiting for the scheduler's acknowledgement
    # How often the connected agents were told to heartbeat: seconds -> agents.
    paces: dict[str, int] = msgspec.field(default_factory=dict)
    # How often the connected agents ping the scheduler: seconds -> agents.
    pings: dict[str, int] = msgspec.field(default_factory=dict)


class Done(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool = True
    error: str | None = None
    counts: Counts | None = None


def wall_ms() -> int:
    return int(time.time() * 1000)


class SimulatedAgent:
    def __init__(self, machine: SimulatedMachine, work_dir: Path) -> None:
        self.machine = machine
        self.work_dir = work_dir
        self.link: SchedulerLink | None = None
        self.running: asyncio.Task[None] | None = None

    def start(self, command: Start) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(self.work_dir)
        link = SchedulerLink(command.schedulers, command.credential, outbox, self.machine, wall_ms)
        self.link = link
        self.machine.report = link.send_update

        async def run() -> None:
            try:
                await link.run()
            finally:
                outbox.close()

        self.running = asyncio.get_running_loop().create_task(run())

    async def stop(self) -> None:
        running, self.running = self.running, None
        self.machine.report = lambda task_id, state, message: None
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running


class Worker:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.agents: dict[str, SimulatedAgent] = {}

    async def handle(self, command: Command) -> Done:
        if isinstance(command, Start):
            for spec in command.agents:
                agent = self.agents.get(spec.agent_id)
                if agent is None:
                    machine = SimulatedMachine(
                        spec.agent_id, spec.attributes, command.resources, command.behaviour
                    )
                    agent = SimulatedAgent(machine, self.work_dir / spec.agent_id)
                    self.agents[spec.agent_id] = agent
                if agent.running is None:
                    agent.start(command)
        elif isinstance(command, Stop):
            await asyncio.gather(*(self.agents[a].stop() for a in command.agent_ids))
        return Done(counts=self.counts())

    def counts(self) -> Counts:
        counts = Counts()
        states: Counter[str] = Counter()
        paces: Counter[str] = Counter()
        pings: Counter[str] = Counter()
        for agent in self.agents.values():
            states.update(agent.machine.states())
            if agent.running is None or agent.link is None:
                continue
            counts.agents += 1
            counts.unacked += len(agent.link.outbox.pending)
            if agent.link.connected.is_set():
                counts.connected += 1
                paces[f"{agent.link.heartbeat_interval_s:g}"] += 1
                pings[f"{agent.link.ping_interval_s:g}"] += 1
        counts.tasks = dict(states)
        counts.paces = dict(paces)
        counts.pings = dict(pings)
        return counts


async def serve(work_dir: Path) -> None:
    worker = Worker(work_dir)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=256 * 1024 * 1024)  # a start names every agent
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    decoder = msgspec.json.Decoder(Command)
    encoder = msgspec.json.Encoder()
    while line := await reader.readline():
        try:
            done = await worker.handle(decoder.decode(line))
        except (msgspec.DecodeError, KeyError, OSError) as error:
            done = Done(ok=False, error=f"{error.__class__.__name__}: {error}")
        sys.stdout.buffer.write(encoder.encode(done) + b"\n")
        sys.stdout.flush()
    await asyncio.gather(*(agent.stop() for agent in worker.agents.values()))


def main() -> None:
    # SIMFLEET_LOG_LEVEL=WARNING puts every agent's disconnection in the worker's log.
    logging.basicConfig(level=os.environ.get("SIMFLEET_LOG_LEVEL", "ERROR"), stream=sys.stderr)
    uvloop.run(serve(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
