"""The API's update routes: start an update, operate on the active one, read them."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post

from daybreak.core.commands import OperateUpdate, StartUpdate, UpdateAction
from daybreak.errors import InvalidParameterError
from daybreak.model.api import API_PREFIX
from daybreak.model.update import (
    InstanceChanges,
    JobUpdate,
    UpdateList,
    UpdateOperation,
    UpdatePlan,
    UpdateRequest,
    UpdateStarted,
    UpdateStatus,
    UpdateSummary,
)
from daybreak.scheduler.access import Access, access, user_of
from daybreak.scheduler.api_jobs import JOB_PATH, job_key
from daybreak.scheduler.service import Scheduler

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
    command = StartUpdate(
        spec=data.spec, scope=None if data.instances is None else tuple(data.instances),
        user=user_of(request), message=data.message, dry_run=dry_run,
    )  # fmt: skip
    started = await scheduler.ask(command)
    if started is None:
        return UpdateStarted(update=None, message=UNCHANGED)
    if isinstance(started, UpdatePlan):
        changes = InstanceChanges.of(started)
        return UpdateStarted(update=None, message="Dry run: nothing changed.", changes=changes)
    update: JobUpdate = started
    changing = len(update.plan.instances())
    message = f"Update {update.update_id} started: {changing} instance(s) to change"
    return UpdateStarted(
        update=UpdateSummary.of(update), message=message, changes=InstanceChanges.of(update.plan)
    )


def _action(operation: str) -> UpdateAction:
    try:
        return UpdateAction(operation)
    except ValueError:
        known = ", ".join(UpdateAction)
        raise InvalidParameterError(
            f"unknown update operation {operation!r}; operations: {known}"
        ) from None


@post(JOB_PATH + "/update/{operation:str}", status_code=200, opt=access(Access.ROLE))
async def operate_update(
    *, request: Request[Any, Any, Any], cluster: str, role: str, environment: str, name: str,
    operation: str, data: UpdateOperation, scheduler: Scheduler,
) -> UpdateSummary:  # fmt: skip
    """pause, resume, abort, rollback or pulse the job's active update."""
    key = job_key(cluster, role, environment, name)
    command = OperateUpdate(key, _action(operation), user_of(request), data.message)
    update: JobUpdate = await scheduler.ask(command)
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
        for update in scheduler.view.updates()
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
    return scheduler.view.update(update_id)


ROUTES = (start_update, operate_update, list_updates, update_details)
