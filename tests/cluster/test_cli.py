"""The CLI against a real cluster: Aurora's commands, messages that say what to do, and
Aurora's exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from daybreak.model.task_state import TaskState
from tests.client.test_cli import check_golden
from tests.cluster.conftest import CLUSTER, LocalCluster, free_port, sqlite_only, wait_for
from tests.conftest import run_cli

JOB = """
task = Task(
  name = 'main',
  processes = [Process(name = 'main', cmdline = 'sleep 600')],
  resources = Resources(cpu = 0.1, ram = 16*MB, disk = 16*MB))
jobs = [Job(cluster = 'test', role = '{role}', environment = 'devel', name = 'web',
            instances = 3, task = task)]
"""


@sqlite_only
def test_create_status_kill_and_killall(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    config = write_config(JOB.format(role=cli_cluster.role))
    key = f"{CLUSTER}/{cli_cluster.role}/devel/web"

    created = run_cli(["job", "create", key, str(config), "--wait-until", "RUNNING"])
    assert created.code == 0, created.err
    assert created.out.startswith("Job create succeeded: 3 instance(s). Job url: http://")
    assert created.out.rstrip().endswith(f"/scheduler/{cli_cluster.role}/devel/web")
    assert f"{key}: RUNNING 3" in created.err  # the progress, as instances per state

    status = run_cli(["job", "status", key])
    normalized = re.sub(r"agent-\d", "AGENT", status.out.replace(cli_cluster.role, "ROLE"))
    check_golden(
        "job_status.txt", re.sub(r"\d{13}-ROLE-devel-web-(\d)-\w{12}", r"TASK\1", normalized)
    )
    lines = status.out.splitlines()
    assert lines[0] == f"Job {key}: RUNNING 3"
    assert lines[1] == "Health: healthy (3 instances running)"
    assert lines[2].split() == ["INSTANCE", "STATE", "HOST", "TASK"]
    assert [line.split()[:2] for line in lines[3:]] == [[str(n), "RUNNING"] for n in range(3)]

    as_json = json.loads(run_cli(["job", "status", key, "--json"]).out)
    assert [t["state"] for t in as_json["active"]] == ["RUNNING"] * 3

    killed = run_cli(["job", "kill", f"{key}/0-1"])
    assert killed.code == 0 and killed.out == f"Killing 2 task(s) of {key}\n"
    cli_cluster.wait_for_states(cli_cluster.job("web").key, TaskState.KILLED, 2)

    all_killed = run_cli(["job", "killall", key])
    assert all_killed.code == 0
    assert f"{key}: none active" in all_killed.err
    listed = run_cli(["job", "list", f"{CLUSTER}/{cli_cluster.role}"])
    assert listed.out == f"{key}  finished\n"


@sqlite_only
def test_errors_say_what_to_do_with_aurora_exit_codes(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    unknown_cluster = run_cli(["job", "status", "nowhere/www/devel/web"])
    assert unknown_cluster.code == 6
    assert "unknown cluster 'nowhere'; known clusters: test" in unknown_cluster.err

    unknown_job = run_cli(["job", "status", f"{CLUSTER}/nobody/devel/web"])
    assert unknown_job.code == 6
    assert f"no job {CLUSTER}/nobody/devel/web" in unknown_job.err

    kill_without_instances = run_cli(["job", "kill", f"{CLUSTER}/nobody/devel/web"])
    assert kill_without_instances.code == 5
    assert "daybreak job killall" in kill_without_instances.err

    config = write_config(JOB.format(role=cli_cluster.role))
    key = f"{CLUSTER}/{cli_cluster.role}/devel/web"
    assert run_cli(["job", "create", key, str(config)]).code == 0
    again = run_cli(["job", "create", key, str(config)])
    assert again.code == 10
    assert f"`daybreak job killall {key}`" in again.err
    run_cli(["job", "killall", key])


def test_an_unreachable_scheduler_is_a_network_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clusters.json").write_text(
        json.dumps([{"name": "gone", "scheduler_uri": f"127.0.0.1:{free_port()}"}])
    )
    monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run_cli(["job", "list", "gone"])
    assert result.code == 7
    assert "cannot reach the scheduler of gone" in result.err


def test_up_starts_a_cluster_registers_it_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DAYBREAK_CONFIG_ROOT": str(tmp_path / "config"), "HOME": str(tmp_path)}
    data = tmp_path / "data"
    up = subprocess.Popen(
        [sys.executable, "-m", "daybreak", "up", "--agents", "2", "--port", str(port),
         "--data", str(data)],
        stdout=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        assert up.stdout is not None
        first = up.stdout.readline()
        assert first == "Daybreak is up: a scheduler and 2 agents, cluster 'devcluster'.\n"
        clusters = json.loads((tmp_path / "config" / "clusters.json").read_text())
        assert clusters == [{"name": "devcluster", "scheduler_uri": f"http://127.0.0.1:{port}"}]
        pids = json.loads((data / "pids.json").read_text())
        assert len(pids) == 3
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), "all stopped")
        assert not (data / "pids.json").exists()
    finally:
        if up.poll() is None:  # the test failed: stop what `up` started, then `up`
            down = subprocess.run(
                [sys.executable, "-m", "daybreak", "down", "--data", str(data)],
                env=env, check=False,
            )  # fmt: skip
            up.kill()
            up.wait()
            assert down.returncode == 0
        assert up.stdout is not None
        up.stdout.close()


def test_rolling_restart_add_and_kill_in_batches(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    config = write_config(JOB.format(role=cli_cluster.role))
    key = f"{CLUSTER}/{cli_cluster.role}/devel/web"
    assert run_cli(["job", "create", key, str(config), "--wait-until", "RUNNING"]).code == 0
    before = cli_cluster.status(cli_cluster.job("web").key)

    restarted = run_cli(["job", "restart", key, "--batch-size", "2", "--watch-secs", "0.5"])
    assert restarted.code == 0, restarted.err
    assert restarted.out == f"Job restart succeeded: 3 instance(s) of {key} restarted.\n"
    assert "batch 1: restarting instances 0-1" in restarted.err
    assert "batch 2: restarting instances 2" in restarted.err
    after = cli_cluster.status(cli_cluster.job("web").key)
    assert [t.state for t in after.active] == [TaskState.RUNNING] * 3
    assert not {t.task_id for t in after.active} & {t.task_id for t in before.active}
    # The batches went in order: every task of batch 1 was RUNNING before batch 2 restarted.
    restarting = {
        t.instance: next(e.timestamp_ms for e in t.events if e.state is TaskState.RESTARTING)
        for t in after.finished
    }
    running = {
        t.instance: next(e.timestamp_ms for e in t.events if e.state is TaskState.RUNNING)
        for t in after.active
    }
    assert max(running[0], running[1]) < restarting[2]

    added = run_cli(["job", "add", f"{key}/0", "2", "--wait-until", "RUNNING"])
    assert added.code == 0, added.err
    assert added.out.startswith(f"Added instance(s) 3, 4 to {key}.")
    grown = cli_cluster.status(cli_cluster.job("web").key)
    assert [t.instance for t in grown.active] == [0, 1, 2, 3, 4]
    assert grown.spec is not None and grown.spec.instances == 5

    killed = run_cli(["job", "kill", f"{key}/1-4", "--batch-size", "3"])
    assert killed.code == 0, killed.err
    assert "batch 1: killing instances 1-3" in killed.err
    assert "batch 2: killing instances 4" in killed.err
    assert [t.instance for t in cli_cluster.status(cli_cluster.job("web").key).active] == [0]


@sqlite_only
def test_a_restart_that_fails_stops_and_says_what_it_did(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    # Each run lives 1.5 s, so a restarted instance never stays RUNNING for the 3 s watched.
    config = write_config(
        JOB.format(role=cli_cluster.role).replace("sleep 600", "sleep 1.5; exit 1")
    )
    key = f"{CLUSTER}/{cli_cluster.role}/devel/web"
    assert run_cli(["job", "create", key, str(config), "--wait-until", "RUNNING"]).code == 0
    failed = run_cli(["job", "restart", key, "--watch-secs", "3"])
    assert failed.code == 4
    assert f"restart of {key} stopped: instance(s) 0 did not stay RUNNING for 3 s" in failed.err
    assert "Restarted: 0; the rest are untouched" in failed.err


@sqlite_only
def test_diff_shows_what_a_config_would_change_and_open_names_the_page(
    cli_cluster: LocalCluster, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(JOB.format(role=cli_cluster.role))
    key = f"{CLUSTER}/{cli_cluster.role}/devel/web"
    assert run_cli(["job", "create", key, str(config)]).code == 0
    same = run_cli(["job", "diff", key, str(config)])
    assert same.out == f"No differences between {config} and {key}.\n"
    changed = write_config(JOB.format(role=cli_cluster.role).replace("instances = 3", "instances = 5"),
                           name="bigger.aurora")  # fmt: skip
    diff = run_cli(["job", "diff", key, str(changed)])
    assert diff.code == 0
    assert '-  "instances": 3,' in diff.out and '+  "instances": 5,' in diff.out
    assert f"An update to this config would be refused: job {key} is not a service" in diff.out

    # No browser here: what would be opened is recorded instead. (A real one run through
    # $BROWSER is never waited for, and its Popen warns when collected.)
    launched: list[str] = []

    def launch(url: str, **_: object) -> int:
        launched.append(url)
        return 0

    monkeypatch.setattr("click.launch", launch)
    opened = run_cli(["job", "open", key])
    assert opened.code == 0
    page = f"{cli_cluster.scheduler.url}/scheduler/{cli_cluster.role}/devel/web"
    assert opened.out == page + "\n"
    assert launched == [page]
    assert httpx.get(page).status_code == 200  # the page exists now


@sqlite_only
def test_task_run_and_ssh_work_in_the_sandboxes(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    config = write_config(
        JOB.format(role=cli_cluster.role).replace("sleep 600", "echo ready > marker; sleep 600")
    )
    key = f"{CLUSTER}/{cli_cluster.role}/devel/web"
    assert run_cli(["job", "create", key, str(config), "--wait-until", "RUNNING"]).code == 0
    status = cli_cluster.status(cli_cluster.job("web").key)
    wait_for(lambda: all(Path(str(t.sandbox), "marker").exists() for t in status.active), "markers")

    ran = run_cli(["task", "run", f"{key}/0,2", "cat marker; echo {{mesos.instance}} $(pwd)"])
    assert ran.code == 0, ran.err
    by_instance = {t.instance: t for t in status.active}
    assert ran.out.splitlines() == [
        f"{by_instance[0].hostname}[0]: ready",
        f"{by_instance[0].hostname}[0]: 0 {by_instance[0].sandbox}",
        f"{by_instance[2].hostname}[2]: ready",
        f"{by_instance[2].hostname}[2]: 2 {by_instance[2].sandbox}",
    ]
    failing = run_cli(["task", "run", key, "test {{mesos.instance}} -ne 1"])
    assert failing.code == 4 and "failed on instance(s) 1 (exit 1)" in failing.err
    no_port = run_cli(["task", "run", key, "echo {{thermos.ports[http]}}"])
    assert no_port.code == 6 and "has no port 'http'" in no_port.err

    # `task ssh` with a command runs it in the sandbox and exits with its status.
    shell = subprocess.run(
        [sys.executable, "-m", "daybreak", "task", "ssh", f"{key}/1", "-c", "pwd; exit 3"],
        capture_output=True, text=True, env=os.environ.copy(), check=False,
    )  # fmt: skip
    assert shell.returncode == 3, shell.stderr
    assert shell.stdout.strip() == by_instance[1].sandbox


@sqlite_only
def test_task_scp_copies_into_and_out_of_sandboxes(
    cli_cluster: LocalCluster, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(
        JOB.format(role=cli_cluster.role).replace(
            "sleep 600", "echo started; echo ready > marker; sleep 600"
        )
    )
    key = f"{CLUSTER}/{cli_cluster.role}/devel/copied"
    config.write_text(config.read_text().replace("name = 'web'", "name = 'copied'"))
    assert run_cli(["job", "create", key, str(config), "--wait-until", "RUNNING"]).code == 0
    status = cli_cluster.status(cli_cluster.job("copied").key)
    by_instance = {t.instance: t for t in status.active}
    wait_for(lambda: all(Path(str(t.sandbox), "marker").exists() for t in status.active), "markers")

    out = run_cli(["task", "scp", f"{key}/0:marker", str(tmp_path / "fetched")])
    assert out.code == 0, out.err
    assert (tmp_path / "fetched").read_text() == "ready\n"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.ini").write_text("[app]\n")
    into = run_cli(["task", "scp", "--scp-options", "-r", str(tmp_path / "conf"), f"{key}/1:"])
    assert into.code == 0, into.err
    assert (Path(str(by_instance[1].sandbox)) / "conf" / "app.ini").read_text() == "[app]\n"

    # Above the sandbox, as Aurora's --executor-sandbox: the logs.
    logs = run_cli(["task", "scp", "--executor-sandbox", f"{key}/0:.logs/main/0/stdout",
                    str(tmp_path / "stdout")])  # fmt: skip
    assert logs.code == 0, logs.err
    assert (tmp_path / "stdout").read_text() == "started\n"
    listed = run_cli(["task", "run", "--executor-sandbox", f"{key}/0", "ls .logs; pwd"])
    assert listed.out.splitlines() == [
        f"{by_instance[0].hostname}[0]: main",
        f"{by_instance[0].hostname}[0]: {Path(str(by_instance[0].sandbox)).parent}",
    ], listed.err

    home = run_cli(["task", "scp", f"{key}/0:~/marker", str(tmp_path)])
    assert home.code != 0 and "`~` means nothing in a sandbox" in home.err
    missing = run_cli(["task", "scp", f"{key}/7:marker", str(tmp_path)])
    assert missing.code != 0 and "has no RUNNING task among instances 7" in missing.err


@sqlite_only
def test_job_keys_complete_from_the_clusters_file_and_the_live_job_list(
    cli_cluster: LocalCluster,
) -> None:
    spec = cli_cluster.job("web", instances=1)
    assert cli_cluster.create(spec).status_code == 201

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        env = {**os.environ, "_DAYBREAK_COMPLETE": "bash_complete",
               "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "daybreak", *words[1:]], env=env,
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.splitlines()

    assert complete("daybreak job status te") == ["plain,test/"]
    assert complete(f"daybreak job status test/{cli_cluster.role}") == [f"plain,{spec.key}"]
    assert complete("daybreak job status nowhere/") in ([], [""])  # nothing to offer
    script = run_cli(["completion", "bash"])
    assert script.code == 0 and "_DAYBREAK_COMPLETE=bash_complete" in script.out


@sqlite_only
def test_killall_of_a_job_whose_tasks_all_wait_says_they_are_gone(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    unplaceable = JOB.format(role=cli_cluster.role).replace(
        "instances = 3,", "instances = 2, constraints = {'rack': 'nowhere'},"
    )
    config = write_config(unplaceable)
    key = f"{CLUSTER}/{cli_cluster.role}/devel/web"
    assert run_cli(["job", "create", key, str(config)]).code == 0
    killed = run_cli(["job", "killall", key])
    assert killed.code == 0, killed.err
    assert killed.out == f"Killing 2 task(s) of {key}\n"
    assert f"{key}: none active" in killed.err and "Error" not in killed.err
