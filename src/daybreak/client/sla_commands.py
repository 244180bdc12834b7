"""`daybreak sla get-task-up-count|get-job-uptime`: a job's uptime figures, and `daybreak admin
sla-list-safe-domain|sla-probe-hosts`: which hosts could go down now without breaking a job's
SLA; computed from task events as Aurora's client did."""

from __future__ import annotations

import time
from pathlib import Path

import click

from daybreak.client.admin_commands import host_names
from daybreak.client.completion_commands import complete_job_key
from daybreak.client.connect import client_for
from daybreak.client.job_commands import job_path
from daybreak.client.output import print_json, table
from daybreak.model.api import JobStatus, TaskList
from daybreak.model.jobkey import parse_job_key
from daybreak.model.sla import (
    Domain,
    HostJobSla,
    JobLimit,
    instance_uptimes,
    job_uptime,
    parse_duration,
    parse_durations,
    parse_percentage,
    parse_percentiles,
    task_up_count,
)
from daybreak.model.task_state import ACTIVE_STATES
from daybreak.model.units import duration_text


def _uptimes(job_key: str) -> dict[int, int]:
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        status = client.call("GET", job_path(key), JobStatus)
    return instance_uptimes(status.active, int(time.time() * 1000))


@click.group()
def sla() -> None:
    """A job's uptime figures (Aurora's `sla` commands)."""


@sla.command("get-task-up-count")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.option("--durations", default="1h", show_default=True, help="e.g. 1m,1d,3h25m")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def get_task_up_count(job_key: str, durations: str, as_json: bool) -> None:
    """The percentage of the job's instances that have been up at least each duration."""
    wanted = parse_durations(durations)
    uptimes = _uptimes(job_key)
    figures = {duration_text(d): round(task_up_count(uptimes, d), 2) for d in wanted}
    if as_json:
        print_json(figures)
        return
    for duration, percentage in figures.items():
        click.echo(f"{duration}\t- {percentage:.2f} %")


@sla.command("get-job-uptime")
@click.argument("job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key)
@click.option("--percentiles", default="50", show_default=True, help="e.g. 10,50,99.9")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def get_job_uptime(job_key: str, percentiles: str, as_json: bool) -> None:
    """The job's uptime at each percentile, in seconds."""
    wanted = parse_percentiles(percentiles)
    uptimes = _uptimes(job_key)
    figures = {f"{p:g}": job_uptime(uptimes, p) for p in wanted}
    if as_json:
        print_json(figures)
        return
    for percentile, seconds in figures.items():
        click.echo(f"{percentile} percentile\t- {seconds} seconds")


# The cluster's domain: which hosts may go down.

# Aurora fetched every active task of the cluster at once; so does this, up to a bound.
DOMAIN_TASK_LIMIT = 1_000_000

grouping_option = click.option(
    "--grouping",
    type=click.Choice(["by_host"]),
    default="by_host",
    show_default=True,
    help="How hosts are grouped (Aurora's only built-in grouping).",
)
min_count_option = click.option(
    "--min-job-instance-count",
    "min_instances",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Leave out jobs with fewer active instances.",
)


def _domain(cluster: str, min_instances: int) -> Domain:
    params = {"states": ",".join(sorted(state.name for state in ACTIVE_STATES)),
              "limit": str(DOMAIN_TASK_LIMIT)}  # fmt: skip
    with client_for(cluster) as client:
        found = client.call("GET", "/tasks", TaskList, params=params)
    if found.truncated:
        raise click.ClickException(
            f"the cluster has more than {DOMAIN_TASK_LIMIT} active tasks: too many to read at once"
        )
    return Domain(found.tasks, int(time.time() * 1000), min_instances)


def _limits(path: str | None) -> dict[str, JobLimit]:
    """An override file: `CLUSTER/ROLE/ENV/NAME PERCENTAGE DURATION` per line."""
    limits: dict[str, JobLimit] = {}
    if path is None:
        return limits
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        words = line.split()
        if len(words) != 3:
            raise click.ClickException(
                f"{where}: want 'CLUSTER/ROLE/ENV/NAME PERCENTAGE DURATION', got {line.strip()!r}"
            )
        key = str(parse_job_key(words[0]))
        limits[key] = JobLimit(parse_percentage(words[1], where), parse_duration(words[2], where))
    return limits


@click.command("sla-list-safe-domain")
@click.argument("cluster")
@click.argument("percentage")
@click.argument("duration")
@click.option("-x", "--exclude-hosts", help="Comma-separated hosts to leave out of the result.")
@click.option("-X", "--exclude-file", type=click.Path(exists=True, dir_okay=False),
              help="A file of hosts to leave out, one per line.")  # fmt: skip
@click.option("-i", "--include-hosts", help="Comma-separated hosts: the result only has these.")
@click.option("-I", "--include-file", type=click.Path(exists=True, dir_okay=False),
              help="A file of hosts the result only has, one per line.")  # fmt: skip
@click.option("-l", "--list-jobs", is_flag=True,
              help="Each safe host's jobs: HOST JOB PREDICTED_SLA DURATION_SECONDS.")  # fmt: skip
@click.option(
    "-o",
    "--override-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Job SLAs that override PERCENTAGE and DURATION: lines of "
    "'CLUSTER/ROLE/ENV/NAME PERCENTAGE DURATION', e.g. 'west/www/prod/web 95 2h'.",
)
@grouping_option
@min_count_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def sla_list_safe_domain(
    *, cluster: str, percentage: str, duration: str, exclude_hosts: str | None,
    exclude_file: str | None, include_hosts: str | None, include_file: str | None,
    list_jobs: bool, override_file: str | None, grouping: str, min_instances: int,
    as_json: bool,
) -> None:  # fmt: skip
    """Hosts that could go down now without any of their jobs falling below PERCENTAGE of
    instances up DURATION (e.g. 95 30m), each host considered alone."""
    wanted = parse_percentage(percentage, "PERCENTAGE")
    duration_s = parse_duration(duration, "DURATION")
    limits = _limits(override_file)
    excluded = set(host_names(exclude_hosts, exclude_file, required=False))
    included = set(host_names(include_hosts, include_file, required=False))
    safe = _domain(cluster, min_instances).safe_hosts(wanted, duration_s, limits)
    hosts = {
        host: figures
        for host, figures in safe.items()
        if host not in excluded and (not included or host in included)
    }
    if as_json:
        print_json({host: figures for host, figures in hosts.items()})
    elif list_jobs:
        rows = [[f.host, f.job, f"{f.predicted_percentage:.2f}", f.duration_s]
                for figures in hosts.values() for f in figures]  # fmt: skip
        click.echo(table(["HOST", "JOB", "PREDICTED_SLA", "DURATION_SECONDS"], rows))
    else:
        for host in hosts:
            click.echo(host)


@click.command("sla-probe-hosts")
@click.argument("cluster")
@click.argument("percentage")
@click.argument("duration")
@click.option("--hosts", help="Comma-separated hosts to probe.")
@click.option("--filename", type=click.Path(exists=True, dir_okay=False),
              help="A file of hosts to probe, one per line.")  # fmt: skip
@grouping_option
@min_count_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def sla_probe_hosts(
    *, cluster: str, percentage: str, duration: str, hosts: str | None, filename: str | None,
    grouping: str, min_instances: int, as_json: bool,
) -> None:  # fmt: skip
    """What each job on the hosts would have up if the host went down now, whether that keeps
    PERCENTAGE of instances up DURATION, and if not, how long until it would."""
    wanted = parse_percentage(percentage, "PERCENTAGE")
    duration_s = parse_duration(duration, "DURATION")
    probed = _domain(cluster, min_instances).probe(host_names(hosts, filename), wanted, duration_s)
    if as_json:
        print_json(probed)
        return
    click.echo(table(["HOST", "JOB", "PREDICTED_SLA", "SAFE?", "PREDICTED_SAFE_IN"],
                     [_probe_row(figures) for figures in probed]))  # fmt: skip


def _probe_row(figures: HostJobSla) -> list[object]:
    safe_in = "n/a" if figures.safe_in_s is None else duration_text(figures.safe_in_s)
    return [figures.host, figures.job, f"{figures.predicted_percentage:.2f}",
            "Y" if figures.safe else "N", safe_in]  # fmt: skip


SLA_ADMIN_COMMANDS = (sla_list_safe_domain, sla_probe_hosts)
