"""`daybreak NOUN VERB ...`: Aurora's command set, Aurora's exit codes.

Every error is a DaybreakError (or a click usage error) printed as one clear message with its
exit code; a traceback never reaches the user.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from daybreak import __version__
from daybreak.client.admin_commands import admin, quota
from daybreak.client.audit_commands import admin_audit
from daybreak.client.cert_commands import CERT_ADMIN_COMMANDS
from daybreak.client.completion_commands import completion_command
from daybreak.client.cron_commands import cron
from daybreak.client.job_commands import COMMANDS
from daybreak.client.log_commands import task_logs
from daybreak.client.sla_commands import SLA_ADMIN_COMMANDS, sla
from daybreak.client.task_commands import task
from daybreak.client.unit_commands import admin_install_units
from daybreak.client.update_commands import update
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
for _command in (*SLA_ADMIN_COMMANDS, *CERT_ADMIN_COMMANDS, admin_install_units, admin_audit):
    admin.add_command(_command)
cli.add_command(admin)
cli.add_command(quota)
task.add_command(task_logs)
cli.add_command(task)
cli.add_command(update)
cli.add_command(cron)
cli.add_command(sla)
cli.add_command(completion_command)


@config.command("list")
@click.argument("config_file", type=click.Path(dir_okay=False))
@bind_option
@read_json_option
@json_option
def config_list(config_file: str, bindings: Sequence[str], read_json: bool, as_json: bool) -> None:
    """List the job keys CONFIG_FILE defines, one per line."""
    from daybreak.config import load_config, parse_bindings
    from daybreak.config.load import MISSING

    jobs = load_config(config_file, parse_bindings(bindings), read_json=read_json)
    if as_json:
        import msgspec

        click.echo(msgspec.json.encode([entry.key for entry in jobs]).decode())
        return
    for entry in jobs:
        click.echo(entry.key)
        if entry.spec is None and MISSING in entry.key:
            click.echo(f"warning: {entry.key} is invalid: {entry.issues[0]}", err=True)
        elif entry.spec is None:
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
    from daybreak.config import load_job, parse_bindings
    from daybreak.model.describe import describe
    from daybreak.model.jobkey import parse_job_key

    key = parse_job_key(job_key)
    spec = load_job(config_file, key, parse_bindings(bindings), read_json=read_json)
    if as_json:
        import msgspec

        click.echo(msgspec.json.format(msgspec.json.encode(spec), indent=2).decode())
        return
    click.echo(describe(spec))


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
