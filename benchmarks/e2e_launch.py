"""From `job create` to every instance RUNNING: a scheduler and 10 agents on this machine.

Creates a job of 1,000 `sleep 600` instances through the public API and prints one JSON object:
how long until every instance was RUNNING (from sending the create call), until every task's own
command had started (counted from the process table, as a user or Slurm's figure counts), the
latency of the job status call polled meanwhile, and the scheduler's peak resident memory. Then
it kills the job and reports how long until no process of the job was left.
`--no-cgroups` runs the agents without cgroups.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.agent.conftest import AgentProcess, kill_tasks_where, remove_cgroups
from tests.cluster.conftest import CLUSTER, SchedulerProcess, wait_for

from daybreak.agent.executor.tree import ProcessTable
from daybreak.model.api import AgentList, JobStatus
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.task_state import TaskState

INSTANCES = 1000
AGENTS = 10
TIMEOUT_S = 120.0


def start_agents(scheduler: SchedulerProcess, work: Path, *agent_args: str) -> list[AgentProcess]:
    agents = []
    for number in range(1, AGENTS + 1):
        name = f"agent-{number}"
        agents.append(
            AgentProcess(
                scheduler.url,
                work / name,
                "--hostname", name, "--agent-id", name,
                "--attributes", f"rack=r{number}",
                "--resources", "cpu=8,ram=16GiB,disk=64GiB",
                *agent_args,
            ).start()
        )  # fmt: skip
    return agents


@contextmanager
def bench_cluster(
    role: str, *scheduler_args: str, agent_args: tuple[str, ...] = ()
) -> Iterator[tuple[SchedulerProcess, httpx.Client]]:
    """A scheduler and AGENTS agents in a temporary directory, all online, and its API; all
    stopped afterwards, with the role's tasks killed and their cgroups removed."""
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        store = f"sqlite:///{work / 'scheduler.db'}"
        scheduler = SchedulerProcess(
            store, work / "scheduler.log", "--rate-limit", "0", *scheduler_args
        ).start()
        agents = start_agents(scheduler, work, *agent_args)
        api = httpx.Client(base_url=scheduler.url + "/api/v1", timeout=60)
        try:
            wait_for(lambda: online_agents(api) == AGENTS, f"{AGENTS} agents online")
            yield scheduler, api
        finally:
            api.close()
            for agent in agents:
                agent.stop()
            scheduler.stop()
            kill_tasks_where(lambda task_id: f"-{role}-" in task_id)
            for agent in agents:
                remove_cgroups(agent.work_dir)


def online_agents(api: httpx.Client) -> int:
    agents = msgspec.json.decode(api.get("/agents").content, type=AgentList).agents
    return sum(agent.online for agent in agents)


class Watch:
    """Polls job status and the scheduler's memory in a thread until stopped."""

    def __init__(self, api_url: str, key: JobKey, scheduler_pid: int) -> None:
        self.api = httpx.Client(base_url=api_url, timeout=30)
        self.key = key
        self.process = psutil.Process(scheduler_pid)
        self.latencies_ms: list[float] = []
        self.peak_rss_mb = 0.0
        self.running = 0
        self.all_placed_at: float | None = None
        self.all_running_at: float | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak_rss_mb = max(self.peak_rss_mb, self.process.memory_info().rss / 2**20)
            started = time.monotonic()
            response = self.api.get(f"/jobs/{self.key}")
            self.latencies_ms.append((time.monotonic() - started) * 1000)
            if response.status_code == 200:
                status = msgspec.json.decode(response.content, type=JobStatus)
                self.running = sum(t.state is TaskState.RUNNING for t in status.active)
                placed = sum(t.state is not TaskState.PENDING for t in status.active)
                if placed >= INSTANCES and self.all_placed_at is None:
                    self.all_placed_at = time.monotonic()
                if self.running >= INSTANCES and self.all_running_at is None:
                    self.all_running_at = time.monotonic()
            time.sleep(0.05)


class ProcessWatch:
    """Counts the job's processes in the process table, as a user with `ps` would: when every
    task's own command had started, and, after the kill, when none of the job's was left."""

    def __init__(self, role: str, command: bytes) -> None:
        self.marker = f"-{role}-"
        self.command = command
        self.all_started_at: float | None = None
        self.killed_at: float | None = None
        self.all_gone_at: float | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopped.is_set():
            pids = [
                pid
                for task_id, pids in ProcessTable.scan().by_task.items()
                if self.marker in task_id
                for pid in pids
                if pid != os.getpid()
            ]
            now = time.monotonic()
            if self.all_started_at is None:
                if sum(self._runs_command(pid) for pid in pids) >= INSTANCES:
                    self.all_started_at = now
            elif self.killed_at is not None and not pids:
                self.all_gone_at = now
                return
            time.sleep(0.05)

    def _runs_command(self, pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                return cmdline.read() == self.command
        except OSError:
            return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-cgroups", action="store_true", help="run the agents without cgroups")
    options = parser.parse_args()
    agent_args = ("--no-cgroups",) if options.no_cgroups else ()
    role = f"bench{uuid.uuid4().hex[:6]}"
    key = JobKey(cluster=CLUSTER, role=role, environment="devel", name="sleeper")
    spec = JobSpec(
        key=key,
        task=Task(
            name="sleeper",
            processes=(Process(name="sleep", cmdline="sleep 600"),),
            resources=Resources(cpu=0.01, ram_mb=8, disk_mb=8),
        ),
        instances=INSTANCES,
    )
    with bench_cluster(role, agent_args=agent_args) as (scheduler, api):
        assert scheduler.process is not None
        watch = Watch(scheduler.url + "/api/v1", key, scheduler.process.pid)
        processes = ProcessWatch(role, b"sleep\x00600\x00")
        processes.thread.start()
        created = time.monotonic()
        response = api.post("/jobs", content=msgspec.json.encode(spec))
        assert response.status_code == 201, response.text
        watch.thread.start()
        wait_for(lambda: watch.all_running_at, "every instance RUNNING", TIMEOUT_S)
        wait_for(lambda: processes.all_started_at, "every command started", TIMEOUT_S)
        watch.stopped.set()
        watch.thread.join()
        assert watch.all_running_at is not None and processes.all_started_at is not None
        processes.killed_at = time.monotonic()
        response = api.post(f"/jobs/{key}/kill", content=b"{}")
        assert response.status_code == 200, response.text
        wait_for(lambda: processes.all_gone_at, "every process of the job gone", TIMEOUT_S)
        assert processes.all_gone_at is not None
        latencies = sorted(watch.latencies_ms)
        result = {
            "instances": INSTANCES,
            "agents": AGENTS,
            "cgroups": not options.no_cgroups,
            "create_to_all_running_s": round(watch.all_running_at - created, 2),
            "create_to_all_processes_running_s": round(processes.all_started_at - created, 2),
            "kill_to_all_gone_s": round(processes.all_gone_at - processes.killed_at, 2),
            # When the scheduler had placed (launched) every instance: the rest is agents.
            "create_to_all_placed_s": round((watch.all_placed_at or 0) - created, 2),
            "status_calls": len(latencies),
            "status_p50_ms": round(statistics.median(latencies), 1),
            "status_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1),
            "scheduler_peak_rss_mb": round(watch.peak_rss_mb, 1),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
