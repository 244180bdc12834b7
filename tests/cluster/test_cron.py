"""Cron jobs end to end: a real scheduler and real agents, driven through the CLI and the API,
on the wall clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from daybreak.model.cron import CronJobInfo, CronRunStatus
from daybreak.model.jobspec import JobKey
from tests.cluster.conftest import CLUSTER, LocalCluster, sqlite_only, wait_for
from tests.conftest import run_cli

CRON_JOB = """
task = Task(
  name = 'main',
  processes = [Process(name = 'main', cmdline = 'echo ran instance {{{{mesos.instance}}}}')],
  resources = Resources(cpu = 0.1, ram = 16*MB, disk = 16*MB))
jobs = [Job(cluster = 'test', role = '{role}', environment = 'devel', name = 'report',
            instances = 2, task = task, cron_schedule = '* * * * *',
            cron_collision_policy = 'CANCEL_NEW')]
"""


def cron_info(cluster: LocalCluster, key: str) -> CronJobInfo:
    response = cluster.api.get(f"/cron/{key}")
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=CronJobInfo)


def runs(cluster: LocalCluster, key: str) -> list[tuple[str, CronRunStatus]]:
    return [(run.cause, run.status) for run in cron_info(cluster, key).runs]


@sqlite_only
def test_schedule_start_show_and_deschedule_a_cron_job(
    cli_cluster: LocalCluster, write_config: Callable[..., Path]
) -> None:
    config = write_config(CRON_JOB.format(role=cli_cluster.role))
    key = f"{CLUSTER}/{cli_cluster.role}/devel/report"
    job_key = JobKey(cluster=CLUSTER, role=cli_cluster.role, environment="devel", name="report")

    refused = run_cli(["job", "create", key, str(config)])
    assert refused.code != 0
    assert f"has a cron schedule: schedule it with `daybreak cron schedule {key} FILE`" in (
        refused.err
    )

    scheduled = run_cli(["cron", "schedule", key, str(config)])
    assert scheduled.code == 0, scheduled.err
    lines = scheduled.out.splitlines()
    assert lines[:2] == [
        "Cron job scheduled.",
        f"Cron job {key}: * * * * * (Every minute), time zone UTC",
    ]
    assert "2 instance(s) a run; on collision: CANCEL_NEW" in scheduled.out
    assert "no runs yet" in scheduled.out
    listed = run_cli(["job", "list", f"{CLUSTER}/{cli_cluster.role}"])
    assert listed.out == f"{key}  scheduled  (cron * * * * *)\n"

    # Run now: both instances run and finish, and the run says so.
    started = run_cli(["cron", "start", key])
    assert started.code == 0 and started.out.startswith(f"Cron job {key} started at ")
    wait_for(
        lambda: runs(cli_cluster, key) == [("manual", CronRunStatus.SUCCEEDED)],
        "the manual run to succeed",
    )
    finished = cli_cluster.status(job_key).finished
    assert sorted(t.instance for t in finished) == [0, 1]
    shown = run_cli(["cron", "show", key])
    assert "SUCCEEDED" in shown.out and "2 FINISHED" in shown.out and "manual" in shown.out

    # The schedule's own trigger comes within the minute.
    wait_for(
        lambda: ("schedule", CronRunStatus.SUCCEEDED) in runs(cli_cluster, key),
        "a scheduled run to succeed",
        timeout=90,
    )
    info = cron_info(cli_cluster, key)
    assert len(info.next_runs_ms) == 5
    assert all(ms % 60_000 == 0 for ms in info.next_runs_ms)
    as_json: dict[str, Any] = json.loads(run_cli(["cron", "show", key, "--json"]).out)
    assert as_json["schedule"] == "* * * * *" and as_json["time_zone"] == "UTC"
    listing = cli_cluster.api.get("/cron", params={"role": cli_cluster.role}).json()
    assert [entry["key"]["name"] for entry in listing["cron_jobs"]] == ["report"]

    descheduled = run_cli(["cron", "deschedule", key])
    assert descheduled.code == 0 and descheduled.out == f"Cron job {key} descheduled.\n"
    gone = run_cli(["cron", "show", key])
    assert gone.code != 0 and f"no cron job {key}" in gone.err
    assert cli_cluster.api.get(f"/cron/{key}").status_code == 404
    # What ran stays in the job's history.
    assert len(cli_cluster.status(job_key).finished) >= 4
