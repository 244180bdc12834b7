"""Fleet scale, end to end: thousands of simulated agents (the real agent's link over real
WebSockets, `benchmarks/simfleet`) against a real `daybreak scheduler` on PostgreSQL (or
SQLite), with the real flags (heartbeat 1 s, timeout 30 s, budget 200/s).

The run: AGENTS agents in RACKS racks; INSTANCES instances in JOBS jobs of mixed sizes (one job
holds a tenth of them, the rest Pareto as `placement.py`; 10% of jobs constrained), created by
CLIENTS clients at once (the teams of a shared fleet; `--clients 1` measures one client's
latency instead); every instance RUNNING; then a fifth of the agents stopped at once and
started again; then the big job rolled to a new config in batches of a twentieth of it (500 at
full size), watch 0. Prints
one JSON object: `agents`, `instances`, `store`, `create_to_all_running_s`,
`placements_per_s_end_to_end`, `heartbeats_per_s` (steady state), `scheduler_rss_mb`,
`job_status_p99_ms` (the job nearest 1,000 instances, polled during the creation),
`job_page_p99_ms` (the big job's page), `mass_reconnect_tasks_lost`, `reconnect_all_s`,
`update_s`.

    python benchmarks/fleet.py             # 5,000 agents, 100,000 instances, PostgreSQL
    python benchmarks/fleet.py --quick     # 500 agents, 10,000 instances
    python benchmarks/fleet.py --store sqlite
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import msgspec
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.conftest import CLUSTER, SchedulerProcess, wait_for
from tests.databases import store_url

from benchmarks.placement import job_sizes
from benchmarks.simfleet.fleet import Fleet
from daybreak.model.api import AgentList, JobList
from daybreak.model.jobspec import (
    JobKey,
    JobSpec,
    LimitConstraint,
    Process,
    QueueStrategy,
    Resources,
    Task,
    UpdateSettings,
)
from daybreak.model.task_state import TaskState
from daybreak.model.update import JobUpdate, UpdateStarted, UpdateStatus

TIMEOUT_S = 1800.0
SMALL = Resources(cpu=0.1, ram_mb=64, disk_mb=64)
AGENT = Resources(cpu=32, ram_mb=128 * 1024, disk_mb=1024 * 1024)


def jobs(role: str, instances: int, count: int, agents: int, seed: int) -> list[JobSpec]:
    rng = np.random.default_rng(seed)
    big = instances // 10
    sizes = [big, *job_sizes(instances - big, count - 1, rng)]
    specs = []
    for number, size in enumerate(sizes):
        name = f"job{number:04d}"
        constrained = number % 10 == 9 and size <= agents  # a tenth: at most 2 on a host
        specs.append(JobSpec(
            key=JobKey(cluster=CLUSTER, role=role, environment="prod", name=name),
            task=Task(name=name, processes=(Process(name="main", cmdline="serve"),),
                      resources=SMALL),
            instances=size, service=True,
            constraints=(LimitConstraint(attribute="host", limit=2),) if constrained else (),
            update=UpdateSettings(watch_secs=0,
                                  strategy=QueueStrategy(batch_size=max(1, big // 20))),
        ))  # fmt: skip
    return specs


def p99_ms(samples: list[float]) -> float:
    return round(float(np.percentile(samples, 99)) * 1000, 1) if samples else -1.0


class Poller:
    """GETs a path over and over in a thread, keeping each one's time."""

    def __init__(self, url: str) -> None:
        self.url, self.samples, self.stop = url, list[float](), threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                client.get(self.url)
                self.samples.append(time.perf_counter() - started)
                time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--racks", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8, help="jobs created at once")
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--quick", action="store_true", help="500 agents, 10,000 instances")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.instances, args.jobs, args.racks = 500, 10_000, 100, 10
    role = f"fleet{uuid.uuid4().hex[:6]}"
    specs = jobs(role, args.instances, args.jobs, args.agents, seed=7)
    big = specs[0]
    probe = min(specs, key=lambda spec: abs(spec.instances - 1000))
    result: dict[str, object] = {
        "agents": args.agents, "instances": args.instances, "jobs": len(specs),
        "store": args.store, "clients": args.clients,
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as temporary, store_url(args.store, Path(temporary)) as url:
        work = Path(temporary)
        scheduler = SchedulerProcess(
            url, work / "scheduler.log",
            "--heartbeat-interval", "1s", "--agent-timeout", "30s",
            "--max-instances-per-job", str(args.instances),
            "--rate-limit", "0",  # measured: the scheduler, not the limit on one client
        ).start()  # fmt: skip
        api = httpx.Client(base_url=scheduler.url + "/api/v1", timeout=120)
        try:
            with Fleet([scheduler.url], work / "fleet", args.agents, workers=args.workers,
                       racks=args.racks, resources=AGENT) as fleet:  # fmt: skip
                started = time.monotonic()
                fleet.start()

                def online() -> int:
                    answer = api.get("/agents")
                    if answer.status_code != 200:
                        print(f"GET /agents: {answer.status_code} {answer.text[:300]}",
                              file=sys.stderr)  # fmt: skip
                        return -1
                    listed = msgspec.json.decode(answer.content, type=AgentList)
                    return sum(agent.online for agent in listed.agents)

                wait_for(lambda: online() == args.agents, "every agent online", TIMEOUT_S)
                result["all_online_s"] = round(time.monotonic() - started, 1)

                status_poller = Poller(f"{scheduler.url}/api/v1/jobs/{probe.key}")
                clients = threading.local()

                def create(spec: JobSpec) -> None:
                    if not hasattr(clients, "api"):
                        clients.api = httpx.Client(base_url=api.base_url, timeout=120)
                    response = clients.api.post("/jobs", content=msgspec.json.encode(spec))
                    assert response.status_code == 201, response.text
                    if spec is probe:
                        status_poller.thread.start()

                created = time.monotonic()
                with ThreadPoolExecutor(args.clients) as submitters:
                    list(submitters.map(create, specs))
                result["create_calls_s"] = round(time.monotonic() - created, 1)

                def running() -> int:
                    return fleet.counts().tasks.get("RUNNING", 0)

                wait_for(lambda: running() == args.instances, "all RUNNING", TIMEOUT_S)
                took = time.monotonic() - created
                status_poller.stop.set()
                result["create_to_all_running_s"] = round(took, 1)
                result["placements_per_s_end_to_end"] = round(args.instances / took)
                result["job_status_p99_ms"] = p99_ms(status_poller.samples)

                # Steady state: heartbeats, memory, the big job's page.
                def metric(name: str) -> float:
                    for line in httpx.get(scheduler.url + "/metrics", timeout=30).text.splitlines():
                        if line.startswith(name + " "):
                            return float(line.split()[1])
                    raise AssertionError(f"no {name} in /metrics")

                def heartbeats() -> float:
                    return metric("daybreak_agent_heartbeats_total")

                # Two whole intervals at least: a shorter window sees bursts, not the rate.
                window_s = max(20.0, 2 * metric("daybreak_agent_heartbeat_interval_seconds"))
                first, at = heartbeats(), time.monotonic()
                time.sleep(window_s)
                result["heartbeats_per_s"] = round((heartbeats() - first) / (time.monotonic() - at))
                assert scheduler.process is not None
                rss = psutil.Process(scheduler.process.pid).memory_info().rss
                result["scheduler_rss_mb"] = round(rss / 2**20)
                page = f"{scheduler.url}/scheduler/{role}/prod/{big.key.name}"
                times = []
                for _ in range(20):
                    begun = time.perf_counter()
                    assert httpx.get(page, timeout=60).status_code == 200
                    times.append(time.perf_counter() - begun)
                result["job_page_p99_ms"] = p99_ms(times)
                result["job_page_median_ms"] = round(statistics.median(times) * 1000, 1)

                # A fifth of the fleet gone at once, and back within the timeout.
                gone = fleet.agent_ids[: args.agents // 5]
                fleet.stop(gone)
                time.sleep(5)
                back = time.monotonic()
                fleet.start(gone)
                wait_for(lambda: online() == args.agents, "every agent back", TIMEOUT_S)
                result["reconnect_all_s"] = round(time.monotonic() - back, 1)
                wait_for(lambda: running() == args.instances, "all RUNNING again", TIMEOUT_S)
                lost = api.get("/tasks", params={"states": "LOST", "limit": 1_000_000}).json()
                result["mass_reconnect_tasks_lost"] = len(lost["tasks"])

                # The big job rolled to a new config.
                new = msgspec.structs.replace(big, task=msgspec.structs.replace(
                    big.task, processes=(Process(name="main", cmdline="serve --v2"),)))  # fmt: skip
                updating = time.monotonic()
                answer = api.post(f"/jobs/{big.key}/update",
                                  json={"spec": msgspec.to_builtins(new)})  # fmt: skip
                update = msgspec.json.decode(answer.content, type=UpdateStarted).update
                assert update is not None, answer.text

                def ended() -> JobUpdate | None:
                    got = api.get(f"/updates/{update.update_id}")
                    details = msgspec.json.decode(got.content, type=JobUpdate)
                    return details if details.status is not UpdateStatus.ROLLING_FORWARD else None

                done = wait_for(ended, "the update over", TIMEOUT_S)
                result["update_instances"] = big.instances
                result["update_s"] = round(time.monotonic() - updating, 1)
                result["update_status"] = str(done.status)
                listed = msgspec.json.decode(api.get("/jobs", params={"role": role}).content,
                                             type=JobList)  # fmt: skip
                result["running_at_end"] = sum(
                    job.states.get(TaskState.RUNNING, 0) for job in listed.jobs
                )
        finally:
            api.close()
            scheduler.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
