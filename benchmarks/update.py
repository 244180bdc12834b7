"""A 1,000-instance job updated in batches of 100: a scheduler and 10 agents on this machine.

Creates a service of 1,000 `sleep 600` instances, waits until every one is RUNNING, then
updates all of them to `sleep 601` with `batch_size=100` and `watch_secs=0`, and prints one
JSON object: how long the update took from the start call to ROLLED_FORWARD, and the most
instances that were down (not RUNNING, or not there) at any poll meanwhile. Everything is
killed and stopped afterwards.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.conftest import CLUSTER, wait_for

from benchmarks.e2e_launch import AGENTS, bench_cluster
from daybreak.model.api import JobStatus
from daybreak.model.jobspec import (
    JobKey,
    JobSpec,
    Process,
    QueueStrategy,
    Resources,
    Task,
    UpdateSettings,
)
from daybreak.model.task_state import TaskState
from daybreak.model.update import JobUpdate, UpdateStarted, UpdateStatus

INSTANCES = 1000
BATCH_SIZE = 100
TIMEOUT_S = 300.0


def sleeper(key: JobKey, cmdline: str) -> JobSpec:
    return JobSpec(
        key=key,
        task=Task(
            name="sleeper",
            processes=(Process(name="sleep", cmdline=cmdline),),
            resources=Resources(cpu=0.01, ram_mb=8, disk_mb=8),
        ),
        instances=INSTANCES,
        service=True,
        update=UpdateSettings(
            batch_size=BATCH_SIZE, watch_secs=0, strategy=QueueStrategy(batch_size=BATCH_SIZE)
        ),
    )


class DownWatch:
    """Polls the job in a thread, noting the most instances without a RUNNING task."""

    def __init__(self, api_url: str, key: JobKey) -> None:
        self.api = httpx.Client(base_url=api_url, timeout=30)
        self.key = key
        self.most_down = 0
        self.polls = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopped.is_set():
            status = msgspec.json.decode(self.api.get(f"/jobs/{self.key}").content, type=JobStatus)
            running = {t.instance for t in status.active if t.state is TaskState.RUNNING}
            self.most_down = max(self.most_down, INSTANCES - len(running))
            self.polls += 1
            time.sleep(0.05)


def main() -> None:
    role = f"bench{uuid.uuid4().hex[:6]}"
    key = JobKey(cluster=CLUSTER, role=role, environment="devel", name="sleeper")
    # The test harness' 3 s agent timeout is for tests of lost agents; here agents busy with
    # 200 kills and launches each get a production-like one.
    with bench_cluster(role, "--agent-timeout", "60s") as (scheduler, api):
        created = api.post("/jobs", content=msgspec.json.encode(sleeper(key, "sleep 600")))
        assert created.status_code == 201, created.text

        def all_running() -> bool:
            status = msgspec.json.decode(api.get(f"/jobs/{key}").content, type=JobStatus)
            return sum(t.state is TaskState.RUNNING for t in status.active) == INSTANCES

        wait_for(all_running, "every instance RUNNING", TIMEOUT_S)
        watch = DownWatch(scheduler.url + "/api/v1", key)
        watch.thread.start()
        started = time.monotonic()
        body = {"spec": msgspec.to_builtins(sleeper(key, "sleep 601"))}
        response = api.post(f"/jobs/{key}/update", json=body)
        assert response.status_code == 200, response.text
        update = msgspec.json.decode(response.content, type=UpdateStarted).update
        assert update is not None

        def finished() -> JobUpdate | None:
            got = api.get(f"/updates/{update.update_id}")
            details = msgspec.json.decode(got.content, type=JobUpdate)
            return details if details.status is not UpdateStatus.ROLLING_FORWARD else None

        done = wait_for(finished, "the update over", TIMEOUT_S)
        elapsed = time.monotonic() - started
        watch.stopped.set()
        watch.thread.join()
        result = {
            "instances": INSTANCES,
            "agents": AGENTS,
            "batch_size": BATCH_SIZE,
            "status": str(done.status),
            "message": done.progress.message,
            "update_s": round(elapsed, 2),
            "max_instances_down": watch.most_down,
            "polls": watch.polls,
        }
        api.post(f"/jobs/{key}/kill", content=b"{}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
