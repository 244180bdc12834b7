"""`daybreak job create|status|list|kill|killall`: jobs on a scheduler, through its API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from daybreak.client.completion_commands import complete_job_key
from daybreak.client.connect import client_for
from daybreak.client.output import print_json, table
from daybreak.client.watch import JobWatch
from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model.api import (
    AddRequest,
    InstancesAdded,
    JobCreated,
    JobList,
    JobStatus,
    KillRequest,
    KillResult,
    ServiceEndpoints,
)
from daybreak.model.health import Health
from daybreak.model.jobkey import parse_instance_key, parse_job_key
from daybreak.model.jobspec import JobKey, JobSpec, image_reference
from daybreak.model.task_state import TaskState

if TYPE_CHECKING:
    from daybreak.client.api_client import ApiClient

WAIT_STATES = ("PENDING", "RUNNING", "FINISHED")
wait_until_option = click.option(
    "--wait-until",
    type=click.Choice(WAIT_STATES, case_sensitive=False),
    default="PENDING",
    show_default=True,
    help="Return once every instance is in this state.",
)


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


# What waiting will not mend soon: the CLI says so instead of waiting for RUNNING for ever.
NEVER_RUNNING = frozenset({Health.CRASH_LOOPING, Health.CANNOT_BE_PLACED, Health.FAILED})


def follow_until(client: ApiClient, key: JobKey, wanted: str) -> JobStatus:
    """Follow the job's changes, showing its instances per state whenever that changes."""
    shown = ""
    with JobWatch(client.cluster, key) as watch:
        while True:
            status = client.call("GET", job_path(key), JobStatus)
            counts = state_counts(status)
            if counts != shown:
                click.echo(f"  {key}: {counts}", err=True)
                shown = counts
            if reached(status, wanted):
                return status
            stuck = status.health
            if wanted == "RUNNING" and stuck is not None and stuck.health in NEVER_RUNNING:
                raise DaybreakError(
                    f"{key} is {stuck.health}: {stuck.reason}. Not waiting for it to be "
                    f"RUNNING; `daybreak job status {key}` shows each instance"
                )
            watch.wait()


@click.command("create")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--bind", "bindings", multiple=True, metavar="NAME=VALUE", help="Bind a template.")
@click.option("--read-json", is_flag=True, help="Read the config as JSON.")
@wait_until_option
@click.option("--open-browser", is_flag=True, help="Open the job's page once created.")
def job_create(
    *, job_key: str, config_file: str, bindings: Sequence[str], read_json: bool,
    wait_until: str, open_browser: bool,
) -> None:  # fmt: skip
    """Create a job from CONFIG_FILE and start its instances."""
    from daybreak.client.docker_registry import load_pinned

    key = parse_job_key(job_key)
    spec = load_pinned(config_file, key, bindings, read_json=read_json)
    with client_for(key.cluster) as client:
        created = client.call("POST", "/jobs", JobCreated, spec)
        url = job_url(client, key)
        click.echo(f"Job create succeeded: {created.instances} instance(s). Job url: {url}")
        if open_browser:
            click.launch(url)
        follow_until(client, key, wait_until.upper())


@click.command("status")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
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
    if status.health is not None:
        lines.append(f"Health: {status.health.health} ({status.health.reason})")
    image = None if status.spec is None else image_reference(status.spec.container)
    if image is not None:
        lines.append(f"Image: {image}")
    if not status.active:
        lines.append("  no active instances")
    else:
        rows = [[t.instance, t.state.name, t.hostname or "-", t.task_id] for t in status.active]
        lines.append(table(["INSTANCE", "STATE", "HOST", "TASK"], rows))
    for task in status.active:
        if task.pending_reason:
            lines.append(f"instance {task.instance} is pending: {task.pending_reason}")
    if status.finished:
        lines.append(f"{len(status.finished)} finished task(s); `--json` shows their events")
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
        states = ", ".join(f"{s} {n}" for s, n in sorted(summary.states.items()))
        if summary.cron_schedule is not None:
            states = f"cron {summary.cron_schedule}" + (f"; {states}" if states else "")
        if summary.health is None:
            click.echo(f"{summary.key}  ({states or 'finished'})")
        else:
            click.echo(
                f"{summary.key}  {summary.health.health}" + (f"  ({states})" if states else "")
            )


def _kill(instance_key: str, message: str | None, everything: bool, batch_size: int | None) -> None:
    key, instances = parse_instance_key(instance_key)
    if not everything and instances is None:
        raise click.UsageError(
            "job kill needs instances (CLUSTER/ROLE/ENV/NAME/0-3,7); "
            "`daybreak job killall` kills them all"
        )
    with client_for(key.cluster) as client:
        if batch_size is not None:
            from daybreak.client.rolling import kill_in_batches

            count = kill_in_batches(client, key, instances, batch_size, message)
            click.echo(f"Killed {count} task(s) of {key}")
            return
        request = KillRequest(instances=None if everything else instances, message=message)
        killed = client.call("POST", job_path(key) + "/kill", KillResult, request)
        click.echo(f"Killing {len(killed.killed)} task(s) of {key}")
        if not everything and killed.killed:
            # As in Aurora: the job has as many instances as are active.
            click.echo(
                "Killed instances are not replaced; `daybreak update start` with the job's "
                "config brings them back.",
                err=True,
            )
        if everything:
            try:
                follow_until(client, key, "FINISHED")
            except InvalidParameterError:
                # Gone altogether: pending tasks are deleted when killed, and a job with no
                # config and no history is no job.
                click.echo(f"  {key}: none active", err=True)


batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Kill this many instances at a time, each batch gone before the next.",
)


@click.command("kill")
@click.argument(
    "instance_key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCES", shell_complete=complete_job_key
)
@click.option("-m", "--message", help="Why, for the task history.")
@batch_size_option
def job_kill(instance_key: str, message: str | None, batch_size: int | None) -> None:
    """Kill some instances of a job, e.g. devcluster/www/prod/hello/0-3,7."""
    _kill(instance_key, message, everything=False, batch_size=batch_size)


@click.command("killall")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.option("-m", "--message", help="Why, for the task history.")
@batch_size_option
def job_killall(job_key: str, message: str | None, batch_size: int | None) -> None:
    """Kill every instance of a job and wait until they are gone."""
    _kill(job_key, message, everything=True, batch_size=batch_size)


@click.command("restart")
@click.argument(
    "instance_key", metavar="CLUSTER/ROLE/ENV/NAME[/INSTANCES]", shell_complete=complete_job_key
)
@click.option(
    "--batch-size",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Instances restarted at a time.",
)
@click.option(
    "--watch-secs",
    default=45.0,
    show_default=True,
    help="Seconds a restarted instance must stay RUNNING to count as healthy.",
)
@click.option(
    "--restart-threshold",
    default=60.0,
    show_default=True,
    help="Seconds an instance may take to be RUNNING again.",
)
@click.option(
    "--max-per-instance-failures",
    default=0,
    show_default=True,
    help="Failures tolerated per instance.",
)
@click.option(
    "--max-total-failures",
    default=0,
    show_default=True,
    help="Failed instances tolerated before the restart stops.",
)
def job_restart(
    *, instance_key: str, batch_size: int, watch_secs: float, restart_threshold: float,
    max_per_instance_failures: int, max_total_failures: int,
) -> None:  # fmt: skip
    """Restart a job's instances a batch at a time, each batch healthy before the next."""
    from daybreak.client.rolling import RestartPolicy, rolling_restart

    key, instances = parse_instance_key(instance_key)
    policy = RestartPolicy(batch_size, watch_secs, restart_threshold,
                           max_per_instance_failures, max_total_failures)  # fmt: skip
    with client_for(key.cluster) as client:
        restarted = rolling_restart(client, key, instances, policy)
    click.echo(f"Job restart succeeded: {len(restarted)} instance(s) of {key} restarted.")


@click.command("add")
@click.argument(
    "instance_key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCE", shell_complete=complete_job_key
)
@click.argument("count", type=click.IntRange(min=1))
@wait_until_option
def job_add(instance_key: str, count: int, wait_until: str) -> None:
    """Add COUNT instances with the config of INSTANCE (the job's config)."""
    key, instances = parse_instance_key(instance_key)
    if instances is None or len(instances) != 1:
        raise click.UsageError("name one instance to copy: CLUSTER/ROLE/ENV/NAME/INSTANCE")
    with client_for(key.cluster) as client:
        status = client.call("GET", job_path(key), JobStatus)
        if not any(t.instance == instances[0] for t in status.active):
            raise InvalidParameterError(f"{key} has no active instance {instances[0]} to copy")
        added = client.call("POST", job_path(key) + "/instances", InstancesAdded,
                            AddRequest(count=count))  # fmt: skip
        numbers = ", ".join(map(str, added.instances))
        click.echo(f"Added instance(s) {numbers} to {key}.")
        follow_until(client, key, wait_until.upper())


@click.command("diff")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--bind", "bindings", multiple=True, metavar="NAME=VALUE", help="Bind a template.")
@click.option("--read-json", is_flag=True, help="Read the config as JSON.")
def job_diff(job_key: str, config_file: str, bindings: Sequence[str], read_json: bool) -> None:
    """Show how CONFIG_FILE differs from what the scheduler runs for the job."""
    from daybreak.client.docker_registry import load_pinned
    from daybreak.model.update_view import spec_diff

    key = parse_job_key(job_key)
    local = load_pinned(config_file, key, bindings, read_json=read_json)
    with client_for(key.cluster) as client:
        running = client.call("GET", job_path(key), JobStatus).spec
        diff = spec_diff(running, local, f"{key} (scheduler)", config_file)
        if not diff:
            click.echo(f"No differences between {config_file} and {key}.")
            return
        click.echo("\n".join(diff))
        click.echo(_update_changes(client, key, local))


def _update_changes(client: ApiClient, key: JobKey, spec: JobSpec) -> str:
    """What `update start` with `spec` would do to each instance, as the scheduler plans it."""
    from daybreak.errors import DaybreakError
    from daybreak.model.jobkey import format_instances
    from daybreak.model.update import UpdateRequest, UpdateStarted

    try:
        planned = client.call("POST", f"/jobs/{key}/update", UpdateStarted,
                              UpdateRequest(spec=spec), params={"dry_run": "true"})  # fmt: skip
    except DaybreakError as error:
        return f"An update to this config would be refused: {error}"
    changes = planned.changes
    said = [f"{verb} instance(s) {format_instances(instances)}"
            for verb, instances in (("add", changes.add), ("update", changes.update),
                                    ("remove", changes.remove)) if instances]  # fmt: skip
    if not said:
        return "An update to this config would change no instance."
    return "An update to this config would " + "; ".join(said) + "."


@click.command("open")
@click.argument("where", metavar="CLUSTER[/ROLE[/ENV/NAME]]")
def job_open(where: str) -> None:
    """Open the page of a job, a role or a cluster in a browser."""
    from daybreak.client.clusters import find_cluster

    cluster, _, rest = where.partition("/")
    url = f"{find_cluster(cluster).scheduler_url}/scheduler" + (f"/{rest}" if rest else "")
    click.echo(url)
    click.launch(url)


@click.command("endpoints")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def job_endpoints(job_key: str, as_json: bool) -> None:
    """List where a job's running instances take traffic: host and named ports (the
    announcer's primary port first), as Aurora's serversets held them."""
    key = parse_job_key(job_key)
    path = f"/services/{key.role}/{key.environment}/{key.name}"
    with client_for(key.cluster) as client:
        endpoints = client.call("GET", path, ServiceEndpoints)
    if as_json:
        print_json(endpoints)
        return
    if not endpoints.instances:
        click.echo(f"Job {key}: no instance is running")
        return
    rows = []
    for member in endpoints.instances:
        primary = member.service_endpoint
        others = ", ".join(
            f"{name}={point.port}" for name, point in member.additional_endpoints.items()
        )
        address = "-" if primary is None else f"{primary.host}:{primary.port}"
        rows.append([member.instance, member.host, address, others or "-"])
    click.echo(table(["INSTANCE", "HOST", "PRIMARY", "PORTS"], rows))


COMMANDS = (job_create, job_status, job_list, job_kill, job_killall, job_restart, job_add,
            job_diff, job_open, job_endpoints)  # fmt: skip
