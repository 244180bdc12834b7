"""`daybreak cron schedule|deschedule|start|show`: Aurora's cron jobs, through the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

import click

from daybreak.client.completion_commands import complete_job_key
from daybreak.client.connect import client_for
from daybreak.client.output import print_json, table
from daybreak.model.cron import CronJobInfo, CronRun
from daybreak.model.jobkey import parse_job_key
from daybreak.model.jobspec import JobKey


def cron_path(key: JobKey) -> str:
    return f"/cron/{key}"


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC  # a zone this machine does not know: times in UTC, and said so


def when(ms: int, zone: tzinfo) -> str:
    moment = datetime.fromtimestamp(ms / 1000, zone)
    return moment.strftime("%Y-%m-%d %H:%M ") + (moment.tzname() or "UTC")


def describe_run(run: CronRun, zone: tzinfo) -> list[object]:
    started = "-" if run.started_ms is None else when(run.started_ms, zone)
    return [when(run.trigger_ms, zone), run.cause, run.status.name, started, run.message or ""]


def describe_cron(info: CronJobInfo) -> str:
    zone = _zone(info.time_zone)
    lines = [
        f"Cron job {info.key}: {info.schedule} ({info.explanation}), time zone {info.time_zone}",
        f"  {info.instances} instance(s) a run; on collision: {info.collision_policy}",
        "  next runs: " + ", ".join(when(ms, zone) for ms in info.next_runs_ms),
    ]
    if info.runs:
        rows = [describe_run(run, zone) for run in reversed(info.runs)]
        lines.append(table(["TRIGGER", "CAUSE", "STATUS", "STARTED", "OUTCOME"], rows))
    else:
        lines.append("  no runs yet")
    return "\n".join(lines)


@click.group()
def cron() -> None:
    """Cron jobs: a job run on a schedule (Aurora's `cron_schedule`)."""


@cron.command("schedule")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--bind", "bindings", multiple=True, metavar="NAME=VALUE", help="Bind a template.")
@click.option("--read-json", is_flag=True, help="Read the config as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def cron_schedule(
    job_key: str, config_file: str, bindings: Sequence[str], read_json: bool, as_json: bool
) -> None:
    """Schedule a cron job from CONFIG_FILE, or replace its template (runs under way go on;
    the next run takes the new template)."""
    from daybreak.client.docker_registry import load_pinned

    key = parse_job_key(job_key)
    spec = load_pinned(config_file, key, bindings, read_json=read_json)
    with client_for(key.cluster) as client:
        info = client.call("POST", "/cron", CronJobInfo, spec)
    if as_json:
        print_json(info)
        return
    click.echo(f"Cron job scheduled.\n{describe_cron(info)}")


@cron.command("deschedule")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
def cron_deschedule(job_key: str) -> None:
    """Remove a cron job: no more runs start; a run under way continues
    (`daybreak job killall` stops it)."""
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        client.call("DELETE", cron_path(key), CronJobInfo)
    click.echo(f"Cron job {key} descheduled.")


@cron.command("start")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
def cron_start(job_key: str) -> None:
    """Run a cron job now; its collision policy applies if a run is still active."""
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        info = client.call("POST", cron_path(key) + "/start", CronJobInfo)
    run = info.runs[-1] if info.runs else None
    zone = _zone(info.time_zone)
    if run is None or run.cause != "manual":
        click.echo(f"Cron job {key}: a run is already waiting for the previous one to end.")
    elif run.status.name == "SKIPPED":
        raise click.ClickException(f"cron job {key} not started: {run.message}")
    elif run.status.name == "WAITING":
        click.echo(f"Cron job {key} starts once its previous run is killed ({run.message}).")
    else:
        click.echo(f"Cron job {key} started at {when(run.trigger_ms, zone)}.")


@cron.command("show")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def cron_show(job_key: str, as_json: bool) -> None:
    """Show a cron job: its schedule and time zone, next runs, and its latest runs."""
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        info = client.call("GET", cron_path(key), CronJobInfo)
    if as_json:
        print_json(info)
        return
    click.echo(describe_cron(info))
