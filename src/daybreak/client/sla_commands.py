"""`daybreak sla get-task-up-count|get-job-uptime`: a job's uptime figures, as Aurora's client
computed them from the job's task events."""

from __future__ import annotations

import time

import click

from daybreak.client.completion_commands import complete_job_key
from daybreak.client.connect import client_for
from daybreak.client.job_commands import job_path
from daybreak.client.output import print_json
from daybreak.model.api import JobStatus
from daybreak.model.jobkey import parse_job_key
from daybreak.model.sla import (
    instance_uptimes,
    job_uptime,
    parse_durations,
    parse_percentiles,
    task_up_count,
)


def _uptimes(job_key: str) -> dict[int, int]:
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        status = client.call("GET", job_path(key), JobStatus)
    return instance_uptimes(status.active, int(time.time() * 1000))


def _duration(seconds: int) -> str:
    parts = [(seconds // 86_400, "d"), (seconds // 3_600 % 24, "h"), (seconds // 60 % 60, "m"),
             (seconds % 60, "s")]  # fmt: skip
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount) or "0s"


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
    figures = {_duration(d): round(task_up_count(uptimes, d), 2) for d in wanted}
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
