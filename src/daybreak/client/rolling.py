"""Changing a job a batch at a time, as Aurora's client did for `job restart` and
`job kill --batch-size`: act on a batch, wait until it is done, then the next."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import click

from daybreak.client.api_client import ApiClient
from daybreak.client.watch import LONGEST_S, JobWatch
from daybreak.errors import DaybreakError
from daybreak.model.api import JobStatus, KillRequest, KillResult, RestartRequest, RestartResult
from daybreak.model.jobkey import format_instances
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import FAILED_STATES, TaskState


class RestartFailedError(DaybreakError):
    """Instances did not come back healthy; the rest of the job was left as it was."""


@dataclass(frozen=True)
class RestartPolicy:
    """Aurora's `job restart` flags, with its defaults."""

    batch_size: int = 1
    # A restarted instance must stay RUNNING this long to count as healthy.
    watch_secs: float = 45
    # How long an instance may take to be RUNNING again before it counts as failed.
    restart_threshold: float = 60
    max_per_instance_failures: int = 0
    max_total_failures: int = 0


@dataclass
class _Instance:
    old_tasks: frozenset[str]
    failures: int = 0
    running_since: float | None = None
    deadline: float = 0.0
    seen_failed: set[str] = field(default_factory=set)


def batches(instances: Sequence[int], size: int) -> list[list[int]]:
    return [list(instances[start : start + size]) for start in range(0, len(instances), size)]


def _status(client: ApiClient, key: JobKey) -> JobStatus:
    return client.call("GET", f"/jobs/{key}", JobStatus)


def targets(status: JobStatus, instances: Sequence[int] | None) -> list[int]:
    active = sorted({task.instance for task in status.active})
    return active if instances is None else [i for i in active if i in set(instances)]


def rolling_restart(
    client: ApiClient, key: JobKey, instances: Sequence[int] | None, policy: RestartPolicy
) -> list[int]:
    """Restart the chosen instances a batch at a time; return the instances restarted."""
    status = _status(client, key)
    chosen = targets(status, instances)
    failed_instances: list[int] = []
    done: list[int] = []
    for number, batch in enumerate(batches(chosen, policy.batch_size), start=1):
        click.echo(f"  batch {number}: restarting instances {format_instances(batch)}", err=True)
        watched = {
            instance: _Instance(
                old_tasks=frozenset(t.task_id for t in status.active if t.instance == instance)
            )
            for instance in batch
        }
        client.call("POST", f"/jobs/{key}/restart", RestartResult,
                    RestartRequest(instances=tuple(batch), message="Rolling restart"))  # fmt: skip
        failed_instances += _watch(client, key, watched, policy)
        done += batch
        if len(failed_instances) > policy.max_total_failures:
            raise RestartFailedError(
                f"restart of {key} stopped: instance(s) {format_instances(failed_instances)} "
                f"did not stay RUNNING for {policy.watch_secs:g} s (more than --max-total-failures "
                f"{policy.max_total_failures}). Restarted: {format_instances(done)}; the rest are "
                f"untouched. `daybreak job status {key}` shows why."
            )
        status = _status(client, key)
    return done


def _watch(
    client: ApiClient, key: JobKey, watched: dict[int, _Instance], policy: RestartPolicy
) -> list[int]:
    """Wait until each instance's new task has been RUNNING for watch_secs; return those that
    failed more often than allowed."""
    now = time.monotonic()
    for state in watched.values():
        state.deadline = now + policy.restart_threshold
    healthy: set[int] = set()
    failed: set[int] = set()
    with JobWatch(client.cluster, key) as watch:
        while len(healthy) + len(failed) < len(watched):
            status = _status(client, key)
            now = time.monotonic()
            wake = _check(status, watched, healthy=healthy, failed=failed, policy=policy, now=now)
            if len(healthy) + len(failed) < len(watched):
                watch.wait(max(0.0, wake - now))
    return sorted(failed)


def _check(
    status: JobStatus, watched: dict[int, _Instance], *, healthy: set[int], failed: set[int],
    policy: RestartPolicy, now: float,
) -> float:  # fmt: skip
    """Move the instances now healthy or failed to their set; return when time alone would
    next change something (a watch ending, a deadline passing)."""
    wake: float = now + LONGEST_S
    for instance, state in watched.items():
        if instance in healthy or instance in failed:
            continue
        new_failures = {
            t.task_id for t in status.finished
            if t.instance == instance and t.task_id not in state.old_tasks
            and t.state in FAILED_STATES
            and t.task_id not in state.seen_failed
        }  # fmt: skip
        if new_failures:
            state.seen_failed |= new_failures
            state.failures += len(new_failures)
            state.running_since = None
            state.deadline = now + policy.restart_threshold
        timed_out = state.running_since is None and now > state.deadline
        if state.failures > policy.max_per_instance_failures or timed_out:
            failed.add(instance)
            continue
        running = [
            t for t in status.active
            if t.instance == instance and t.task_id not in state.old_tasks
            and t.state is TaskState.RUNNING
        ]  # fmt: skip
        if not running:
            state.running_since = None
            wake = min(wake, state.deadline)
        elif state.running_since is None:
            state.running_since = now
            wake = min(wake, now + policy.watch_secs)
        elif now - state.running_since >= policy.watch_secs:
            healthy.add(instance)
        else:
            wake = min(wake, state.running_since + policy.watch_secs)
    return wake


def kill_in_batches(
    client: ApiClient, key: JobKey, instances: Sequence[int] | None, batch_size: int,
    message: str | None,
) -> int:  # fmt: skip
    """Kill the chosen instances a batch at a time, each batch gone before the next."""
    chosen = targets(_status(client, key), instances)
    killed = 0
    for number, batch in enumerate(batches(chosen, batch_size), start=1):
        click.echo(f"  batch {number}: killing instances {format_instances(batch)}", err=True)
        result = client.call("POST", f"/jobs/{key}/kill", KillResult,
                             KillRequest(instances=tuple(batch), message=message))  # fmt: skip
        killed += len(result.killed)
        with JobWatch(client.cluster, key) as watch:
            while any(t.instance in batch for t in _status(client, key).active):
                watch.wait()
    return killed
