"""`daybreak update ...` against a real cluster: an update followed to the end, a failing one
that says what it rolled back, and the list and info views."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.cluster.conftest import CLUSTER, LocalCluster, sqlite_only
from tests.conftest import run_cli

SERVICE = """
task = Task(
  name = 'main',
  processes = [Process(name = 'main', cmdline = '{cmdline}')],
  resources = Resources(cpu = 0.1, ram = 16*MB, disk = 16*MB))
jobs = [Service(cluster = 'test', role = '{role}', environment = 'devel', name = 'web',
                instances = 2, task = task,
                update_config = UpdateConfig(batch_size = 1, watch_secs = 1))]
"""


@sqlite_only
def test_update_start_wait_list_info_and_a_failure_rolled_back(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    role = cli_cluster.role
    key = f"{CLUSTER}/{role}/devel/web"
    first = write_config(SERVICE.format(cmdline="sleep 600", role=role), "v1.aurora")
    assert run_cli(["job", "create", key, str(first), "--wait-until", "RUNNING"]).code == 0

    second = write_config(SERVICE.format(cmdline="sleep 700", role=role), "v2.aurora")
    bigger = write_config(SERVICE.format(cmdline="sleep 700", role=role)
                          .replace("instances = 2", "instances = 3"), "v2-bigger.aurora")  # fmt: skip
    diff = run_cli(["job", "diff", key, str(bigger)])
    assert diff.out.endswith(
        "An update to this config would add instance(s) 2; update instance(s) 0-1.\n"
    )
    good = run_cli(["update", "start", key, str(second), "--wait", "-m", "new sleep"])
    assert good.code == 0, good.err
    assert good.out.startswith("Update ")
    assert "started: 2 instance(s) to change" in good.out
    assert good.out.rstrip().endswith(": ROLLED_FORWARD.")
    assert "ROLLING_FORWARD: 1 in progress, 1 waiting" in good.err  # the live progress

    unchanged = run_cli(["update", "start", key, str(second)])
    assert unchanged.out == "Job is unchanged by proposed update.\n"

    broken = write_config(SERVICE.format(cmdline="exit 3", role=role), "v3.aurora")
    failed = run_cli(["update", "start", key, str(broken), "--wait"])
    assert failed.code == 4
    assert "ended ROLLED_BACK. Latest failure: instance 0 exited." in failed.err
    assert "Rolled back instance(s) 0." in failed.err

    listed = run_cli(["update", "list", f"{CLUSTER}/{role}", "--status", "failed"])
    lines = listed.out.splitlines()
    assert lines[0].split()[:3] == ["JOB", "UPDATE", "ID"]
    assert len(lines) == 2 and "ROLLED_BACK" in lines[1]
    every = json.loads(run_cli(["update", "list", key, "--json"]).out)
    assert [u["status"] for u in every] == ["ROLLED_BACK", "ROLLED_FORWARD"]

    info = run_cli(["update", "info", key, every[1]["update_id"]])
    assert info.code == 0, info.err
    assert "ROLLED_FORWARD: 2 done" in info.out
    assert "new sleep" in info.out
    assert info.out.count("INSTANCE_UPDATED") == 2

    nothing = run_cli(["update", "pause", key])
    assert nothing.code == 6
    assert "has no active update" in nothing.err
