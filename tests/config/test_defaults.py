"""A job that sets only what Aurora requires gets Aurora's defaults in its JobSpec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from daybreak.config import load_config, pick_job
from daybreak.model import jobspec as m
from daybreak.model.jobkey import parse_job_key
from tests.conftest import KEY, MINIMAL_JOB


def test_minimal_job_has_auroras_defaults(write_config: Callable[..., Path]) -> None:
    spec = pick_job(load_config(write_config(MINIMAL_JOB.format(extra=""))), parse_job_key(KEY))
    assert spec == m.JobSpec(
        key=m.JobKey(cluster="west", role="www", environment="prod", name="app"),
        task=m.Task(
            name="main",
            processes=(m.Process(name="main", cmdline="sleep 60"),),
            resources=m.Resources(cpu=1.0, ram_mb=64, disk_mb=64),
        ),
    )
    # Spelled out, the defaults that matter most to users:
    assert (spec.instances, spec.service, spec.max_task_failures, spec.priority) == (1, False, 1, 0)
    assert (spec.production, spec.tier, spec.cron_collision_policy) == (
        False,
        None,
        "KILL_EXISTING",
    )
    assert spec.update == m.UpdateSettings(
        batch_size=1, watch_secs=45, max_per_shard_failures=0, max_total_failures=0,
        rollback_on_failure=True, wait_for_batch_completion=False, pulse_interval_secs=None,
        sla_aware=False, strategy=m.QueueStrategy(batch_size=1),
    )  # fmt: skip
    assert spec.health_check == m.HealthCheck(
        checker=m.HttpHealthChecker(endpoint="/health", expected_response="ok", expected_response_code=0),
        initial_interval_secs=15.0, interval_secs=10.0, max_consecutive_failures=0,
        min_consecutive_successes=1, timeout_secs=1.0,
    )  # fmt: skip
    assert spec.lifecycle.http == m.HttpLifecycle(
        port="health", graceful_shutdown_endpoint="/quitquitquit",
        shutdown_endpoint="/abortabortabort", graceful_shutdown_wait_secs=5, shutdown_wait_secs=5,
    )  # fmt: skip
    assert spec.executor == m.Executor(name="AuroraExecutor", data="")
    process = spec.task.processes[0]
    assert (process.max_failures, process.daemon, process.ephemeral, process.min_duration) == (
        1, False, False, 5
    )  # fmt: skip
    assert (process.final, process.logger) == (False, None)
    task = spec.task
    assert (task.max_failures, task.max_concurrency, task.finalization_wait, task.orders) == (
        1, 0, 30, ()
    )  # fmt: skip
    assert (spec.announce, spec.container, spec.sla_policy, spec.partition_policy) == (None,) * 4
    assert (spec.ports, spec.static_ports, spec.constraints, spec.metadata) == ((), {}, (), ())
