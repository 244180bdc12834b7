"""Tasks in images: 100 instances of a containerised `sleep` on 10 agents from a warm cache, what
a container costs beyond a plain task, and a cold pull of a 50 MB image.

Prints one JSON object. A registry on 127.0.0.1 serves images built here (busybox-static, and
the same with 50 MB of random bytes for the cold pull). `warm_100_running_s` runs from the
create request to all 100 RUNNING, each agent having pulled and unpacked the image before.
`per_container_overhead_mb` is the unique memory (USS) of what a task in an image keeps beyond a
plain task's (its container's first process and the `runc exec` that waits for its process),
averaged over the 100; `extra_processes_per_container` counts them. `cold_pull_s` is the agent's
own pull and unpack of the 50 MB image into an empty cache.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.conftest import running_cluster
from tests.images import build_image, push, registry

from daybreak.agent.images import ImageStore
from daybreak.model.api import JobStatus
from daybreak.model.jobspec import DockerContainer, LimitConstraint
from daybreak.model.task_state import TaskState

AGENTS = 10
INSTANCES = 100
BIG_MB = 50


def running(local: object, key: object) -> int:
    response = local.api.get(f"/jobs/{key}")  # type: ignore[attr-defined]
    status = msgspec.json.decode(response.content, type=JobStatus)
    return sum(task.state is TaskState.RUNNING for task in status.active)


def wait(condition: object, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's cluster did not get there in time")
        time.sleep(0.05)


def uss_mb(process: psutil.Process) -> float:
    try:
        return float(process.memory_full_info().uss) / 2**20
    except psutil.Error:
        return 0.0


def container_helpers(job: str) -> list[psutil.Process]:
    """Every process that the tasks of `job` keep beyond a plain task's: each container's first
    process, and the `runc exec` waiting for the task's process (both in the task's cgroup)."""
    helpers = []
    for process in psutil.process_iter(["cmdline", "pid"]):
        words = process.info["cmdline"] or []
        helper = words[:1] == ["/dev/.daybreak-init"] or (
            bool(words) and words[0].endswith("runc") and "exec" in words
        )
        try:
            cgroups = Path(f"/proc/{process.info['pid']}/cgroup").read_text()
        except OSError:
            continue
        if helper and f"-{job}-" in cgroups:
            helpers.append(process)
    return helpers


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        with registry(directory / "registry") as address:
            small = push(build_image(directory / "small", {"/etc/os-release": "ID=bench\n"}),
                         address, "sleeper:1")  # fmt: skip
            noise = os.urandom(BIG_MB * 2**20)  # incompressible: the layer is as big
            big = push(build_image(directory / "big", {"/opt/blob": noise}), address, "big:1")

            started = time.monotonic()
            ImageStore(directory / "cold", frozenset({address})).ensure(big, lambda _m: None)
            cold_pull_s = time.monotonic() - started

            (directory / "cluster").mkdir()
            with running_cluster(
                "sqlite", directory / "cluster", agents=AGENTS,
                agent_args=("--insecure-registry", address),
            ) as local:  # fmt: skip
                container = DockerContainer(image=small)
                one_each = (LimitConstraint(attribute="host", limit=1),)
                warm = local.job(name="warm", instances=AGENTS, container=container,
                                 constraints=one_each)  # fmt: skip
                assert local.create(warm).status_code == 201
                wait(lambda: running(local, warm.key) == AGENTS)
                local.api.post(f"/jobs/{warm.key}/kill", json={})

                spec = local.job(name="sleepers", instances=INSTANCES, container=container)
                started = time.monotonic()
                assert local.create(spec).status_code == 201
                wait(lambda: running(local, spec.key) == INSTANCES)
                warm_s = time.monotonic() - started
                helpers = container_helpers(spec.key.name)
                overhead = sum(uss_mb(process) for process in helpers) / INSTANCES
                local.api.post(f"/jobs/{spec.key}/kill", json={})
                wait(lambda: running(local, spec.key) == 0)
    print(json.dumps({
        "instances": INSTANCES,
        "agents": AGENTS,
        "warm_100_running_s": round(warm_s, 2),
        "per_container_overhead_mb": round(overhead, 2),
        "extra_processes_per_container": round(len(helpers) / INSTANCES, 2),
        "cold_pull_mb": BIG_MB,
        "cold_pull_s": round(cold_pull_s, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
