"""The agent as the reaper of its tasks' orphans, so that they stay in a tree it can walk.

A process whose parent exits goes to its nearest ancestor that asked to be a "child subreaper",
or to init. The agent asks, so a task's process that daemonised itself (fork, setsid, fork
again) becomes the agent's own child instead of vanishing among the machine's processes: the
agent finds it by reading its own children, not by scanning every process, and tells which
task it belongs to by the `DAYBREAK_TASK_ID` every process of a task inherits. A process that
both leaves the tree and clears its environment is found only through the task's cgroups.

Adopting orphans means reaping them: the agent reaps those, and only those. Its own children
(the waiters, shell health checks) are reaped by whoever started them and are registered here
while they live; a child is adopted if it is not registered and no start is under way.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from daybreak.agent.executor.tree import children, start_ticks, stat_fields, task_of

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Ask the kernel to hand this process the orphans of its descendants; False if it will not."""
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


class AgentChildren:
    """This process's children: those it started and reaps itself, and the adopted rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._own: set[int] = set()
        self._starting = 0
        # Which task each adopted process belongs to, read once while it lived: a zombie's
        # environment cannot be read. Keyed by pid, checked against the start time.
        self._tasks: dict[int, tuple[int, str | None]] = {}

    @contextmanager
    def starting(self) -> Iterator[Callable[[int], None]]:
        """Around starting a child the caller reaps itself: yields the function that registers
        it. Until the start is over nothing unregistered is reaped, so a child that ended
        before it was registered is not taken from the one who started it."""
        with self._lock:
            self._starting += 1
        try:
            yield self._register
        finally:
            with self._lock:
                self._starting -= 1

    def _register(self, pid: int) -> None:
        with self._lock:
            self._own.add(pid)

    def forget(self, pid: int) -> None:
        """A registered child was reaped by the one who started it."""
        with self._lock:
            self._own.discard(pid)

    def adopted(self) -> dict[str, set[int]]:
        """The living adopted children, by the task they belong to."""
        by_task: dict[str, set[int]] = {}
        with self._lock:
            own = set(self._own)
        seen: dict[int, tuple[int, str | None]] = {}
        for pid in children(os.getpid()):
            if pid in own:
                continue
            start = start_ticks(pid)
            if start is None:
                continue  # gone, or a zombie waiting for `reap`
            known = self._tasks.get(pid)
            seen[pid] = known if known is not None and known[0] == start else (start, task_of(pid))
            task_id = seen[pid][1]
            if task_id is not None:
                by_task.setdefault(task_id, set()).add(pid)
        with self._lock:
            self._tasks = seen
        return by_task

    def reap(self) -> list[int]:
        """Reap the adopted children that have ended; returns their pids."""
        reaped: list[int] = []
        with self._lock:
            if self._starting:
                return reaped
            own = set(self._own)
        for pid in children(os.getpid()):
            if pid in own or stat_fields(pid, zombies=True) is None:
                continue
            try:
                ended, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if ended == pid:
                reaped.append(pid)
        return reaped


# Being a subreaper and having children are facts about the whole process: one record of them.
AGENT_CHILDREN = AgentChildren()


def run_child(
    args: Sequence[str],
    *,
    tick: Callable[[], None] | None = None,
    every_s: float = 1.0,
    **options: Any,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run` for a tool the agent waits for (runc, skopeo): registered, so that the
    reaper of adopted orphans does not take its exit status from the one who waits for it.
    `tick` is called every `every_s` while it runs (its output then goes to files, not pipes)."""
    with AGENT_CHILDREN.starting() as register:
        process = subprocess.Popen(args, **options)
        register(process.pid)
    try:
        while tick is not None:
            try:
                process.wait(every_s)
                break
            except subprocess.TimeoutExpired:
                tick()
        out, err = process.communicate()
    finally:
        AGENT_CHILDREN.forget(process.pid)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def run_tool(
    args: Sequence[str],
    *,
    tick: Callable[[], None] | None = None,
    every_s: float = 1.0,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run a tool the agent waits for (`run_child`), its output and errors going to files, not
    pipes: a detached container's first process inherits runc's, and would hold a pipe open for
    as long as it lives. Returns the exit status, the output and the errors."""
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        done = run_child(args, stdin=subprocess.DEVNULL, stdout=output, stderr=errors, env=env,
                         tick=tick, every_s=every_s)  # fmt: skip
        output.seek(0)
        errors.seek(0)
        said = (output.read().decode(errors="replace"), errors.read().decode(errors="replace"))
    return done.returncode, *said
