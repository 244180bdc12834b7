"""The CLI as a user meets it: golden output, help for every command, Aurora's exit codes."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from daybreak.client.cli import cli
from daybreak.client.task_commands import command_line
from daybreak.errors import ExitCode
from daybreak.model.api import TaskSummary
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import TaskState
from tests.conftest import EXAMPLES, REPO, run_cli

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/client/golden/NAME; UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize(
    ("name", "args"),
    [
        (
            "inspect_hello_world.txt",
            ["job", "inspect", "devcluster/www-data/devel/hello_world", "hello_world.aurora"],
        ),
        (
            "inspect_web.txt",
            ["job", "inspect", "devcluster/www-data/prod/web", "http_service.aurora"],
        ),
        ("inspect_db.txt", ["job", "inspect", "devcluster/storage/prod/db", "scheduling.aurora"]),
        ("config_list_update_strategies.txt", ["config", "list", "update_strategies.aurora"]),
    ],
)
def test_golden_output(name: str, args: list[str]) -> None:
    result = run_cli([*args[:-1], str(EXAMPLES / args[-1])])
    assert result.code == 0, result.err
    check_golden(name, result.out)


def all_commands(
    group: click.Group = cli, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


COMMANDS = list(all_commands())


def test_the_first_commands_exist() -> None:
    assert {("config", "list"), ("job", "inspect"), ("help",)} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_answers_for_every_command(command: tuple[str, ...]) -> None:
    result = run_cli(["help", *command])
    assert result.code == 0, result.err
    assert f"Usage: daybreak {' '.join(command)}" in result.out
    # `daybreak COMMAND --help` says the same thing.
    assert run_cli([*command, "--help"]).out == result.out


def test_help_without_a_command_lists_the_nouns() -> None:
    result = run_cli(["help"])
    assert result.code == 0
    assert "Usage: daybreak [OPTIONS] COMMAND" in result.out
    for noun in ("config", "job", "help"):
        assert noun in result.out


def test_help_for_an_unknown_command() -> None:
    result = run_cli(["help", "job", "open-sesame"])
    assert result.code == ExitCode.INVALID_COMMAND
    assert (
        result.err
        == "Error: daybreak job has no command 'open-sesame'; its commands are: add, create, diff, endpoints, inspect, kill, killall, list, open, restart, status\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["job", "frobnicate"], ExitCode.INVALID_COMMAND, "No such command 'frobnicate'"),
        (["job", "inspect"], ExitCode.INVALID_COMMAND, "Missing argument"),
        (
            ["job", "inspect", "west/www/prod", "x.aurora"],
            ExitCode.INVALID_PARAMETER,
            "must have 4 parts",
        ),
        (
            ["job", "inspect", "west/www/prod/app", "missing.aurora"],
            ExitCode.INVALID_CONFIGURATION,
            "missing.aurora: no such config file",
        ),
        (
            ["config", "list", str(EXAMPLES / "cron.aurora"), "--bind", "oops"],
            ExitCode.INVALID_PARAMETER,
            "write NAME=VALUE",
        ),
    ],
)
def test_exit_codes(args: list[str], code: int, message: str) -> None:
    result = run_cli(args)
    assert result.code == code
    assert message in result.err
    assert "Traceback" not in result.err


def test_config_list_json_and_invalid_jobs(tmp_path: Path) -> None:
    result = run_cli(["config", "list", str(EXAMPLES / "sla_policies.aurora"), "--json"])
    assert result.out.strip() == (
        '["devcluster/cache/prod/by_count","devcluster/cache/prod/by_percentage",'
        '"devcluster/cache/prod/by_coordinator"]'
    )
    broken = tmp_path / "broken.aurora"
    broken.write_text(
        "jobs = [Job(cluster='c', role='r', environment='prod', name='n', task=SimpleTask('n', 'x'), instances=0)]\n"
    )
    result = run_cli(["config", "list", str(broken)])
    assert (result.code, result.out) == (0, "c/r/prod/n\n")
    assert result.err == "warning: c/r/prod/n is invalid; `job inspect` says why\n"


def test_installed_console_script_runs() -> None:
    """The real `daybreak` executable, in its own process."""
    daybreak = Path(sys.executable).parent / "daybreak"
    result = subprocess.run(
        [str(daybreak), "config", "list", "examples/hello_world.aurora"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "devcluster/www-data/devel/hello_world\n")
    version = subprocess.run(
        [str(daybreak), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("daybreak, version ")


def test_ssh_reaches_other_machines_through_ssh() -> None:
    remote = TaskSummary(
        task_id="t1", job=JobKey(cluster="c", role="r", environment="e", name="n"), instance=0,
        state=TaskState.RUNNING, address="node7.example.com", sandbox="/var/lib/daybreak/tasks/t1/sandbox",
    )  # fmt: skip
    assert command_line(remote, "exec bash", "www", tty=True) == [
        "ssh", "-t", "www@node7.example.com", "cd /var/lib/daybreak/tasks/t1/sandbox && exec bash",
    ]  # fmt: skip


def test_an_unknown_cron_time_zone_is_refused_before_the_scheduler_starts(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'state.db'}"
    result = run_cli(["scheduler", "--store", store, "--cron-timezone", "Mars/Olympus_Mons"])
    assert result.code == 5  # Aurora's INVALID_COMMAND, as for every bad flag
    assert "'Mars/Olympus_Mons' is not a time zone this machine knows" in result.err
    assert "--cron-timezone" in result.err
    assert not (tmp_path / "state.db").exists()


@pytest.mark.parametrize("agents", [1, 3, 12, 40])
def test_the_dev_clusters_task_ports_stay_below_the_ephemeral_range(
    tmp_path: Path, agents: int
) -> None:
    from daybreak.devcluster import DevCluster

    cluster = DevCluster(data=tmp_path, port=8081, agents=agents)
    ranges = [cluster.agent_ports(number) for number in range(1, agents + 1)]
    assert all(r.start >= 1024 and r.stop - 1 < 32768 and len(r) >= 10 for r in ranges)
    assert all(a.stop <= b.start for a, b in itertools.pairwise(ranges))  # none shared
    flags = cluster.agent_args(agents)
    assert flags[flags.index("--ports") + 1] == f"{ranges[-1].start}-{ranges[-1].stop - 1}"
