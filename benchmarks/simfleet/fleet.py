"""Driving a simulated fleet from a test or a benchmark: worker processes, each holding a
slice of the agents, told what to do over a pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from benchmarks.simfleet.machine import Behaviour
from benchmarks.simfleet.worker import AgentSpec, Command, Count, Counts, Done, Start, Stop
from daybreak.model.jobspec import Resources

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_RESOURCES = Resources(cpu=8, ram_mb=16 * 1024, disk_mb=64 * 1024)


class FleetError(Exception):
    """A worker refused a command or died."""


class _Worker:
    def __init__(self, number: int, work_dir: Path, log: Path) -> None:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), str(ROOT / "src"), environment.get("PYTHONPATH", "")]
        )
        self.number = number
        self.log = log
        with log.open("ab") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.simfleet.worker", str(work_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=environment,
                cwd=ROOT,
            )
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(Done)

    def send(self, command: Command) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(self._encoder.encode(command) + b"\n")
        self.process.stdin.flush()

    def receive(self) -> Counts:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise FleetError(f"fleet worker {self.number} died: see {self.log}")
        done = self._decoder.decode(line)
        if not done.ok or done.counts is None:
            raise FleetError(f"fleet worker {self.number}: {done.error}")
        return done.counts

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout,):
            if stream is not None:
                stream.close()


class Fleet:
    """`size` agents named `sim-00000`..., spread over `workers` processes and `racks` racks
    (attributes `rack` and `host`), all told of `schedulers`."""

    def __init__(
        self,
        schedulers: list[str],
        work_dir: Path,
        size: int,
        *,
        workers: int = 2,
        racks: int = 10,
        resources: Resources = DEFAULT_RESOURCES,
        behaviour: Behaviour | None = None,
        credential: str | None = None,
    ) -> None:
        self.schedulers = schedulers
        self.resources = resources
        self.behaviour = behaviour or Behaviour()
        self.credential = credential
        self.agent_ids = [f"sim-{number:05d}" for number in range(size)]
        self._numbers = {agent_id: n for n, agent_id in enumerate(self.agent_ids)}
        self.racks = {agent_id: f"r{n % racks}" for agent_id, n in self._numbers.items()}
        work_dir.mkdir(parents=True, exist_ok=True)
        self._workers = [
            _Worker(n, work_dir / f"worker-{n}", work_dir / f"worker-{n}.log")
            for n in range(workers)
        ]

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def worker_of(self, agent_id: str) -> int:
        return self._numbers[agent_id] % len(self._workers)

    def _by_worker(self, agent_ids: Iterable[str]) -> Iterator[tuple[_Worker, list[str]]]:
        chosen: dict[int, list[str]] = {}
        for agent_id in agent_ids:
            chosen.setdefault(self.worker_of(agent_id), []).append(agent_id)
        for number, ids in chosen.items():
            yield self._workers[number], ids

    def _ask(self, commands: list[tuple[_Worker, Command]]) -> Counts:
        for worker, command in commands:  # all at once, then every answer
            worker.send(command)
        return _sum(worker.receive() for worker, _ in commands)

    def start(self, agent_ids: Iterable[str] | None = None) -> Counts:
        """Start agents (every one by default), or start stopped ones again."""
        ids = self.agent_ids if agent_ids is None else list(agent_ids)
        return self._ask([
            (worker, Start(
                agents=[AgentSpec(agent_id=a, attributes={"rack": self.racks[a], "host": a})
                        for a in chosen],
                schedulers=self.schedulers, resources=self.resources,
                behaviour=self.behaviour, credential=self.credential,
            ))
            for worker, chosen in self._by_worker(ids)
        ])  # fmt: skip

    def stop(self, agent_ids: Iterable[str]) -> Counts:
        return self._ask([(w, Stop(agent_ids=ids)) for w, ids in self._by_worker(agent_ids)])

    def counts(self) -> Counts:
        return self._ask([(worker, Count()) for worker in self._workers])

    def pause(self, workers: Iterable[int]) -> None:
        """Freeze whole workers: their agents fall silent without closing a connection."""
        for number in workers:
            self._workers[number].process.send_signal(signal.SIGSTOP)

    def resume(self, workers: Iterable[int]) -> None:
        for number in workers:
            self._workers[number].process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()


def _sum(parts: Iterable[Counts]) -> Counts:
    total = Counts()
    states: Counter[str] = Counter()
    paces: Counter[str] = Counter()
    pings: Counter[str] = Counter()
    for part in parts:
        total.agents += part.agents
        total.connected += part.connected
        total.unacked += part.unacked
        states.update(part.tasks)
        paces.update(part.paces)
        pings.update(part.pings)
    total.tasks, total.paces, total.pings = dict(states), dict(paces), dict(pings)
    return total
