"""`daybreak NOUN VERB ...`: Aurora's command set, Aurora's exit codes.

Every error is a DaybreakError (or a click usage error) printed as one clear message with its
exit code; a traceback never reaches the user.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from daybreak import __version__
from daybreak.client.admin_commands import admin
from daybreak.client.job_commands import COMMANDS
from daybreak.errors import DaybreakError, ExitCode, InvalidCommandError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

bind_option = click.option(
    "--bind",
    "bindings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Bind a template variable, e.g. --bind profile.version=3 (repeatable).",
)
read_json_option = click.option(
    "--read-json", is_flag=True, help='Read the config as JSON (a job, or {"jobs": [...]}).'
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="daybreak")
def cli() -> None:
    """Daybreak: run jobs on a fleet of machines, configured as in Apache Aurora."""


@cli.group()
def config() -> None:
    """Work with job config files."""


@cli.group()
def job() -> None:
    """Create, inspect and control jobs."""


for _command in COMMANDS:
    job.add_command(_command)
cli.add_command(admin)


@config.command("list")
@click.argument("config_file", type=click.Path(dir_okay=False))
@bind_option
@read_json_option
@json_option
def config_list(config_file: str, bindings: Sequence[str], read_json: bool, as_json: bool) -> None:
    """List the job keys CONFIG_FILE defines, one per line."""
    from daybreak.config import load_config, parse_bindings

    jobs = load_config(config_file, parse_bindings(bindings), read_json=read_json)
    if as_json:
        import msgspec

        click.echo(msgspec.json.encode([entry.key for entry in jobs]).decode())
        return
    for entry in jobs:
        click.echo(entry.key)
        if entry.spec is None:
            click.echo(f"warning: {entry.key} is invalid; `job inspect` says why", err=True)


@job.command("inspect")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME")
@click.argument("config_file", type=click.Path(dir_okay=False))
@bind_option
@read_json_option
@json_option
def job_inspect(
    job_key: str, config_file: str, bindings: Sequence[str], read_json: bool, as_json: bool
) -> None:
    """Show what a job in CONFIG_FILE would run, without talking to a scheduler."""
    from daybreak.client.inspect_view import describe
    from daybreak.config import load_config, parse_bindings, pick_job
    from daybreak.model.jobkey import parse_job_key

    key = parse_job_key(job_key)
    spec = pick_job(load_config(config_file, parse_bindings(bindings), read_json=read_json), key)
    if as_json:
        import msgspec

        click.echo(msgspec.json.format(msgspec.json.encode(spec), indent=2).decode())
        return
    click.echo(describe(spec))


@cli.command("agent")
@click.option(
    "--scheduler", required=True, metavar="URL", help="The scheduler, e.g. http://s1:8081."
)
@click.option(
    "--work-dir",
    default="./daybreak-agent",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where sandboxes, checkpoints and unacknowledged status updates live.",
)
@click.option("--hostname", help="The name tasks see as {{mesos.hostname}} [machine's].")
@click.option("--attributes", metavar="NAME=VALUE,...", help="e.g. rack=r1,zone=a (host is added).")
@click.option(
    "--resources",
    metavar="cpu=N,ram=SIZE,disk=SIZE,gpu=N",
    help="What to offer; what is left out is detected from the machine.",
)
@click.option("--ports", default="31000-32000", show_default=True, help="Ports tasks may get.")
@click.option("--agent-id", help="A fixed id [generated once and kept in the work dir].")
@click.option(
    "--credential-file",
    type=click.Path(dir_okay=False),
    help="File holding the agent's token for the scheduler.",
)
@click.option(
    "--cgroups/--no-cgroups",
    default=True,
    show_default=True,
    help="Limit tasks with cgroups where the machine allows (else measure and enforce).",
)
@click.option("--task-pids-max", default=4096, show_default=True, help="Processes per task.")
@click.option(
    "--usage-interval", default="5s", show_default=True, help="How often usage is measured."
)
@click.option(
    "--sandbox-max-age",
    default="7d",
    show_default=True,
    help="Finished tasks' sandboxes older than this are removed.",
)
@click.option(
    "--sandbox-max-total",
    default="20GiB",
    show_default=True,
    help="Finished tasks' sandboxes are removed, oldest first, past this total size.",
)
@click.option(
    "--gc-interval", default="60s", show_default=True, help="How often sandboxes are swept."
)
def agent_command(**options: Any) -> None:
    """Run the node agent: offer this machine, run tasks in sandboxes, report every change."""
    from daybreak.agent.main import build_config, run_agent

    run_agent(build_config(**options))


@cli.command("scheduler")
@click.option(
    "--store",
    "store_url",
    default="sqlite:///.daybreak/scheduler.db",
    show_default=True,
    help="sqlite:///PATH (embedded) or postgresql://USER@HOST:PORT/DB.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, help="Port of the API and the UI.")
@click.option("--cluster", default="devcluster", show_default=True, help="This cluster's name.")
@click.option(
    "--heartbeat-interval", default="1s", show_default=True, help="How often agents heartbeat."
)
@click.option(
    "--agent-timeout",
    default="30s",
    show_default=True,
    help="An agent silent this long has its tasks LOST and placed elsewhere.",
)
@click.option(
    "--security",
    "security_file",
    type=click.Path(dir_okay=False, exists=True),
    help="TOML file of users, roles, admins and agent tokens [none: every call allowed].",
)
def scheduler_command(
    *,
    store_url: str,
    host: str,
    port: int,
    cluster: str,
    heartbeat_interval: str,
    agent_timeout: str,
    security_file: str | None,
) -> None:
    """Run the scheduler: the store, the API, and the decisions."""
    from pathlib import Path

    from daybreak.agent.machine import parse_duration_s
    from daybreak.scheduler.main import run_scheduler
    from daybreak.scheduler.settings import SchedulerConfig

    run_scheduler(
        SchedulerConfig(
            store_url=store_url,
            host=host,
            port=port,
            cluster=cluster,
            heartbeat_interval_ms=round(
                parse_duration_s(heartbeat_interval, "--heartbeat-interval") * 1000
            ),
            agent_timeout_ms=round(parse_duration_s(agent_timeout, "--agent-timeout") * 1000),
            security_file=None if security_file is None else Path(security_file),
        )
    )


@cli.command("up")
@click.option("--agents", default=3, show_default=True, help="How many agents to start.")
@click.option("--port", default=8081, show_default=True, help="The scheduler's port.")
@click.option(
    "--data",
    default=".daybreak",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the state, the sandboxes and the logs go; running again resumes it.",
)
@click.option("--detach", is_flag=True, help="Start and return; `daybreak down` stops it.")
def up_command(agents: int, port: int, data: str, detach: bool) -> None:
    """Start a local cluster: a scheduler and N agents on 127.0.0.1, as cluster devcluster."""
    from pathlib import Path

    from daybreak.devcluster import DevCluster, greeting, run_foreground, start

    cluster = DevCluster(Path(data), port, agents)
    if detach:
        start(cluster)
        click.echo(greeting(cluster))
        click.echo(f"Stop it with: daybreak down --data {data}")
        return
    run_foreground(cluster)


@cli.command("down")
@click.option("--data", default=".daybreak", show_default=True, type=click.Path(file_okay=False))
def down_command(data: str) -> None:
    """Stop a local cluster started with `daybreak up --detach`."""
    from pathlib import Path

    from daybreak.devcluster import DevCluster, down

    stopped = down(DevCluster(Path(data), 0, 0))
    click.echo(f"Stopped {stopped} process(es) of the cluster in {data}.")


@cli.command("help", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: Sequence[str]) -> None:
    """Show help for daybreak or for one of its commands, e.g. `daybreak help job inspect`."""
    group: click.Command = cli
    parent = ctx.parent or ctx
    target_ctx = click.Context(cli, info_name="daybreak", parent=None)
    for word in command:
        if not isinstance(group, click.Group):
            break
        found = group.get_command(parent, word)
        if found is None:
            known = ", ".join(sorted(group.list_commands(parent)))
            path = " ".join(["daybreak", *command[: command.index(word)]])
            raise InvalidCommandError(f"{path} has no command {word!r}; its commands are: {known}")
        target_ctx = click.Context(found, info_name=word, parent=target_ctx)
        group = found
    click.echo(group.get_help(target_ctx))


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the CLI and turn every failure into a message and an exit code."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="daybreak",
            standalone_mode=False,
        )
    except DaybreakError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(int(error.exit_code))
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        code = ExitCode.INVALID_COMMAND if isinstance(error, click.UsageError) else error.exit_code
        sys.exit(int(code))
    except (KeyboardInterrupt, click.Abort):
        click.echo("Interrupted.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    sys.exit(int(ExitCode.OK))
