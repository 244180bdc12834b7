"""Server time of the web UI's pages with a 10,000-instance job RUNNING.

Starts a real `daybreak scheduler` (SQLite) and 50 simulated agents (`simfleet`: the real
agent's link over real WebSockets, STARTING then RUNNING for every launch) that start no
process, so the scheduler holds 10,000 running tasks without this machine running
20,000 processes. Creates the job through the API, waits until every instance is RUNNING, then
fetches each page REPEATS times over HTTP and prints one JSON object: per page, the median, p95
and worst of the scheduler's own time (its `Server-Timing` header: handler and template
rendering) and of the whole request as the client saw it. The floor: the job page's worst
server time under 500 ms.

    python benchmarks/ui_pages.py [--instances 10000] [--agents 50] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.conftest import CLUSTER, SchedulerProcess, wait_for

from benchmarks.simfleet.fleet import Fleet
from daybreak.model.api import JobList
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.task_state import TaskState

FLOOR_MS = 500.0
# Agents that each take a large share of 10,000 instances.
BIG = Resources(cpu=256, ram_mb=1 << 20, disk_mb=1 << 22)
TIMEOUT_S = 300.0


def running(api: httpx.Client, key: JobKey) -> int:
    jobs = msgspec.json.decode(api.get("/jobs", params={"role": key.role}).content, type=JobList)
    return sum(job.states.get(TaskState.RUNNING, 0) for job in jobs.jobs if job.key == key)


def measure(web: httpx.Client, path: str, repeats: int) -> dict[str, float]:
    server, client = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        response = web.get(path)
        client.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.text[:300])
        server.append(float(response.headers["server-timing"].split("dur=")[1]))
    return {
        "server_p50_ms": round(statistics.median(server), 1),
        "server_p95_ms": round(sorted(server)[int(0.95 * (len(server) - 1))], 1),
        "server_max_ms": round(max(server), 1),
        "client_p50_ms": round(statistics.median(client), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    options = parser.parse_args()
    role = f"bench{uuid.uuid4().hex[:6]}"
    key = JobKey(cluster=CLUSTER, role=role, environment="prod", name="web")
    spec = JobSpec(
        key=key,
        task=Task(
            name="web",
            processes=(Process(name="server", cmdline="serve --port {{thermos.ports[http]}}"),),
            resources=Resources(cpu=0.25, ram_mb=128, disk_mb=256),
        ),
        instances=options.instances,
        service=True,
    )
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        store = f"sqlite:///{work / 'scheduler.db'}"
        scheduler = SchedulerProcess(
            store, work / "scheduler.log", "--max-instances-per-job", str(options.instances),
            "--rate-limit", "0",  # measured: the pages, not the limit on one client
        ).start()  # fmt: skip
        api = httpx.Client(base_url=scheduler.url + "/api/v1", timeout=60)
        web = httpx.Client(base_url=scheduler.url, timeout=60)
        try:
            with Fleet([scheduler.url], work / "fleet", options.agents, resources=BIG) as fleet:
                fleet.start()
                created = time.monotonic()
                response = api.post("/jobs", content=msgspec.json.encode(spec))
                assert response.status_code == 201, response.text
                wait_for(lambda: running(api, key) == options.instances, "all RUNNING", TIMEOUT_S)
                all_running_s = time.monotonic() - created
                job = f"/scheduler/{role}/prod/web"
                pages = {
                    "job": job,
                    "job_last_page": f"{job}?page={-(-options.instances // 100)}",
                    "instance": f"{job}/{options.instances - 1}",
                    "home": "/scheduler",
                    "role": f"/scheduler/{role}",
                    "agents": "/agents",
                    "utilization": "/utilization",
                    "quotas": "/quotas",
                    "updates": "/updates",
                }
                timings = {
                    name: measure(web, path, options.repeats) for name, path in pages.items()
                }
        finally:
            api.close()
            web.close()
            scheduler.stop()
    worst = timings["job"]["server_max_ms"]
    print(
        json.dumps(
            {
                "instances": options.instances,
                "agents": options.agents,
                "create_to_all_running_s": round(all_running_s, 1),
                "repeats": options.repeats,
                "pages": timings,
                "job_page_server_max_ms": worst,
                "floor_ms": FLOOR_MS,
                "within_floor": worst < FLOOR_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
