"""`daybreak update start|pause|resume|abort|rollback|pulse|list|info|wait`: scheduler-driven
rolling updates, as Aurora's `aurora update` had them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from daybreak.client.completion_commands import complete_job_key
from daybreak.client.connect import client_for
from daybreak.client.output import print_json, table
from daybreak.client.watch import JobWatch
from daybreak.errors import DaybreakError, ExitCode, InvalidParameterError
from daybreak.model.jobkey import parse_instance_key, parse_job_key
from daybreak.model.jobspec import JobKey
from daybreak.model.update import (
    ACTIVE_UPDATE_STATUSES,
    InstanceAction,
    InstanceStatus,
    JobUpdate,
    UpdateList,
    UpdateOperation,
    UpdateRequest,
    UpdateStarted,
    UpdateStatus,
    UpdateSummary,
)

if TYPE_CHECKING:
    from daybreak.client.api_client import ApiClient

U = UpdateStatus
ACTIVE = ACTIVE_UPDATE_STATUSES
# Aurora's `update list --status` groups.
STATUS_GROUPS: dict[str, frozenset[UpdateStatus]] = {
    "active": ACTIVE,
    "all": frozenset(UpdateStatus),
    "blocked": frozenset({U.ROLL_FORWARD_AWAITING_PULSE, U.ROLL_BACK_AWAITING_PULSE}),
    "failed": frozenset({U.ERROR, U.FAILED, U.ROLLED_BACK}),
    "inactive": frozenset(UpdateStatus) - ACTIVE,
    "paused": frozenset({U.ROLL_FORWARD_PAUSED, U.ROLL_BACK_PAUSED}),
    "succeeded": frozenset({U.ROLLED_FORWARD}),
}


class UpdateFailedError(DaybreakError):
    exit_code = ExitCode.COMMAND_FAILURE


def update_path(key: JobKey) -> str:
    return f"/jobs/{key}/update"


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def progress_line(update: JobUpdate | UpdateSummary) -> str:
    counts = (
        update.instances
        if isinstance(update, UpdateSummary)
        else UpdateSummary.of(update).instances
    )
    words = {InstanceStatus.SUCCEEDED: "done", InstanceStatus.WORKING: "in progress",
             InstanceStatus.IDLE: "waiting", InstanceStatus.FAILED: "failed"}  # fmt: skip
    parts = [f"{counts[s]} {word}" for s, word in words.items() if counts.get(s)]
    return f"{update.status}: " + (", ".join(parts) or "no instances")


def follow(client: ApiClient, update_id: str) -> JobUpdate:
    """Follow the update until it is over, printing its progress whenever it changes."""
    shown = ""
    update = client.call("GET", f"/updates/{update_id}", JobUpdate)
    with JobWatch(client.cluster, update.job) as watch:
        while True:
            update = client.call("GET", f"/updates/{update_id}", JobUpdate)
            line = progress_line(update)
            if line != shown:
                click.echo(f"  {line}", err=True)
                shown = line
            if update.status not in ACTIVE:
                return update
            watch.wait()


def conclude(update: JobUpdate, wanted: UpdateStatus) -> None:
    """Say how the update ended; anything but `wanted` is a failure of the command."""
    if update.status is wanted:
        click.echo(f"Update {update.update_id} of {update.job}: {update.status}.")
        return
    rolled_back = [e.instance for e in update.instance_events
                   if e.action is InstanceAction.INSTANCE_ROLLED_BACK]  # fmt: skip
    why = f" {update.progress.message}" if update.progress.message else ""
    undone = f" Rolled back instance(s) {', '.join(map(str, rolled_back))}." if rolled_back else ""
    raise UpdateFailedError(
        f"update {update.update_id} of {update.job} ended {update.status}.{why}{undone}"
    )


@click.group("update")
def update() -> None:
    """Roll jobs to new configs, batch by batch, with automatic rollback."""


@update.command("start")
@click.argument(
    "instance_key", metavar="CLUSTER/ROLE/ENV/NAME[/INSTANCES]", shell_complete=complete_job_key
)
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--bind", "bindings", multiple=True, metavar="NAME=VALUE", help="Bind a template.")
@click.option("--read-json", is_flag=True, help="Read the config as JSON.")
@click.option("-m", "--message", help="Why, for the update's history.")
@click.option("--wait", is_flag=True, help="Follow the update; succeed only if it rolls forward.")
@click.option("--open-browser", is_flag=True, help="Open the update's page.")
def update_start(
    *, instance_key: str, config_file: str, bindings: Sequence[str], read_json: bool,
    message: str | None, wait: bool, open_browser: bool,
) -> None:  # fmt: skip
    """Update a job (or the INSTANCES of it: a canary) to the config in CONFIG_FILE."""
    from daybreak.client.docker_registry import load_pinned

    key, instances = parse_instance_key(instance_key)
    spec = load_pinned(config_file, key, bindings, read_json=read_json)
    request = UpdateRequest(spec=spec, instances=instances, message=message)
    with client_for(key.cluster) as client:
        started = client.call("POST", update_path(key), UpdateStarted, request)
        click.echo(started.message)
        if started.update is None:
            return
        update_id = started.update.update_id
        url = f"{client.cluster.scheduler_url}/scheduler/{key.role}/{key.environment}/" \
              f"{key.name}/update/{update_id}"  # fmt: skip
        click.echo(f"Update url: {url}")
        if open_browser:
            click.launch(url)
        if wait:
            conclude(follow(client, update_id), U.ROLLED_FORWARD)


def _operate(job_key: str, operation: str, message: str | None) -> UpdateSummary:
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        summary = client.call("POST", f"{update_path(key)}/{operation}", UpdateSummary,
                              UpdateOperation(message=message))  # fmt: skip
    click.echo(f"Update {summary.update_id} of {key} is now {summary.status}.")
    return summary


job_key_argument = click.argument(
    "job_key", metavar="CLUSTER/ROLE/ENV/NAME", shell_complete=complete_job_key
)
message_option = click.option("-m", "--message", help="Why, for the update's history.")


@update.command("pause")
@job_key_argument
@message_option
def update_pause(job_key: str, message: str | None) -> None:
    """Pause the job's active update where it is."""
    _operate(job_key, "pause", message)


@update.command("resume")
@job_key_argument
@message_option
def update_resume(job_key: str, message: str | None) -> None:
    """Resume the job's paused update."""
    _operate(job_key, "resume", message)


@update.command("abort")
@job_key_argument
@message_option
def update_abort(job_key: str, message: str | None) -> None:
    """Stop the job's active update for good, leaving instances as they are."""
    _operate(job_key, "abort", message)


@update.command("pulse")
@job_key_argument
def update_pulse(job_key: str) -> None:
    """Let a coordinated update (pulse_interval_secs) go on for another interval."""
    _operate(job_key, "pulse", None)


@update.command("rollback")
@job_key_argument
@message_option
@click.option("--wait", is_flag=True, help="Follow the rollback; succeed only if it completes.")
def update_rollback(job_key: str, message: str | None, wait: bool) -> None:
    """Roll every instance the active update changed back to its previous config."""
    summary = _operate(job_key, "rollback", message)
    if wait:
        with client_for(summary.job.cluster) as client:
            conclude(follow(client, summary.update_id), U.ROLLED_BACK)


@update.command("wait")
@job_key_argument
@click.argument("update_id")
def update_wait(job_key: str, update_id: str) -> None:
    """Wait until the update is over; succeed only if it rolled forward."""
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        conclude(follow(client, update_id), U.ROLLED_FORWARD)


def _statuses(words: Sequence[str]) -> set[UpdateStatus]:
    chosen: set[UpdateStatus] = set()
    for word in words:
        if word.lower() in STATUS_GROUPS:
            chosen.update(STATUS_GROUPS[word.lower()])
            continue
        try:
            chosen.add(UpdateStatus(word.upper()))
        except ValueError:
            known = ", ".join([*STATUS_GROUPS, *UpdateStatus])
            raise InvalidParameterError(f"unknown update status {word!r}; use: {known}") from None
    return chosen


def _list(client: ApiClient, where: Sequence[str], user: str | None) -> list[UpdateSummary]:
    params = dict(zip(("role", "environment", "name"), where, strict=False))
    if user:
        params["user"] = user
    return list(client.call("GET", "/updates", UpdateList, params=params).updates)


@update.command("list")
@click.argument("where", metavar="CLUSTER[/ROLE[/ENV[/NAME]]]", shell_complete=complete_job_key)
@click.option("--status", "statuses", multiple=True,
              help="A status or a group: active, all, blocked, failed, inactive, paused, "
                   "succeeded (repeatable; default all).")  # fmt: skip
@click.option("--user", help="Only updates started by this user.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def update_list(where: str, statuses: Sequence[str], user: str | None, as_json: bool) -> None:
    """List updates of a cluster, a role, an environment or a job, newest first."""
    cluster, *rest = where.split("/")
    wanted = _statuses(statuses) if statuses else None
    with client_for(cluster) as client:
        found = [u for u in _list(client, rest, user) if wanted is None or u.status in wanted]
    if as_json:
        print_json(found)
        return
    rows = [[u.job, u.update_id, u.status, u.user or "-", when(u.created_ms),
             when(u.modified_ms)] for u in found]  # fmt: skip
    click.echo(table(["JOB", "UPDATE ID", "STATUS", "CREATED BY", "STARTED", "LAST MODIFIED"],
                     rows) if rows else f"No updates in {where}.")  # fmt: skip


@update.command("info")
@job_key_argument
@click.argument("update_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def update_info(job_key: str, update_id: str | None, as_json: bool) -> None:
    """Show an update (the job's active or latest one by default): progress and events."""
    key = parse_job_key(job_key)
    with client_for(key.cluster) as client:
        if update_id is None:
            found = _list(client, [key.role, key.environment, key.name], None)
            if not found:
                raise InvalidParameterError(f"job {key} has no updates")
            update_id = next((u for u in found if u.status in ACTIVE), found[0]).update_id
        details = client.call("GET", f"/updates/{update_id}", JobUpdate)
    if as_json:
        print_json(details)
        return
    click.echo(describe_update(details, int(time.time() * 1000)))


def describe_update(update: JobUpdate, now: int) -> str:
    from daybreak.model.units import duration_text
    from daybreak.model.update_view import time_left

    lines = [
        f"Update {update.update_id} of {update.job}",
        f"  started by {update.user or '-'} at {when(update.created_ms)}; "
        f"last modified {when(update.modified_ms)}",
        f"  {progress_line(update)}",
    ]
    left = time_left(update, now)
    if left is not None:
        lines.append(
            f"  time left: {'about' if left.measured else 'at least'} "
            f"{duration_text(left.left_ms // 1000)}, {left.remaining} instance(s) to go, "
            f"{left.parallel} at a time"
        )
    if update.scope is not None:
        lines.append(f"  limited to instances {', '.join(map(str, update.scope))}")
    lines.append("Update events:")
    lines.append(table(["TIME", "STATUS", "USER", "MESSAGE"],
                       [[when(e.timestamp_ms), e.status, e.user or "-", e.message or ""]
                        for e in update.events]))  # fmt: skip
    if update.instance_events:
        lines.append("Instance events:")
        lines.append(table(["TIME", "INSTANCE", "ACTION"],
                           [[when(e.timestamp_ms), e.instance, e.action]
                            for e in update.instance_events]))  # fmt: skip
    return "\n".join(lines)
