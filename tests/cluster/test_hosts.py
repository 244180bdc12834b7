"""Agents on separate hosts: each in its own network namespace with its own address, reaching
the scheduler over TLS at its gateway, so nothing rides on 127.0.0.1. A service's ports, health
checks, sandbox and the CLI inside a task work across hosts; a host cut off is given up, its task
replaced elsewhere, and the copy it kept running is killed once the link heals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from daybreak.model.api import SandboxListing, TaskSummary
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import TaskState
from tests.agent.conftest import AgentProcess
from tests.cluster.conftest import (
    CLUSTER,
    LocalCluster,
    SchedulerProcess,
    stop_cluster,
    unique_role,
    wait_for,
)
from tests.cluster.hosts import Host, hosts, ssh_server
from tests.cluster.test_workload_identity import DAYBREAK
from tests.conftest import run_cli


@dataclass
class HostedCluster:
    local: LocalCluster
    hosts: list[Host]
    by_address: dict[str, Host]

    def host_of(self, task: TaskSummary) -> Host:
        assert task.hostname is not None
        return self.by_address[task.hostname]


@pytest.fixture
def hosted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostedCluster]:
    role = unique_role()
    with hosts(3) as machines:
        pki = tmp_path / "pki"
        assert run_cli(["admin", "new-ca", str(pki)]).code == 0
        names = ["127.0.0.1", *(machine.gateway for machine in machines)]
        made = run_cli(["admin", "new-cert", str(pki / "scheduler"), "--ca", str(pki),
                        *(arg for name in names for arg in ("--name", name))])  # fmt: skip
        assert made.code == 0, made.err
        scheduler = SchedulerProcess(
            f"sqlite:///{tmp_path / 'daybreak.db'}", tmp_path / "scheduler.log",
            "--host", "0.0.0.0", "--tls-cert", str(pki / "scheduler.pem"),
            "--tls-key", str(pki / "scheduler-key.pem"), ca_file=pki / "ca.pem",
        )  # fmt: skip
        local = LocalCluster(scheduler, tmp_path, role)
        try:
            scheduler.start()
            for number, machine in enumerate(machines, start=1):
                agent = AgentProcess(
                    f"https://{machine.gateway}:{scheduler.port}", tmp_path / f"host-{number}",
                    "--hostname", machine.address, "--address", machine.address,
                    "--agent-id", f"host-{number}", "--attributes", f"rack=r{number}",
                    "--resources", "cpu=2,ram=2GiB,disk=4GiB", "--ca-file", str(pki / "ca.pem"),
                )  # fmt: skip
                agent.args = machine.command(agent.args)
                local.agents.append(agent.start())
            for agent in local.agents:
                local.wait_until_online(agent)
            config_root = tmp_path / "config"
            config_root.mkdir()
            (config_root / "clusters.json").write_text(json.dumps([
                {"name": CLUSTER, "scheduler_uri": scheduler.url, "ca_file": str(pki / "ca.pem")}
            ]))  # fmt: skip
            monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(config_root))
            monkeypatch.setenv("HOME", str(tmp_path))
            yield HostedCluster(local, machines, {m.address: m for m in machines})
        finally:
            stop_cluster(local)


def service_config(path: Path, role: str) -> Path:
    key = f"{CLUSTER}/{role}/devel/web"
    path.write_text(f"""
serve = Process(name = 'web', cmdline = '''
echo ok > health
{DAYBREAK} job status {key} > status.txt 2>&1
exec {sys.executable} -m http.server {{{{thermos.ports[health]}}}}
''')
jobs = [Service(cluster = '{CLUSTER}', role = '{role}', environment = 'devel', name = 'web',
                instances = 2, constraints = {{'host': 'limit:1'}},
                health_check_config = HealthCheckConfig(initial_interval_secs = 1,
                                                        interval_secs = 1),
                task = Task(name = 'web', processes = [serve],
                            resources = Resources(cpu = 0.1, ram = 64*MB, disk = 32*MB)))]
""")
    return path


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).text == "ok\n"
    except httpx.HTTPError:
        return False


def answers_inside(machine: Host, port: int) -> bool:
    """Whether the task's port answers on the host itself (reachable only from there)."""
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=1)"
    asked = subprocess.run(
        machine.command([sys.executable, "-c", probe]), capture_output=True, check=False
    )
    return asked.returncode == 0


def test_a_service_runs_across_hosts_and_a_host_cut_off_is_replaced_and_cleaned_up(
    hosted: HostedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = hosted.local
    key = JobKey(cluster=CLUSTER, role=local.role, environment="devel", name="web")
    created = run_cli(
        ["job", "create", str(key), str(service_config(tmp_path / "web.aurora", local.role))]
    )
    assert created.code == 0, created.err
    # RUNNING means healthy: each agent checked its task's port on its own host.
    running = local.wait_for_states(key, TaskState.RUNNING, 2).active
    assert {task.hostname for task in running} < set(hosted.by_address)
    for task in running:
        url = f"http://{task.hostname}:{task.ports['health']}/health"
        assert answers(url), url  # the port, from another machine
        files = local.api.get(f"/tasks/{task.task_id}/files", params={"path": "sandbox"})
        assert files.status_code == 200, files.text
        listed = {
            entry.path for entry in msgspec.json.decode(files.content, type=SandboxListing).entries
        }
        assert {"sandbox/health", "sandbox/status.txt"} <= listed
        status = local.api.get(f"/tasks/{task.task_id}/file", params={"path": "sandbox/status.txt"})
        assert str(key) in status.text, status.text  # the CLI inside the task, over TLS

    # `task run` and `task ssh` reach each task's host by ssh, and run there.
    with ExitStack() as servers:
        for task in running:
            machine = hosted.host_of(task)
            ssh_bin = servers.enter_context(ssh_server(machine, tmp_path / "ssh"))
        monkeypatch.setenv("PATH", f"{ssh_bin}{os.pathsep}{os.environ['PATH']}")
        ran = run_cli(["task", "run", str(key), "cat health; hostname -I"])
        assert ran.code == 0, ran.err
        for task in running:
            lines = [line for line in ran.out.splitlines() if line.startswith(f"{task.hostname}[")]
            assert lines[0] == f"{task.hostname}[{task.instance}]: ok", ran.out
            assert task.hostname in lines[1].split(), ran.out  # an address only that host has
        shell = subprocess.run(
            [sys.executable, "-m", "daybreak", "task", "ssh", f"{key}/1", "-c", "pwd; exit 3"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        (second,) = [task for task in running if task.instance == 1]
        assert (shell.returncode, shell.stdout.strip()) == (3, second.sandbox), shell.stderr
        copied = run_cli(["task", "scp", f"{key}/1:health", str(tmp_path / "copied-health")])
        assert copied.code == 0, copied.err
        assert (tmp_path / "copied-health").read_text() == "ok\n"

    # Cut one host off: its task is given up and placed on the host that had none.
    (lost,) = [task for task in running if task.instance == 0]
    (kept,) = [task for task in running if task.instance == 1]
    cut = hosted.host_of(lost)
    cut.cut()
    port = lost.ports["health"]

    def replaced() -> bool:
        status = local.status(key)
        gone = [
            t for t in status.finished if t.task_id == lost.task_id and t.state is TaskState.LOST
        ]
        again = [t for t in status.active if t.instance == 0 and t.state is TaskState.RUNNING]
        return bool(gone and again and again[0].hostname not in (lost.hostname, kept.hostname))

    wait_for(replaced, "instance 0 LOST and RUNNING again on the third host")
    assert answers_inside(cut, port)  # the errant copy runs on, out of reach

    cut.heal()
    wait_for(lambda: local.online(cut_agent_id(local, cut)), "the healed host back")
    wait_for(lambda: not answers_inside(cut, port), "the errant copy killed")
    after = local.status(key)
    assert {(t.instance, t.state) for t in after.active} == {(0, TaskState.RUNNING),
                                                              (1, TaskState.RUNNING)}  # fmt: skip
    assert lost.task_id not in {t.task_id for t in after.active}


def cut_agent_id(local: LocalCluster, machine: Host) -> str:
    (agent,) = [a for a in local.agents if machine.namespace in a.args]
    return agent.work_dir.name
