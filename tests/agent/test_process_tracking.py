"""Without cgroups, the agent finds a task's processes by walking its own tree, not /proc.

These run the supervisor in the test's process, made a child subreaper as the agent makes
itself, so that a scan of every process can be forbidden outright.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from daybreak.agent.executor.checkpoint import TaskLaunch
from daybreak.agent.executor.orphans import (
    AGENT_CHILDREN,
    PR_SET_CHILD_SUBREAPER,
    AgentChildren,
    become_subreaper,
)
from daybreak.agent.executor.planner import Phase
from daybreak.agent.executor.supervisor import TaskSupervisor
from daybreak.agent.executor.tree import ProcessTable, ProcessTables, children, task_of
from daybreak.agent.paths import task_paths, tasks_dir
from daybreak.model.jobspec import Process
from daybreak.model.render import render_task
from tests.agent.conftest import ESCAPE, job, wait_for_file
from tests.agent.fake_scheduler import WAIT_S


@pytest.fixture
def subreaper() -> Iterator[None]:
    """This process adopts its descendants' orphans for the test; what is left is killed and
    reaped after it."""
    assert become_subreaper()
    try:
        yield
    finally:
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid in children(os.getpid()):
            if (task_of(pid) or "").startswith("track-"):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


@pytest.fixture
def no_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    def scan() -> ProcessTable:
        raise AssertionError("scanned every process of the machine")

    monkeypatch.setattr(ProcessTable, "scan", scan)


def now_ms() -> int:
    return int(time.monotonic() * 1000)


def start_task(tmp_path: Path, task_id: str, cmdline: str) -> TaskSupervisor:
    spec = job(Process(name="forks", cmdline=cmdline))
    task = render_task(spec, instance=0, hostname="localhost", task_id=task_id, ports={})
    tasks_dir(tmp_path).mkdir(parents=True)
    launch = TaskLaunch(task=task, launched_ms=now_ms(), user=None, cgroup_procs=())
    return TaskSupervisor.create(task_paths(tmp_path, task_id), launch)


def run_until_finished(supervisor: TaskSupervisor, tables: ProcessTables) -> None:
    """What the agent's loop does: advance when asked to, and when a waiter exits."""
    deadline = time.monotonic() + WAIT_S
    while not supervisor.finished:
        assert time.monotonic() < deadline, f"still {supervisor.planner.phase}"
        supervisor.advance(now_ms(), tables)
        for pid in list(supervisor.waiters):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                AGENT_CHILDREN.forget(pid)
                supervisor.waiter_exited(pid, now_ms())
        time.sleep(0.01)


@pytest.mark.usefixtures("subreaper", "no_scans")
def test_a_daemonised_process_is_adopted_and_killed_with_its_task_without_a_scan(
    tmp_path: Path,
) -> None:
    supervisor = start_task(tmp_path, "track-escape", ESCAPE)
    tables = ProcessTables(time.monotonic, AGENT_CHILDREN.adopted)
    supervisor.advance(now_ms(), tables)
    daemon = psutil.Process(int(wait_for_file(supervisor.paths.sandbox / "daemon.pid")))
    # It left the waiter's tree and its session, and came to this process, not to init.
    assert daemon.ppid() == os.getpid()
    assert os.getsid(daemon.pid) == daemon.pid
    assert supervisor.processes(tables, fresh=True) >= {daemon.pid, *supervisor.waiters}

    supervisor.request_kill("Killed", now_ms())
    run_until_finished(supervisor, tables)

    assert supervisor.planner.phase is Phase.KILLED
    assert psutil.Process(daemon.pid).status() == psutil.STATUS_ZOMBIE
    assert daemon.pid in AGENT_CHILDREN.reap()
    assert not psutil.pid_exists(daemon.pid)


@pytest.mark.usefixtures("subreaper")
def test_a_task_an_earlier_agent_started_is_found_by_a_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its orphans went to init before this agent was there to adopt them."""
    supervisor = start_task(tmp_path, "track-recovered", "sleep 1000")
    tables = ProcessTables(time.monotonic, AGENT_CHILDREN.adopted)
    supervisor.advance(now_ms(), tables)
    (waiter,) = supervisor.waiters
    supervisor.close()
    recovered = TaskSupervisor.recover(supervisor.paths, now_ms())
    scans: list[ProcessTable] = []
    scan = ProcessTable.scan

    def counted_scan() -> ProcessTable:
        scans.append(scan())
        return scans[-1]

    monkeypatch.setattr(ProcessTable, "scan", counted_scan)
    assert waiter in recovered.processes(tables)
    assert len(scans) == 1
    recovered.request_kill("Killed", now_ms())
    run_until_finished(recovered, tables)
    assert recovered.planner.phase is Phase.KILLED


@pytest.mark.usefixtures("subreaper")
def test_only_adopted_children_are_reaped() -> None:
    children_of_test = AgentChildren()
    before = set(children(os.getpid()))
    with children_of_test.starting() as register:
        own = subprocess.Popen(["true"])
        register(own.pid)
    # The shell's background sleep is orphaned when the shell exits, and comes to us.
    subprocess.run(["sh", "-c", "sleep 0.05 & echo $! > /dev/null"], check=True)
    (orphan,) = set(children(os.getpid())) - before - {own.pid}
    deadline = time.monotonic() + WAIT_S
    while psutil.Process(orphan).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    while psutil.Process(own.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    with children_of_test.starting():
        assert children_of_test.reap() == []  # a start under way: nothing unregistered goes
    reaped = children_of_test.reap()
    assert orphan in reaped
    assert own.pid not in reaped
    assert own.wait() == 0  # still there for the one who started it
    children_of_test.forget(own.pid)
