"""Limits for a task's processes through cgroups, where the machine lets the agent write them.

A task gets one cgroup per hierarchy that holds a controller it needs: under cgroup v2 one
directory for cpu, memory and pids together; under v1 one per mounted hierarchy of `cpu`,
`memory` and `pids` (a `cpuacct` mounted with `cpu` gives cpu time; mounted alone it is left
out, one directory fewer per launch, and cpu time comes from /proc). Each lives under the
agent's own cgroup, in `daybreak-AGENT_ID/TASK_ID`, so agents sharing a machine do not meet.

Limits: cpu as a CFS quota (`cpu` cores of time per period) and shares, memory as a hard limit
(swap included where the kernel accounts it), pids as a cap against fork bombs. A process that
passes the memory limit is killed by the kernel, which counts it (`oom_kill`); the agent reads
the count to say why the task died.

Where no hierarchy is writable the task runs without cgroups and the agent measures instead
(see `usage.py`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from daybreak.model.jobspec import Resources
from daybreak.model.units import MIB

log = logging.getLogger("daybreak.agent")

CPU_PERIOD_US = 100_000
MIN_CPU_QUOTA_US = 1_000
# Controllers whose limits the agent sets.
LIMITED = ("cpu", "memory", "pids")


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 1 or 2
    base: Path  # the agent's own cgroup in this hierarchy
    controllers: frozenset[str]


def parse_mounts(mountinfo: str) -> list[tuple[int, Path, str, frozenset[str]]]:
    """Cgroup mounts as (version, mount point, root within the hierarchy, v1 controllers)."""
    mounts = []
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            mounts.append((2, Path(fields[4]), fields[3], frozenset[str]()))
        elif fstype == "cgroup":
            controllers = frozenset(o for o in options if o in (*LIMITED, "cpuacct"))
            if controllers:
                mounts.append((1, Path(fields[4]), fields[3], controllers))
    return mounts


def parse_membership(proc_cgroup: str) -> dict[str, str]:
    """The process' cgroup path per hierarchy: by controller for v1, under "" for v2."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _below(mount: Path, mount_root: str, own: str) -> Path:
    relative = os.path.relpath(own, mount_root) if own.startswith(mount_root) else "."
    return (mount / relative).resolve()


def detect_hierarchies(mountinfo: str, proc_cgroup: str) -> list[Hierarchy]:
    """The hierarchies a task's cgroups can go in: v2 where it offers every limited
    controller and can hand them down, else the writable v1 hierarchies."""
    membership = parse_membership(proc_cgroup)
    mounts = parse_mounts(mountinfo)
    for version, mount, root, _ in mounts:
        if version == 2 and "" in membership:
            base = _below(mount, root, membership[""])
            if _delegate_v2(base):
                return [Hierarchy(2, base, frozenset(LIMITED))]
    found: list[Hierarchy] = []
    for version, mount, root, controllers in mounts:
        if version != 1 or not controllers & set(LIMITED):
            continue
        own = next((membership[c] for c in controllers if c in membership), None)
        if own is None:
            continue
        base = _below(mount, root, own)
        if os.access(base, os.W_OK):
            found.append(Hierarchy(1, base, controllers))
    return found


def _delegate_v2(base: Path) -> bool:
    """Whether the agent's v2 cgroup can give its children the limited controllers."""
    try:
        offered = set((base / "cgroup.controllers").read_text().split())
        if not set(LIMITED) <= offered:
            return False
        enabled = set((base / "cgroup.subtree_control").read_text().split())
        if not set(LIMITED) <= enabled:
            (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in LIMITED))
    except OSError:
        # Typically: the agent's cgroup holds processes, so it may not delegate (v2's rule).
        return False
    return True


def machine_hierarchies() -> list[Hierarchy]:
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        proc_cgroup = Path("/proc/self/cgroup").read_text()
    except OSError:
        return []
    return detect_hierarchies(mountinfo, proc_cgroup)


@dataclass(frozen=True)
class TaskCgroups:
    """A task's cgroup directories; rebuilt from their paths after an agent restart."""

    directories: tuple[Path, ...]

    @property
    def procs_files(self) -> tuple[str, ...]:
        return tuple(str(d / "cgroup.procs") for d in self.directories)

    @classmethod
    def from_procs_files(cls, procs_files: tuple[str, ...]) -> TaskCgroups:
        return cls(tuple(Path(procs).parent for procs in procs_files))

    def _read(self, name: str) -> str | None:
        for directory in self.directories:
            with contextlib.suppress(OSError):
                return (directory / name).read_text()
        return None

    def _stat(self, name: str) -> dict[str, int]:
        text = self._read(name) or ""
        pairs = (line.split() for line in text.splitlines())
        return {fields[0]: int(fields[1]) for fields in pairs if len(fields) == 2}

    def oom_kills(self) -> int:
        """How many processes of the task the kernel killed for passing its memory limit."""
        events = self._stat("memory.events") or self._stat("memory.oom_control")
        return events.get("oom_kill", 0)

    @cached_property
    def memory_limited(self) -> bool:
        return any(
            (d / name).exists()
            for d in self.directories
            for name in ("memory.max", "memory.limit_in_bytes")
        )

    def ram_bytes(self) -> int | None:
        """The working set: memory in use less the page cache the kernel may drop."""
        current = self._read("memory.current") or self._read("memory.usage_in_bytes")
        if current is None:
            return None
        stat = self._stat("memory.stat")
        inactive = stat.get("inactive_file", stat.get("total_inactive_file", 0))
        return max(0, int(current) - inactive)

    def cpu_secs(self) -> float | None:
        usage_ns = self._read("cpuacct.usage")
        if usage_ns is not None:
            return int(usage_ns) / 1e9
        usage_us = self._stat("cpu.stat").get("usage_usec")
        return None if usage_us is None else usage_us / 1e6

    def remove(self) -> bool:
        """Remove the directories; False while processes are still in one of them.

        A v1 memory cgroup is emptied first. Without that, the page cache its task left (its
        logs, its files) keeps it alive in the kernel after `rmdir`; hundreds of such dying
        cgroups make creating new ones, and so every launch, several times slower."""
        removed = True
        for directory in self.directories:
            with contextlib.suppress(OSError):  # not a memory cgroup, or processes remain
                (directory / "memory.force_empty").write_text("0")
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                removed = False
        return removed


def agent_directories(hierarchies: list[Hierarchy], agent_id: str) -> list[Path]:
    """Where an agent's task cgroups go, one per hierarchy."""
    return [hierarchy.base / agent_cgroup_name(agent_id) for hierarchy in hierarchies]


def agent_cgroup_name(agent_id: str) -> str:
    """The agent's tasks' cgroups' parent, within the agent's own cgroup in each hierarchy."""
    return f"daybreak-{agent_id}"


def create_task_cgroups(
    hierarchies: list[Hierarchy],
    agent_id: str,
    task_id: str,
    resources: Resources,
    pids_max: int,
) -> TaskCgroups:
    """Make the task's cgroups and write its limits; a hierarchy that refuses is left out."""
    directories = []
    parents = agent_directories(hierarchies, agent_id)
    for hierarchy, parent in zip(hierarchies, parents, strict=True):
        directory = parent / task_id
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name, value in _limits(hierarchy, resources, pids_max):
                with contextlib.suppress(FileNotFoundError):  # e.g. no swap accounting
                    (directory / name).write_text(value)
        except OSError as error:
            log.warning("task=%s event=cgroup_failed dir=%s error=%r", task_id, directory, error)
            with contextlib.suppress(OSError):
                directory.rmdir()
            continue
        directories.append(directory)
    return TaskCgroups(tuple(directories))


def _limits(hierarchy: Hierarchy, resources: Resources, pids_max: int) -> list[tuple[str, str]]:
    quota_us = max(MIN_CPU_QUOTA_US, round(resources.cpu * CPU_PERIOD_US))
    ram = str(resources.ram_mb * MIB)
    has = hierarchy.controllers
    limits: list[tuple[str, str]] = []
    if hierarchy.version == 2:
        limits += [
            ("cpu.max", f"{quota_us} {CPU_PERIOD_US}"),
            ("cpu.weight", str(max(1, min(10_000, round(resources.cpu * 100))))),
            ("memory.max", ram),
            ("memory.swap.max", "0"),
            ("pids.max", str(pids_max)),
        ]
        return limits
    if "cpu" in has:
        # The period is the kernel's default (100 ms); only the quota is written.
        limits += [
            ("cpu.cfs_quota_us", str(quota_us)),
            ("cpu.shares", str(max(2, round(resources.cpu * 1024)))),
        ]
    if "memory" in has:
        # The memory+swap limit may not go below the memory limit: memory first.
        limits += [("memory.limit_in_bytes", ram), ("memory.memsw.limit_in_bytes", ram)]
    if "pids" in has:
        limits.append(("pids.max", str(pids_max)))
    return limits
