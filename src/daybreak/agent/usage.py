"""What a task uses, and whether it has gone past what it asked for.

Ram and cpu come from the task's cgroups when it has them, otherwise from /proc for each of
its processes (resident set, and user + system time including reaped children). Disk is the
size of everything under the task's directory, counted in allocated blocks as `du` does.

The limits, as the executor enforced them: past its disk the task fails ("Disk limit
exceeded", as Aurora said); past its ram it fails too, killed by the kernel where a memory
cgroup holds it, by the agent where none does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from daybreak.agent.cgroups import TaskCgroups
from daybreak.agent.executor.tree import stat_fields
from daybreak.model.agent_protocol import TaskUsage
from daybreak.model.jobspec import Resources
from daybreak.model.units import MIB

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def tree_bytes(root: Path) -> int:
    """Disk used under `root`, symlinks not followed and other file systems not entered (a
    container's root mounted there is the image's, shared: `du -x`); files vanishing meanwhile
    are skipped."""
    try:
        device = root.stat().st_dev
    except OSError:
        return 0
    total = 0
    pending = [root]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_dev != device:
                continue
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return total


def process_cpu_secs(pids: Iterable[int]) -> float:
    """User + system time of these processes and of the children they reaped, from /proc."""
    ticks = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 of stat.
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS_PER_S


def process_resident_bytes(pids: Iterable[int]) -> int:
    resident = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                resident += int(statm.read().split()[1]) * PAGE_BYTES
        except OSError:
            continue
    return resident


def measure(task_id: str, task_dir: Path, cgroups: TaskCgroups, pids: set[int]) -> TaskUsage:
    """The task's usage; /proc is read only for what its cgroups do not account."""
    cpu_secs = cgroups.cpu_secs()
    if cpu_secs is None:
        cpu_secs = process_cpu_secs(pids)
    ram_bytes = cgroups.ram_bytes()
    if ram_bytes is None:
        ram_bytes = process_resident_bytes(pids)
    return TaskUsage(
        task_id=task_id,
        cpu_secs=round(cpu_secs, 3),
        ram_mb=round(ram_bytes / MIB, 1),
        disk_mb=round(tree_bytes(task_dir) / MIB, 1),
        processes=len(pids),
        measured_ms=int(time.time() * 1000),
    )


def over_limit(usage: TaskUsage, resources: Resources, kernel_limits_ram: bool) -> str | None:
    """Why the task must stop for what it uses, or None."""
    if usage.disk_mb > resources.disk_mb:
        return (
            f"Disk limit exceeded: the sandbox holds {usage.disk_mb:g} MiB, "
            f"more than the task's {resources.disk_mb} MiB"
        )
    if not kernel_limits_ram and usage.ram_mb > resources.ram_mb:
        return (
            f"Memory limit exceeded: the task used {usage.ram_mb:g} MiB of ram, "
            f"more than its {resources.ram_mb} MiB"
        )
    return None


def oom_message(resources: Resources, kills: int) -> str:
    return (
        f"Memory limit exceeded: the kernel killed {kills} process(es) of the task for using "
        f"more than its {resources.ram_mb} MiB of ram"
    )
