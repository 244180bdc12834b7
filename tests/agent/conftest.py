"""Real agents as processes, a fake scheduler in memory, and no task left behind."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from daybreak.agent.cgroups import TaskCgroups, agent_directories, machine_hierarchies
from daybreak.agent.containers import BUNDLE_DIR
from daybreak.agent.executor.tree import ProcessTable
from daybreak.agent.rootfs import MERGED, unmount
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from tests.agent.fake_scheduler import WAIT_S, FakeScheduler


def terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, as an operator stops a daemon; SIGKILL if it does not go in time."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(WAIT_S)


class AgentProcess:
    """`daybreak agent` in a process of its own, as an operator would run it."""

    def __init__(self, scheduler_url: str, work_dir: Path, *extra: str) -> None:
        self.work_dir = work_dir
        self.log = work_dir.parent / f"{work_dir.name}.log"
        self.args = [
            sys.executable, "-m", "daybreak", "agent",
            "--scheduler", scheduler_url,
            "--work-dir", str(work_dir),
            "--hostname", "agent-test",
            "--attributes", "rack=r1",
            "--resources", "cpu=4,ram=4GiB,disk=10GiB",
            # Tests make up roles that have no account; as root, they run as root, explicitly.
            "--task-user", getpass.getuser(),
            *extra,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, stderr=log, start_new_session=True)
        return self

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(WAIT_S)

    def stop(self) -> None:
        terminate(self.process)

    def task_dir(self, task_id: str) -> Path:
        return self.work_dir / "tasks" / task_id


def wait_for_file(path: Path, timeout: float = WAIT_S) -> str:
    """A process's sign of life: wait until it has written `path`, then return the content."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()):
            return text
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


@pytest.fixture
def scheduler() -> Iterator[FakeScheduler]:
    with FakeScheduler() as fake:
        yield fake


@pytest.fixture
def task_prefix() -> Iterator[str]:
    """Task ids made with this prefix; whatever of them still runs is killed afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield prefix
    kill_tasks_where(lambda task_id: task_id.startswith(prefix))


def kill_tasks_where(chosen: Callable[[str], bool]) -> None:
    """Kill every process of the tasks whose ids are `chosen`, and wait until they are gone."""
    table = ProcessTable.scan()
    leftovers = []
    for task_id, pids in table.by_task.items():
        if not chosen(task_id):
            continue
        for pid in pids - {os.getpid()}:
            # Between the scan and now a process may have ended on its own.
            with contextlib.suppress(psutil.NoSuchProcess):
                process = psutil.Process(pid)
                process.kill()
                leftovers.append(process)
    deadline = time.monotonic() + WAIT_S
    while any(alive(process) for process in leftovers) and time.monotonic() < deadline:
        time.sleep(0.01)


def alive(process: psutil.Process) -> bool:
    """Still running: a zombie is dead, only waiting for init (slow to reap here) to collect it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


AgentFactory = Callable[..., AgentProcess]


@pytest.fixture
def start_agent(scheduler: FakeScheduler, tmp_path: Path) -> Iterator[AgentFactory]:
    """Start an agent with extra flags; it is stopped and its cgroups removed afterwards."""
    started: list[AgentProcess] = []

    def start(*extra: str) -> AgentProcess:
        process = AgentProcess(scheduler.url, tmp_path / f"agent{len(started) or ''}", *extra)
        started.append(process.start())
        scheduler.wait_for_hello(len(scheduler.hellos) + 1)
        return process

    yield start
    for process in started:
        process.stop()
        remove_cgroups(process.work_dir)


@pytest.fixture
def agent(start_agent: AgentFactory) -> AgentProcess:
    return start_agent()


def remove_cgroups(work_dir: Path) -> None:
    """The cgroups of tasks the test left running, once their killed processes are gone.

    Only this agent's tasks': agents of tests running side by side share ids (agent-1, ...),
    hence cgroup parents, and a cgroup made for another test's launch must not be taken away
    before that launch places its first process there."""
    identity = work_dir / "agent.json"
    if not identity.exists():
        return
    remove_containers(work_dir)
    agent_id = json.loads(identity.read_text())["agent_id"]
    tasks = work_dir / "tasks"
    ours = {entry.name for entry in tasks.iterdir()} if tasks.is_dir() else set()
    for parent in agent_directories(machine_hierarchies(), agent_id):
        if not parent.is_dir():
            continue
        for child in (c for c in parent.iterdir() if c.is_dir() and c.name in ours):
            cgroups = TaskCgroups((child,))
            deadline = time.monotonic() + WAIT_S
            while not cgroups.remove() and time.monotonic() < deadline:
                time.sleep(0.01)  # the last processes are being reaped
        TaskCgroups((parent,)).remove()  # emptied first, as the task cgroups were


def remove_containers(work_dir: Path) -> None:
    """The containers of tasks the test left running: their first process, which only waits,
    holds the task's cgroup (the task's own processes were killed by their environment)."""
    root = work_dir / "containers"
    if not root.is_dir():
        return
    listed = subprocess.run(["runc", "--root", str(root), "list", "--quiet"],
                            capture_output=True, text=True, check=False)  # fmt: skip
    for container_id in listed.stdout.split():
        subprocess.run(["runc", "--root", str(root), "delete", "--force", container_id],
                       capture_output=True, check=False)  # fmt: skip
        unmount(work_dir / "tasks" / container_id / BUNDLE_DIR / MERGED)  # its writable root


SMALL = Resources(cpu=0.1, ram_mb=64, disk_mb=64)
# Forks, leaves its session and forks again: the classic daemon, out of the waiter's tree.
ESCAPE = "( setsid sh -c 'echo $$ > daemon.pid; exec sleep 1000' & ); exec sleep 1000"


def job(
    *processes: Process,
    orders: tuple[tuple[str, ...], ...] = (),
    role: str = "nobody-here",
    max_failures: int = 1,
    max_concurrency: int = 0,
    finalization_wait: int = 30,
    resources: Resources = SMALL,
) -> JobSpec:
    return JobSpec(
        key=JobKey(cluster="test", role=role, environment="devel", name="job"),
        task=Task(
            name="job",
            processes=processes,
            orders=orders,
            resources=resources,
            max_failures=max_failures,
            max_concurrency=max_concurrency,
            finalization_wait=finalization_wait,
        ),
    )
