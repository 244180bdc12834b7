"""Service discovery on a real cluster: `job endpoints`, and a watch that follows instances
leaving and coming back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import CLUSTER, LocalCluster, sqlite_only, wait_for
from tests.conftest import run_cli

SERVICE = """
task = Task(
  name = 'main',
  processes = [Process(name = 'main', cmdline = 'echo serving on {{{{thermos.ports[http]}}}}; sleep 600')],
  resources = Resources(cpu = 0.1, ram = 16*MB, disk = 16*MB))
jobs = [Service(cluster = 'test', role = '{role}', environment = 'devel', name = 'api',
                instances = 2, task = task, announce = Announcer(),
                health_check_config = HealthCheckConfig(initial_interval_secs = 1))]
"""


class Watch(threading.Thread):
    """Follows `?watch=true` and keeps every `endpoints` event's instances."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: list[list[dict[str, Any]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self._follow()
        except httpx.HTTPError:
            if not self.stop.is_set():  # the scheduler going away at the end is expected
                raise

    def _follow(self) -> None:
        with httpx.stream("GET", self.url, params={"watch": "true"}, timeout=None) as response:
            event = ""
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:") and event == "endpoints":
                    self.seen.append(json.loads(line.partition(":")[2])["instances"])


@sqlite_only
def test_job_endpoints_sla_figures_and_a_watch_that_follows_a_kill(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    config = write_config(SERVICE.format(role=cli_cluster.role))
    key = f"{CLUSTER}/{cli_cluster.role}/devel/api"
    assert run_cli(["job", "create", key, str(config), "--wait-until", "RUNNING"]).code == 0

    shown = run_cli(["job", "endpoints", key])
    lines = shown.out.splitlines()
    assert lines[0].split() == ["INSTANCE", "HOST", "PRIMARY", "PORTS"]
    rows = [line.split(maxsplit=3) for line in lines[1:]]
    assert [row[0] for row in rows] == ["0", "1"]
    for _, host, primary, ports in rows:
        port = primary.rpartition(":")[2]
        assert primary == f"{host}:{port}" and ports == f"aurora={port}, http={port}"

    # Aurora's SLA figures over the same instances.
    up = run_cli(["sla", "get-task-up-count", key, "--durations", "0s,1d"])
    assert up.code == 0 and up.out == "0s\t- 100.00 %\n1d\t- 0.00 %\n"
    uptime = json.loads(
        run_cli(["sla", "get-job-uptime", key, "--percentiles", "50", "--json"]).out
    )
    assert list(uptime) == ["50"] and 0 <= uptime["50"] < 600

    url = f"{cli_cluster.scheduler.url}/api/v1/services/{cli_cluster.role}/devel/api"
    watch = Watch(url)
    watch.start()
    wait_for(lambda: watch.seen, "the first endpoints")
    assert [member["instance"] for member in watch.seen[0]] == [0, 1]

    assert run_cli(["job", "kill", f"{key}/0"]).code == 0
    wait_for(lambda: [m["instance"] for m in watch.seen[-1]] == [1], "instance 0 to leave the list")
    status = cli_cluster.status(cli_cluster.job("api").key)
    assert [t.instance for t in status.active if t.state is TaskState.RUNNING] == [1]
    watch.stop.set()
    empty = json.loads(run_cli(["job", "endpoints", key, "--json"]).out)
    assert [member["instance"] for member in empty["instances"]] == [1]
