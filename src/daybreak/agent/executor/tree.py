"""Finding every process of a task, including those that daemonised themselves.

Three ways in, because each can miss something the others catch:
- descendants of the task's waiters, through parent links;
- the `DAYBREAK_TASK_ID` variable every process of the task inherits, which survives a double
  fork and an agent restart (a process can clear its environment, hence the other two);
- the members of the task's cgroups, where the machine has them.
One scan of /proc answers for every task at once, so killing 500 tasks costs one scan; a task
with cgroups needs none, since its cgroups hold every process it started.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from daybreak.agent.executor.processes import TASK_MARKER

_MARKER = TASK_MARKER.encode() + b"="


def stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from the state on (field 3 onwards); None if the process is gone,
    dead or a zombie. The command name before it may hold spaces and parentheses, hence the
    split after the last ')'."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return fields


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; None if it is gone or a zombie."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


@dataclass
class ProcessTable:
    parents: dict[int, int] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)
    by_task: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def scan(cls) -> ProcessTable:
        table = cls()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            fields = stat_fields(pid)
            if fields is None:
                continue  # gone, or dead and waiting to be reaped: nothing left to signal
            parent = int(fields[1])
            table.parents[pid] = parent
            table.children.setdefault(parent, []).append(pid)
            environ = _read(f"/proc/{pid}/environ")
            if environ and _MARKER in environ:
                for variable in environ.split(b"\0"):
                    if variable.startswith(_MARKER):
                        task_id = variable[len(_MARKER) :].decode(errors="replace")
                        table.by_task.setdefault(task_id, set()).add(pid)
        return table

    def descendants(self, roots: Iterable[int]) -> set[int]:
        found: set[int] = set()
        pending = [pid for pid in roots if pid in self.parents]
        while pending:
            pid = pending.pop()
            if pid in found:
                continue
            found.add(pid)
            pending.extend(self.children.get(pid, ()))
        return found

    def task_processes(
        self, task_id: str, roots: Iterable[int], cgroup_procs: Iterable[str] = ()
    ) -> set[int]:
        found = self.descendants(roots) | self.by_task.get(task_id, set())
        found |= {pid for pid in cgroup_members(cgroup_procs) if pid in self.parents}
        return found


class ProcessTables:
    """Scans of /proc shared between tasks: a recent one for questions that only delay
    something when answered late (are strays left?), a fresh one before killing."""

    def __init__(self, clock: Callable[[], float], recent_s: float = 0.2) -> None:
        self._clock = clock
        self._recent_s = recent_s
        self._latest: tuple[float, ProcessTable] | None = None

    def recent(self) -> ProcessTable:
        if self._latest is None or self._clock() - self._latest[0] > self._recent_s:
            return self.fresh()
        return self._latest[1]

    def fresh(self) -> ProcessTable:
        self._latest = (self._clock(), ProcessTable.scan())
        return self._latest[1]


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def cgroup_members(procs_files: Iterable[str]) -> set[int]:
    members: set[int] = set()
    for procs in procs_files:
        text = _read(procs)
        if text:
            members.update(int(line) for line in text.split())
    return members


def process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def signal_pids(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


def signal_groups(leaders: Iterable[int], sig: signal.Signals) -> None:
    """Signal each run's process group: its waiter (which outlives SIGTERM to record the
    status) and every process of the run that stayed in the group."""
    for leader in leaders:
        try:
            os.killpg(leader, sig)
        except ProcessLookupError:
            continue
