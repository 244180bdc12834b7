"""Placement and preemption throughput of the scheduling core, on one core.

Builds a heterogeneous cluster (agents in racks) and a mix of jobs, places every pending
instance in one scheduling round, and prints one JSON object. Three runs:
- unconstrained: no job has constraints;
- constrained: 20% of jobs `host: limit:1`, 10% a rack limit, 5% value constraints on racks;
- preemption: the cluster full of preemptible work, then production tasks that need victims.
Each is measured `--repeat` times, after an untimed round that warms the process up, and the
median is reported with the spread: on this shared machine one round's figure can be 25% off
the next one's, and the first round of a process pays for its warm-up.

    python benchmarks/placement.py [--agents 5000] [--racks 50] [--instances 50000]
                                   [--jobs 500] [--preempting 1000] [--seed 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import msgspec
import numpy as np

from daybreak.core.cluster import Cluster
from daybreak.core.effects import LaunchTask
from daybreak.core.scheduling import schedule
from daybreak.core.settings import Settings
from daybreak.model.agent import AgentInfo, PortRange
from daybreak.model.jobspec import (
    JobKey,
    JobSpec,
    LimitConstraint,
    Process,
    Resources,
    SchedulingConstraint,
    Task,
    ValueConstraint,
)
from daybreak.model.task_state import TaskState

# Agent shapes: (cpu, ram GiB, disk GiB), several generations of machines.
SHAPES = [(16, 64, 500), (32, 128, 1000), (48, 192, 2000), (64, 256, 2000)]
# Task shapes: (cpu, ram MiB, disk MiB).
TASKS = [(0.25, 256, 512), (0.5, 512, 1024), (1.0, 2048, 4096), (2.0, 4096, 8192)]


def build_agents(count: int, racks: int, rng: np.random.Generator) -> list[AgentInfo]:
    agents = []
    for number in range(count):
        cpu, ram, disk = SHAPES[int(rng.integers(len(SHAPES)))]
        agents.append(
            AgentInfo(
                agent_id=f"agent-{number:05d}",
                hostname=f"host-{number:05d}",
                attributes={"host": f"host-{number:05d}", "rack": f"rack-{number % racks:02d}"},
                resources=Resources(cpu=cpu, ram_mb=ram * 1024, disk_mb=disk * 1024),
                ports=PortRange(first=31000, last=32000),
            )
        )
    return agents


def job_sizes(total: int, jobs: int, rng: np.random.Generator) -> list[int]:
    """Mixed sizes (a few big jobs, many small ones) summing to `total`."""
    weights = rng.pareto(1.5, jobs) + 0.05
    sizes = np.maximum(1, np.floor(weights / weights.sum() * total)).astype(int)
    sizes[int(sizes.argmax())] += total - int(sizes.sum())
    return [int(size) for size in sizes]


def constraints_for(
    number: int, jobs: int, racks: int, size: int
) -> tuple[SchedulingConstraint, ...]:
    share = number / jobs
    if share < 0.20:
        return (LimitConstraint(attribute="host", limit=1),)
    if share < 0.30:
        return (LimitConstraint(attribute="rack", limit=max(1, -(-size // racks) + 1)),)
    if share < 0.35:
        chosen = tuple(f"rack-{r:02d}" for r in range(number % 5, racks, 2))
        return (ValueConstraint(attribute="rack", values=chosen),)
    return ()


def build_jobs(
    args: argparse.Namespace, rng: np.random.Generator, *, constrained: bool, tier: str | None
) -> list[JobSpec]:
    specs = []
    for number, size in enumerate(job_sizes(args.instances, args.jobs, rng)):
        cpu, ram, disk = TASKS[int(rng.integers(len(TASKS)))]
        name = f"job{number:04d}"
        constraints = constraints_for(number, args.jobs, args.racks, size) if constrained else ()
        specs.append(
            JobSpec(
                key=JobKey(
                    cluster="bench", role=f"role{number % 20:02d}", environment="prod", name=name
                ),
                task=Task(
                    name=name,
                    processes=(Process(name="main", cmdline="sleep 1000"),),
                    resources=Resources(cpu=cpu, ram_mb=ram, disk_mb=disk),
                ),
                instances=size,
                service=True,
                tier=tier,
                constraints=constraints,
                ports=("http",) if number % 2 else (),
            )
        )
    return specs


def place_all(args: argparse.Namespace, *, constrained: bool) -> dict[str, float]:
    rng = np.random.default_rng(args.seed)
    cluster = Cluster(replace(Settings(), preemption_delay_ms=10**12))
    for info in build_agents(args.agents, args.racks, rng):
        cluster.register_agent(info, 0)
    for spec in build_jobs(args, rng, constrained=constrained, tier=None):
        cluster.add_instances(spec, range(spec.instances), 0)
    started = time.perf_counter()
    effects = schedule(cluster, 1)
    elapsed = time.perf_counter() - started
    placed = sum(isinstance(effect, LaunchTask) for effect in effects)
    return {"placed": placed, "pending": len(cluster.in_state(TaskState.PENDING)),
            "seconds": elapsed, "per_s": placed / elapsed}  # fmt: skip


def preempt(args: argparse.Namespace) -> dict[str, float]:
    """Fill every agent's cpu with preemptible 1-cpu tasks, then ask for production room."""
    rng = np.random.default_rng(args.seed)
    cluster = Cluster(replace(Settings(), preemption_delay_ms=0))
    agents = build_agents(args.agents, args.racks, rng)
    for info in agents:
        cluster.register_agent(info, 0)
    filler_count = int(sum(info.resources.cpu for info in agents))
    filler = JobSpec(
        key=JobKey(cluster="bench", role="batch", environment="prod", name="filler"),
        task=Task(name="filler", processes=(Process(name="main", cmdline="sleep 1"),),
                  resources=Resources(cpu=1, ram_mb=1024, disk_mb=1024)),
        instances=filler_count,
    )  # fmt: skip
    cluster.add_instances(filler, range(filler_count), 0)
    schedule(cluster, 0)
    victims = len(cluster.in_state(TaskState.ASSIGNED))
    prod = msgspec.structs.replace(
        filler,
        key=msgspec.structs.replace(filler.key, role="web", name="prod"),
        tier="preferred",
        instances=args.preempting,
        task=msgspec.structs.replace(
            filler.task, resources=Resources(cpu=3, ram_mb=2048, disk_mb=2048)
        ),
    )
    cluster.add_instances(prod, range(args.preempting), 1)
    started = time.perf_counter()
    schedule(cluster, 2)
    elapsed = time.perf_counter() - started
    decisions = len(cluster.reservations)
    return {"tasks_running": victims, "decisions": decisions,
            "preempting": len(cluster.in_state(TaskState.PREEMPTING)),
            "seconds": elapsed, "per_s": decisions / elapsed}  # fmt: skip


def replace_size(args: argparse.Namespace, divisor: int) -> argparse.Namespace:
    smaller = argparse.Namespace(**vars(args))
    smaller.agents, smaller.instances = args.agents // divisor, args.instances // divisor
    return smaller


def median_of(
    repeat: int, measure: Callable[[], dict[str, float]]
) -> tuple[dict[str, float], list[int]]:
    """The run with the median rate, and the lowest and highest rate of all the runs."""
    runs = sorted((measure() for _ in range(repeat)), key=lambda run: run["per_s"])
    return runs[len(runs) // 2], [round(runs[0]["per_s"]), round(runs[-1]["per_s"])]


def main() -> None:
    # The floors are per core: keep the process (and any numpy threads) on one.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--racks", type=int, default=50)
    parser.add_argument("--instances", type=int, default=50_000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--preempting", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    place_all(replace_size(args, 10), constrained=False)
    free, free_spread = median_of(args.repeat, lambda: place_all(args, constrained=False))
    constrained, constrained_spread = median_of(
        args.repeat, lambda: place_all(args, constrained=True)
    )
    preemption, preemption_spread = median_of(args.repeat, lambda: preempt(args))
    result = {
        "agents": args.agents,
        "racks": args.racks,
        "jobs": args.jobs,
        "instances": args.instances,
        "placed_unconstrained": free["placed"],
        "placements_per_s_unconstrained": round(free["per_s"]),
        "placements_per_s_unconstrained_spread": free_spread,
        "placed_constrained": constrained["placed"],
        "pending_constrained": constrained["pending"],
        "placements_per_s_constrained": round(constrained["per_s"]),
        "placements_per_s_constrained_spread": constrained_spread,
        "preemption_victims_available": preemption["tasks_running"],
        "preemption_decisions": preemption["decisions"],
        "tasks_preempted": preemption["preempting"],
        "preemptions_per_s": round(preemption["per_s"]),
        "preemptions_per_s_spread": preemption_spread,
        "repeat": args.repeat,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
