"""A real cluster on 127.0.0.1: `daybreak scheduler` and `daybreak agent` as processes, on
SQLite or a throwaway PostgreSQL database, and no task left behind afterwards."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from daybreak.model.api import AgentList, JobStatus
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.task_state import TaskState
from daybreak.tls import client_context
from tests.agent.conftest import AgentProcess, kill_tasks_where, remove_cgroups, terminate
from tests.databases import BACKENDS, store_url

WAIT_S = 20.0
CLUSTER = "test"
SMALL = Resources(cpu=0.1, ram_mb=32, disk_mb=32)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `condition` until it returns something true; its value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class SchedulerProcess:
    def __init__(self, store: str, log: Path, *extra: str, ca_file: Path | None = None) -> None:
        """With `ca_file`, the scheduler serves HTTPS (`extra` names its certificate and key)
        and is verified against it."""
        self.port = free_port()
        self.url = f"{'http' if ca_file is None else 'https'}://127.0.0.1:{self.port}"
        self.verify: ssl.SSLContext | bool = True if ca_file is None else client_context(ca_file)
        self.log = log
        self.args = [
            sys.executable, "-m", "daybreak", "scheduler",
            "--store", store, "--port", str(self.port), "--cluster", CLUSTER,
            "--heartbeat-interval", "200ms", "--agent-timeout", "3s",
            # Aurora's minutes, in seconds, so that tests see throttling and preemption.
            "--preemption-delay", "500ms", "--flapping-threshold", "5s",
            "--initial-flapping-delay", "2s", "--max-flapping-delay", "4s", *extra,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SchedulerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, stderr=log, stdout=log)
        try:
            wait_for(self._healthy, f"the scheduler on port {self.port} ({self.log})")
        except BaseException:
            self.stop()  # a start that timed out leaves nothing running behind the test
            raise
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the scheduler exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(self.url + "/health", timeout=1, verify=self.verify).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(WAIT_S)

    def stop(self) -> None:
        terminate(self.process)


@dataclass
class LocalCluster:
    scheduler: SchedulerProcess
    directory: Path
    role: str  # unique per test: every task id carries it
    agents: list[AgentProcess] = field(default_factory=list)
    # Extra `daybreak agent` flags for every agent, e.g. its credential.
    agent_args: tuple[str, ...] = ()
    # What `api` presents, e.g. a user's token where reads need one.
    api_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.api = httpx.Client(
            base_url=self.scheduler.url + "/api/v1", timeout=10, headers=self.api_headers,
            verify=self.scheduler.verify,
        )  # fmt: skip

    def add_agent(self, rack: str | None = None, **attributes: str) -> AgentProcess:
        agent = self.start_agent(rack, **attributes)
        self.wait_until_online(agent)
        return agent

    def start_agent(self, rack: str | None = None, **attributes: str) -> AgentProcess:
        """Start the next agent (agent-N on rack rN) without waiting for it to register."""
        number = len(self.agents) + 1
        name = f"agent-{number}"
        extra = "".join(f",{attribute}={value}" for attribute, value in attributes.items())
        agent = AgentProcess(
            self.scheduler.url,
            self.directory / name,
            "--hostname", name,
            "--agent-id", name,
            "--attributes", f"rack={rack or f'r{number}'}{extra}",
            "--resources", "cpu=2,ram=2GiB,disk=4GiB",
            *self.agent_args,
        )  # fmt: skip
        self.agents.append(agent.start())
        return agent

    def wait_until_online(self, agent: AgentProcess) -> None:
        name = agent.work_dir.name
        wait_for(lambda: self.online(name), f"{name} registered")

    def online(self, agent_id: str) -> bool:
        agents = msgspec.json.decode(self.api.get("/agents").content, type=AgentList).agents
        return any(a.agent_id == agent_id and a.online for a in agents)

    def job(self, name: str = "hello", instances: int = 2, cmdline: str = "sleep 600",
            **options: Any) -> JobSpec:  # fmt: skip
        return JobSpec(
            key=JobKey(cluster=CLUSTER, role=self.role, environment="devel", name=name),
            task=Task(name=name, processes=(Process(name="main", cmdline=cmdline),),
                      resources=SMALL),
            instances=instances,
            **options,
        )  # fmt: skip

    def create(self, spec: JobSpec) -> httpx.Response:
        return self.api.post("/jobs", content=msgspec.json.encode(spec))

    def status(self, key: JobKey) -> JobStatus:
        response = self.api.get(f"/jobs/{key}")
        assert response.status_code == 200, response.text
        return msgspec.json.decode(response.content, type=JobStatus)

    def wait_for_states(self, key: JobKey, state: TaskState, count: int) -> JobStatus:
        def reached() -> JobStatus | None:
            status = self.status(key)
            matching = [t for t in (*status.active, *status.finished) if t.state is state]
            return status if len(matching) >= count else None

        return wait_for(reached, f"{count} tasks of {key} {state}")  # type: ignore[no-any-return]


# For tests of what does not depend on the store (the CLI's output, events, security details):
# the store-dependent stories run on both backends, these on the embedded one only.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def unique_role() -> str:
    return f"r{uuid.uuid4().hex[:8]}"


@contextmanager
def running_cluster(
    backend: str,
    directory: Path,
    *scheduler_args: str,
    agent_args: tuple[str, ...] = (),
    agents: int = 2,
    role: str | None = None,
    api_headers: dict[str, str] | None = None,
    ca_file: Path | None = None,
) -> Iterator[LocalCluster]:
    """A scheduler and `agents` agents (racks r1, r2, ...), all stopped afterwards, and every
    task of `role` (unique unless given) killed. With `ca_file`, the scheduler serves HTTPS
    (`scheduler_args` name its certificate and key)."""
    role = role or unique_role()
    with store_url(backend, directory) as url:
        scheduler = SchedulerProcess(
            url, directory / "scheduler.log", *scheduler_args, ca_file=ca_file
        )
        local = LocalCluster(
            scheduler, directory, role, agent_args=agent_args, api_headers=api_headers or {}
        )
        try:
            scheduler.start()
            # Started together, since each takes a moment to start.
            for started in [local.start_agent() for _ in range(agents)]:
                local.wait_until_online(started)
            yield local
        finally:
            stop_cluster(local)


def stop_cluster(local: LocalCluster) -> None:
    """Stop its agents and scheduler, and kill what its role left running."""
    local.api.close()
    for agent in local.agents:
        agent.stop()
    local.scheduler.stop()
    kill_tasks_where(lambda task_id: f"-{local.role}-" in task_id)
    for agent in local.agents:
        remove_cgroups(agent.work_dir)


@pytest.fixture
def cluster(backend: str, tmp_path: Path) -> Iterator[LocalCluster]:
    """A scheduler and two agents (racks r1 and r2)."""
    with running_cluster(backend, tmp_path) as local:
        yield local


@pytest.fixture
def cli_cluster(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalCluster]:
    """The cluster, registered in a clusters file of the test's own for the CLI."""
    register_for_cli(cluster, tmp_path, monkeypatch)
    yield cluster


def register_for_cli(
    local: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **more: str
) -> None:
    """Name `local` CLUSTER in a clusters file of the test's own, the only one the CLI reads
    (with `more` keys in its entry)."""
    config_root = tmp_path / "config"
    config_root.mkdir()
    (config_root / "clusters.json").write_text(
        json.dumps([{"name": CLUSTER, "scheduler_uri": local.scheduler.url, **more}])
    )
    monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(config_root))
    monkeypatch.setenv("HOME", str(tmp_path))  # no clusters file of the user's
