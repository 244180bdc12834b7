"""What an agent costs per task: 500 `sleep 600` tasks on one agent, launched, held, killed.

Prints one JSON object. `per_task_overhead_mb` is the agent's own growth in unique memory
(USS) plus the USS of every helper process it keeps per task (the shell waiters), divided by
the tasks; the tasks' own `sleep` processes are not overhead. Launch latency runs from the
fake scheduler sending `Launch` to its receiving RUNNING, over a real WebSocket.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.agent.conftest import AgentProcess
from tests.agent.fake_scheduler import FakeScheduler

from daybreak.agent.executor.checkpoint import read_checkpoint
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.task_state import TaskState

TASKS = 500
# The scheduler sends launches in waves, as its placement rounds produce them: 200 a second
# here. The agent launches one task in about 3-4 ms on this machine, so a single burst of 500
# would queue for up to two seconds; `launches_per_s` reports what the agent sustained.
WAVE = 10
WAVE_GAP_S = 0.05
SETTLE_S = 2.0


def uss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_full_info().uss) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--no-cgroups",
        action="store_true",
        help="run the agent without cgroups, so that it finds a task's processes by itself",
    )
    parser.add_argument("--tasks", type=int, default=TASKS)
    options = parser.parse_args()
    tasks = options.tasks
    extra = ("--no-cgroups",) if options.no_cgroups else ()
    spec = JobSpec(
        key=JobKey(cluster="bench", role="bench", environment="devel", name="sleeper"),
        task=Task(
            name="sleeper",
            processes=(Process(name="sleep", cmdline="sleep 600"),),
            resources=Resources(cpu=0.01, ram_mb=8, disk_mb=8),
        ),
    )
    with tempfile.TemporaryDirectory() as work, FakeScheduler(heartbeat_interval_ms=5000) as fake:
        agent = AgentProcess(fake.url, Path(work) / "agent", *extra).start()
        try:
            fake.wait_for_hello()
            assert agent.process is not None
            agent_pid = agent.process.pid
            time.sleep(SETTLE_S)
            agent_before = uss_mb(agent_pid)

            sent: dict[str, float] = {}
            ids = [f"bench-{i}" for i in range(tasks)]
            for start in range(0, tasks, WAVE):
                for task_id in ids[start : start + WAVE]:
                    sent[task_id] = time.monotonic()
                    fake.launch(task_id, spec, instance=int(task_id.split("-")[1]))
                time.sleep(WAVE_GAP_S)
            fake.wait_until(
                lambda: all((t, TaskState.RUNNING) in fake.arrived for t in ids),
                "every task RUNNING",
                timeout=120,
            )
            launches_per_s = tasks / (
                max(fake.arrived[(t, TaskState.RUNNING)] for t in ids) - min(sent.values())
            )
            latencies = sorted((fake.arrived[(t, TaskState.RUNNING)] - sent[t]) * 1000 for t in ids)
            time.sleep(SETTLE_S)
            agent_after = uss_mb(agent_pid)
            waiters = [
                run.pid
                for t in ids
                for _, run in read_checkpoint(agent.task_dir(t) / "checkpoint").live_runs()
            ]
            helpers = [
                child for child in psutil.Process(agent_pid).children(recursive=True)
                if child.pid in set(waiters)
            ]  # fmt: skip
            helper_mb = sum(uss_mb(h.pid) for h in helpers)

            killing = time.monotonic()
            for task_id in ids:
                fake.kill(task_id)
            fake.wait_until(
                lambda: all((t, TaskState.KILLED) in fake.arrived for t in ids),
                "every task KILLED",
                timeout=120,
            )
            kill_all_s = max(fake.arrived[(t, TaskState.KILLED)] for t in ids) - killing
        finally:
            agent.stop()
    print(
        json.dumps(
            {
                "tasks": tasks,
                "cgroups": not options.no_cgroups,
                "per_task_overhead_mb": round((agent_after - agent_before + helper_mb) / tasks, 3),
                "agent_growth_mb": round(agent_after - agent_before, 1),
                "helper_processes_per_task": round(len(helpers) / tasks, 2),
                "helper_uss_mb_each": round(helper_mb / max(1, len(helpers)), 3),
                "launch_to_running_p50_ms": round(statistics.median(latencies), 1),
                "launch_to_running_p99_ms": round(latencies[int(0.99 * (tasks - 1))], 1),
                "launch_wave": WAVE,
                "launch_wave_gap_ms": int(WAVE_GAP_S * 1000),
                "launches_per_s": round(launches_per_s),
                "kill_all_s": round(kill_all_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
