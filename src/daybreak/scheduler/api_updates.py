"""The API's update routes: start an update, operate on the active one, read them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, get, post

from daybreak.core import updater
from daybreak.errors import InvalidParameterError
from daybreak.model.api import API_PREFIX
from daybreak.model.update import (
    InstanceChanges,
    JobUpdate,
    UpdateList,
    UpdateOperation,
    UpdatePlan,
    UpdateProgress,
    UpdateRequest,
    UpdateStarted,
    UpdateStatus,
    UpdateSummary,
)
from daybreak.scheduler.access import Access, access, user_of
from daybreak.scheduler.api_jobs import JOB_PATH, job_key
from daybreak.scheduler.service import Scheduler

Change = Callable[[UpdatePlan, UpdateProgress], UpdateProgress]
UNCHANGED = "Job is unchanged by proposed update."


@post(JOB_PATH + "/update", status_code=200, opt=access(Access.ROLE))
async def start_update(
    *, request: Request[Any, Any, Any], cluster: str, role: str, environment: str, name: str,
    data: UpdateRequest, scheduler: Scheduler, dry_run: bool = False,
) -> UpdateStarted:  # fmt: skip
    """Roll the job (or `instances` of it) to a new config, batch by batch; with `dry_run`,
    only say which instances that would add, update and remove."""
    key = job_key(cluster, role, environment, name)
    if data.spec.key != key:
        raise InvalidParameterError(f"the config is for job {data.spec.key}, not {key}")
    if dry_run:
        planned = scheduler.plan_update(data.spec, data.instances)
        if planned is None:
            return UpdateStarted(update=None, message=UNCHANGED)
        changes = InstanceChanges.of(planned[0])
        return UpdateStarted(update=None, message="Dry run: nothing changed.", changes=changes)
    update = await scheduler.start_update(data.spec, data.instances, user_of(request),
                                          data.message)  # fmt: skip
    if update is None:
        return UpdateStarted(update=None, message=UNCHANGED)
    changing = len(update.plan.instances())
    message = f"Update {update.update_id} started: {changing} instance(s) to change"
    return UpdateStarted(
        update=UpdateSummary.of(update), message=message, changes=InstanceChanges.of(update.plan)
    )


def _change(operation: str, scheduler: Scheduler, message: str | None) -> Change:
    now = scheduler.clock()
    changes: dict[str, Change] = {
        "pause": lambda _plan, progress: updater.pause(progress, message),
        "resume": lambda plan, progress: updater.resume(plan, progress, now, message),
        "abort": lambda _plan, progress: updater.abort(progress, message),
        "rollback": lambda _plan, progress: updater.rollback(progress, message),
        "pulse": lambda _plan, progress: updater.pulse(progress, now),
    }
    if operation not in changes:
        raise InvalidParameterError(
            f"unknown update operation {operation!r}; operations: {', '.join(changes)}"
        )
    return changes[operation]


@post(JOB_PATH + "/update/{operation:str}", status_code=200, opt=access(Access.ROLE))
async def operate_update(
    *, request: Request[Any, Any, Any], cluster: str, role: str, environment: str, name: str,
    operation: str, data: UpdateOperation, scheduler: Scheduler,
) -> UpdateSummary:  # fmt: skip
    """pause, resume, abort, rollback or pulse the job's active update."""
    key = job_key(cluster, role, environment, name)
    change = _change(operation, scheduler, data.message)
    update = await scheduler.change_update(key, change, user_of(request), data.message)
    return UpdateSummary.of(update)


@get(API_PREFIX + "/updates")
async def list_updates(
    *, scheduler: Scheduler, role: str | None = None, environment: str | None = None,
    name: str | None = None, status: str | None = None, user: str | None = None,
) -> UpdateList:  # fmt: skip
    """Updates, newest first; `status` is a comma-separated list of update statuses."""
    statuses = None
    if status:
        try:
            statuses = {UpdateStatus(word.strip().upper()) for word in status.split(",")}
        except ValueError as error:
            known = ", ".join(UpdateStatus)
            raise InvalidParameterError(f"{error}; statuses are: {known}") from None
    found = [
        UpdateSummary.of(update)
        for update in scheduler.updates.records.values()
        if (role is None or update.job.role == role)
        and (environment is None or update.job.environment == environment)
        and (name is None or update.job.name == name)
        and (statuses is None or update.status in statuses)
        and (user is None or update.user == user)
    ]
    found.sort(key=lambda summary: summary.created_ms, reverse=True)
    return UpdateList(updates=tuple(found))


@get(API_PREFIX + "/updates/{update_id:str}")
async def update_details(update_id: str, scheduler: Scheduler) -> JobUpdate:
    """An update whole: its plan, per-instance progress and events."""
    return scheduler.updates.get(update_id)


ROUTES = (start_update, operate_update, list_updates, update_details)
