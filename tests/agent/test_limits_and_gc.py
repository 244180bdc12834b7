"""Resource limits, usage reports and sandbox garbage collection, with real processes."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from daybreak.agent.cgroups import TaskCgroups, machine_hierarchies
from daybreak.agent.executor.checkpoint import read_checkpoint
from daybreak.model.jobspec import Process, Resources
from daybreak.model.task_state import TaskState
from tests.agent.conftest import AgentFactory, AgentProcess, job
from tests.agent.fake_scheduler import WAIT_S, FakeScheduler

MIB = 1024**2
# 64 MiB of ram, and a whole core so that Python starts quickly under a cpu quota.
LIMITED = Resources(cpu=1, ram_mb=64, disk_mb=64)
HOG = f"{sys.executable} -c \"b = b'x' * (160 * 2**20); import time; time.sleep(600)\""


def cgroups_of(agent: AgentProcess, task_id: str) -> TaskCgroups:
    launch = read_checkpoint(agent.task_dir(task_id) / "checkpoint").launch
    assert launch is not None
    return TaskCgroups.from_procs_files(launch.cgroup_procs)


def test_the_machine_lets_the_agent_limit_cpu_memory_and_pids() -> None:
    controllers = set().union(*(h.controllers for h in machine_hierarchies()))
    assert {"cpu", "memory", "pids"} <= controllers


def test_a_task_runs_inside_cgroups_with_its_limits(
    scheduler: FakeScheduler, start_agent: AgentFactory, task_prefix: str
) -> None:
    agent = start_agent("--task-pids-max", "64")
    task_id = f"{task_prefix}-limits"
    spec = job(Process(name="idle", cmdline="sleep 600"),
               resources=Resources(cpu=0.5, ram_mb=96, disk_mb=64))  # fmt: skip
    scheduler.launch(task_id, spec)
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    cgroups = cgroups_of(agent, task_id)
    limits = {
        path.name: path.read_text().strip()
        for directory in cgroups.directories
        for path in directory.iterdir()
        if path.name in ("cpu.cfs_quota_us", "memory.limit_in_bytes", "pids.max", "cpu.max",
                         "memory.max")
    }  # fmt: skip
    assert limits.get("cpu.cfs_quota_us", limits.get("cpu.max", "").split(" ")[0]) == "50000"
    assert limits.get("memory.limit_in_bytes", limits.get("memory.max")) == str(96 * MIB)
    assert limits["pids.max"] == "64"

    def members() -> set[int]:
        return {
            int(pid) for procs in cgroups.procs_files for pid in Path(procs).read_text().split()
        }

    # RUNNING can arrive before the waiter has forked `sleep` into the task's cgroups.
    scheduler.wait_until(lambda: len(members()) >= 2, "the waiter and `sleep` in the cgroups")
    scheduler.kill(task_id)
    scheduler.wait_for_state(task_id, TaskState.KILLED)
    # A finished task's cgroups are removed once its processes are gone.
    scheduler.wait_until(lambda: not any(d.exists() for d in cgroups.directories), "cleanup")


def test_a_task_past_its_memory_limit_is_killed_by_the_kernel_and_says_so(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-oom"
    scheduler.launch(task_id, job(Process(name="hog", cmdline=HOG), resources=LIMITED))
    failed = scheduler.wait_for_state(task_id, TaskState.FAILED)
    assert failed.message == (
        "Memory limit exceeded: the kernel killed 1 process(es) of the task for using more "
        "than its 64 MiB of ram"
    )


@pytest.mark.parametrize(
    "case",  # the agent's flags, the task's command, and the reason it must fail with
    [
        (
            ("--no-cgroups",),
            HOG,
            r"Memory limit exceeded: the task used ([\d.]+) MiB of ram, more than its 64 MiB",
        ),
        (
            (),
            "head -c 80M /dev/zero > big; sleep 600",
            r"Disk limit exceeded: the sandbox holds ([\d.]+) MiB, more than the task's 64 MiB",
        ),
    ],
    ids=["measured-ram", "disk"],
)
def test_the_agent_measures_and_kills_a_task_past_its_ram_or_disk(
    scheduler: FakeScheduler,
    start_agent: AgentFactory,
    task_prefix: str,
    case: tuple[tuple[str, ...], str, str],
) -> None:
    """Ram is measured where no memory cgroup holds the task; disk always."""
    flags, command, reason = case
    start_agent(*flags, "--usage-interval", "100ms")
    task_id = f"{task_prefix}-measured"
    scheduler.launch(task_id, job(Process(name="hog", cmdline=command), resources=LIMITED))
    failed = scheduler.wait_for_state(task_id, TaskState.FAILED)
    found = re.fullmatch(reason, failed.message or "")
    assert found is not None and float(found[1]) > 64


def test_heartbeats_carry_each_running_task_usage(
    scheduler: FakeScheduler, start_agent: AgentFactory, task_prefix: str
) -> None:
    start_agent("--usage-interval", "100ms")
    task_id = f"{task_prefix}-usage"
    command = "head -c 3M /dev/urandom > data; sleep 600"
    scheduler.launch(task_id, job(Process(name="p", cmdline=command)))
    scheduler.wait_for_state(task_id, TaskState.RUNNING)

    def reported() -> bool:
        return any(
            u.task_id == task_id and u.disk_mb >= 3 and u.processes >= 2 and u.ram_mb > 0
            for beat in scheduler.heartbeats
            for u in beat.usage
        )

    scheduler.wait_until(reported, "usage in a heartbeat")


def test_finished_sandboxes_are_removed_past_their_total_size_oldest_first(
    scheduler: FakeScheduler, start_agent: AgentFactory, task_prefix: str
) -> None:
    agent = start_agent("--sandbox-max-total", "3MiB", "--gc-interval", "100ms")
    write = "head -c 2M /dev/urandom > data"
    first, second = f"{task_prefix}-gc-first", f"{task_prefix}-gc-second"
    scheduler.launch(first, job(Process(name="p", cmdline=write)))
    scheduler.wait_for_state(first, TaskState.FINISHED)
    # One sandbox fits: it stays for inspection.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert agent.task_dir(first).exists()
        time.sleep(0.05)
    scheduler.launch(second, job(Process(name="p", cmdline=write)))
    scheduler.wait_for_state(second, TaskState.FINISHED)
    scheduler.wait_until(lambda: not agent.task_dir(first).exists(), "the older sandbox gone")
    assert agent.task_dir(second).exists()


def test_finished_sandboxes_are_removed_past_their_age(
    scheduler: FakeScheduler, start_agent: AgentFactory, task_prefix: str
) -> None:
    agent = start_agent("--sandbox-max-age", "300ms", "--gc-interval", "100ms")
    task_id = f"{task_prefix}-gc-age"
    scheduler.launch(task_id, job(Process(name="p", cmdline="true")))
    scheduler.wait_for_state(task_id, TaskState.FINISHED)
    scheduler.wait_until(lambda: not agent.task_dir(task_id).exists(), "the sandbox gone", WAIT_S)
    # A restarted agent no longer lists it.
    agent.stop()
    agent.start()
    hello = scheduler.wait_for_hello(len(scheduler.hellos) + 1)
    assert task_id not in hello.inventory
