"""`daybreak job create|status|list|kill|killall`: jobs on a scheduler, through its API."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from daybreak.client.connect import client_for
from daybreak.client.output import print_json
from daybreak.model.api import JobCreated, JobList, JobStatus, KillRequest, KillResult
from daybreak.model.jobkey import parse_instance_key, parse_job_key
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import TaskState

if TYPE_CHECKING:
    from daybreak.client.api_client import ApiClient

WAIT_STATES = ("PENDING", "RUNNING", "FINISHED")
POLL_S = 0.5


def job_path(key: JobKey) -> str:
    return f"/jobs/{key}"


def job_url(client: ApiClient, key: JobKey) -> str:
    return f"{client.cluster.scheduler_url}/scheduler/{key.role}/{key.environment}/{key.name}"


def state_counts(status: JobStatus) -> str:
    counts = Counter(task.state for task in status.active)
    return ", ".join(f"{state} {count}" for state, count in sorted(counts.items())) or "none active"


def reached(status: JobStatus, wanted: str) -> bool:
    if wanted == "FINISHED":
        return not status.active
    if wanted == "RUNNING":
        return bool(status.active) and all(t.state is TaskState.RUNNING for t in status.active)
    return True


def follow_until(client: ApiClient, key: JobKey, wanted: str) -> JobStatus:
    """Poll the job, showing its instances per state whenever that changes."""
    shown = ""
    while True:
        status = client.call("GET", job_path(key), JobStatus)
        counts = state_counts(status)
        if counts != shown:
            click.echo(f"  {key}: {counts}", err=True)
            shown = counts
        if reached(status, wanted):
            return status
        time.sleep(POLL_S)


@click.command("create")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--bind", "bindings", multiple=True, metavar="NAME=VALUE", help="Bind a template.")
@click.option("--read-json", is_flag=True, help="Read the config as JSON.")
@click.option(
    "--wait-until",
    type=click.Choice(WAIT_STATES, case_sensitive=False),
    default="PENDING",
    show_default=True,
    help="Return once every instance is in this state.",
)
@click.option("--open-browser", is_flag=True, help="Open the job's page once created.")
def job_create(
    *, job_key: str, config_file: str, bindings: Sequence[str], read_json: bool,
    wait_until: str, open_browser: bool,
) -> None:  # fmt: skip
    """Create a job from CONFIG_FILE and start its instances."""
    from daybreak.config import load_config, parse_bindings, pick_job

    key = parse_job_key(job_key)
    spec = pick_job(load_config(config_file, parse_bindings(bindings), read_json=read_json), key)
    with client_for(key.cluster) as client:
        created = client.call("POST", "/jobs", JobCreated, spec)
        url = job_url(client, key)
        click.echo(f"Job create succeeded: {created.instances} instance(s). Job url: {url}")
        if open_browser:
            click.launch(url)
        follow_until(client, key, wait_until.upper())


@click.command("status")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def job_status(job_key: str, as_json: bool) -> None:
    """Show a job's instances: state, host and task id; why pending ones wait."""
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        status = client.call("GET", job_path(key), JobStatus)
    if as_json:
        print_json(status)
        return
    click.echo(describe_status(status))


def describe_status(status: JobStatus) -> str:
    lines = [f"Job {status.key}: {state_counts(status)}"]
    if not status.active:
        lines.append("  no active instances")
    for task in status.active:
        where = task.hostname or "-"
        lines.append(f"  {task.instance:>4}  {task.state:<11} {where:<16} {task.task_id}")
        if task.pending_reason:
            lines.append(f"        pending: {task.pending_reason}")
    if status.finished:
        lines.append(f"  {len(status.finished)} finished task(s); `--json` shows their events")
    return "\n".join(lines)


@click.command("list")
@click.argument("where", metavar="CLUSTER[/ROLE]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def job_list(where: str, as_json: bool) -> None:
    """List the jobs of a cluster, or of one role in it."""
    cluster, _, role = where.partition("/")
    path = "/jobs" + (f"?role={role}" if role else "")
    with client_for(cluster) as client:
        jobs = client.call("GET", path, JobList)
    if as_json:
        print_json(jobs)
        return
    for summary in jobs.jobs:
        states = ", ".join(f"{s} {n}" for s, n in sorted(summary.states.items())) or "finished"
        click.echo(f"{summary.key}  ({states})")


def _kill(instance_key: str, message: str | None, everything: bool) -> None:
    key, instances = parse_instance_key(instance_key)
    if not everything and instances is None:
        raise click.UsageError(
            "job kill needs instances (CLUSTER/ROLE/ENV/NAME/0-3,7); "
            "`daybreak job killall` kills them all"
        )
    with client_for(key.cluster) as client:
        request = KillRequest(instances=None if everything else instances, message=message)
        killed = client.call("POST", job_path(key) + "/kill", KillResult, request)
        click.echo(f"Killing {len(killed.killed)} task(s) of {key}")
        if everything:
            follow_until(client, key, "FINISHED")


@click.command("kill")
@click.argument("instance_key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCES")
@click.option("-m", "--message", help="Why, for the task history.")
def job_kill(instance_key: str, message: str | None) -> None:
    """Kill some instances of a job, e.g. devcluster/www/prod/hello/0-3,7."""
    _kill(instance_key, message, everything=False)


@click.command("killall")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME")
@click.option("-m", "--message", help="Why, for the task history.")
def job_killall(job_key: str, message: str | None) -> None:
    """Kill every instance of a job and wait until they are gone."""
    _kill(job_key, message, everything=True)


COMMANDS = (job_create, job_status, job_list, job_kill, job_killall)
