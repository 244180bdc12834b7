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
from collections.abc import Iterable
from pathlib import Path

from daybreak.agent.cgroups import MIB, TaskCgroups
from daybreak.model.agent_protocol import TaskUsage
from daybreak.model.jobspec import Resources

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def tree_bytes(root: Path) -> int:
    """Disk used under `root`, symlinks not followed; files vanishing meanwhile are skipped."""
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
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return total


def process_usage(pids: Iterable[int]) -> tuple[float, int]:
    """Cpu seconds and resident bytes of these processes, from /proc."""
    cpu_ticks = 0
    resident = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat_file:
                stat = stat_file.read()
            with open(f"/proc/{pid}/statm", "rb") as statm_file:
                statm = statm_file.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        # utime, stime, and the children's cutime, cstime (fields 14-17 of stat).
        cpu_ticks += sum(int(value) for value in fields[11:15])
        resident += int(statm.split()[1]) * PAGE_BYTES
    return cpu_ticks / TICKS_PER_S, resident


def measure(task_id: str, task_dir: Path, cgroups: TaskCgroups, pids: set[int]) -> TaskUsage:
    cpu_secs, resident = process_usage(pids)
    cgroup_ram = cgroups.ram_bytes()
    cgroup_cpu = cgroups.cpu_secs()
    return TaskUsage(
        task_id=task_id,
        cpu_secs=round(cgroup_cpu if cgroup_cpu is not None else cpu_secs, 3),
        ram_mb=round((cgroup_ram if cgroup_ram is not None else resident) / MIB, 1),
        disk_mb=round(tree_bytes(task_dir) / MIB, 1),
        processes=len(pids),
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
