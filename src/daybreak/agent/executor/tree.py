"""Finding every process of a task, including those that daemonised themselves.

Where the task has cgroups, they hold every process it started. Where it has none, the agent
walks down the tree from the task's waiters and from the orphans it adopted for the task
(`orphans.py`: the agent is their subreaper), reading each process's children: the cost is the
task's own processes, not the machine's. Only a task that an earlier agent started needs a
scan of every process: its orphans from before went to init. The scan finds them by the
`DAYBREAK_TASK_ID` variable every process of a task inherits, and one scan answers for every
task at once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from daybreak.model.units import is_number

# Every process of a task carries this variable, so the agent can find the task's processes
# after its own restart even where they have left its process tree and there are no cgroups.
TASK_MARKER = "DAYBREAK_TASK_ID"
_MARKER = TASK_MARKER.encode() + b"="


def stat_fields(pid: int, zombies: bool = False) -> list[bytes] | None:
    """/proc/PID/stat from the state on (field 3 onwards); None if the process is gone,
    or dead or a zombie (or, with `zombies`, anything but a zombie). The command name before
    it may hold spaces and parentheses, hence the split after the last ')'."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if (fields[0] == b"Z") is not zombies or fields[0] == b"X":
        return None
    return fields


def children(pid: int) -> list[int]:
    """The children of every thread of `pid`: a process forks from any of its threads, and
    the kernel lists each child under the thread that forked it."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for thread in threads:
        text = _read(f"/proc/{pid}/task/{thread}/children")
        if text:
            found.extend(int(child) for child in text.split())
    return found


def live_descendants(roots: Iterable[int]) -> set[int]:
    """The living processes among `roots` and their descendants, walking down the tree."""
    found: set[int] = set()
    pending = list(roots)
    while pending:
        pid = pending.pop()
        if pid in found or stat_fields(pid) is None:
            continue
        found.add(pid)
        pending.extend(children(pid))
    return found


def task_of(pid: int) -> str | None:
    """The task a process belongs to by its environment; None if it has no marker, is gone,
    or is a zombie (whose environment can no longer be read)."""
    environ = _read(f"/proc/{pid}/environ")
    if not environ or _MARKER not in environ:
        return None
    for variable in environ.split(b"\0"):
        if variable.startswith(_MARKER):
            return variable[len(_MARKER) :].decode(errors="replace")
    return None


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
            if not is_number(entry.name):
                continue
            pid = int(entry.name)
            fields = stat_fields(pid)
            if fields is None:
                continue  # gone, or dead and waiting to be reaped: nothing left to signal
            parent = int(fields[1])
            table.parents[pid] = parent
            table.children.setdefault(parent, []).append(pid)
            task_id = task_of(pid)
            if task_id is not None:
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

    def task_processes(self, task_id: str, roots: Iterable[int]) -> set[int]:
        return self.descendants(roots) | self.by_task.get(task_id, set())


class ProcessTables:
    """What the agent learns of the machine's processes, shared between tasks: a recent answer
    for questions that only delay something when answered late (are strays left?), a fresh
    one before killing. The orphans the agent adopted are read from its own children; a scan
    of every process is made only when a task that an earlier agent started asks for one."""

    def __init__(
        self,
        clock: Callable[[], float],
        adopted: Callable[[], dict[str, set[int]]],
        recent_s: float = 0.2,
    ) -> None:
        self._clock = clock
        self._adopted = adopted
        self._recent_s = recent_s
        self._latest_scan: tuple[float, ProcessTable] | None = None
        self._latest_adopted: tuple[float, dict[str, set[int]]] | None = None

    def scan(self, fresh: bool = False) -> ProcessTable:
        if fresh or self._stale(self._latest_scan):
            self._latest_scan = (self._clock(), ProcessTable.scan())
        assert self._latest_scan is not None
        return self._latest_scan[1]

    def adopted(self, task_id: str, fresh: bool = False) -> set[int]:
        if fresh or self._stale(self._latest_adopted):
            self._latest_adopted = (self._clock(), self._adopted())
        assert self._latest_adopted is not None
        return self._latest_adopted[1].get(task_id, set())

    def _stale(self, latest: tuple[float, object] | None) -> bool:
        return latest is None or self._clock() - latest[0] > self._recent_s


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
