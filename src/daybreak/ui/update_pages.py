"""The updates pages: every update in flight and recent, and one update's instances, events
and the failure that ended it."""

from __future__ import annotations

from dataclasses import dataclass

from daybreak.core.updates import UnknownUpdateError
from daybreak.model.jobspec import JobKey
from daybreak.model.task import ScheduledTask, failed_process
from daybreak.model.task_state import FAILED_STATES
from daybreak.model.update import ACTIVE_UPDATE_STATUSES, InstanceAction, JobUpdate, UpdateSummary
from daybreak.scheduler.read_model import ReadModel
from daybreak.ui.pages import Paging

RECENT_UPDATES = 50


@dataclass(frozen=True)
class UpdatesPage:
    active: list[UpdateSummary]
    recent: list[UpdateSummary]


def updates_page(view: ReadModel) -> UpdatesPage:
    summaries = sorted(
        (UpdateSummary.of(update) for update in view.updates()),
        key=lambda summary: summary.modified_ms,
        reverse=True,
    )
    return UpdatesPage(
        active=[s for s in summaries if s.status in ACTIVE_UPDATE_STATUSES],
        recent=[s for s in summaries if s.status not in ACTIVE_UPDATE_STATUSES][:RECENT_UPDATES],
    )


@dataclass(frozen=True)
class InstanceProgressCell:
    instance: int
    # The update's InstanceStatus lower case for the page's colours; or untouched, or
    # rolled_back (succeeded, in a rollback).
    status: str
    action: str  # add, update or remove


@dataclass(frozen=True)
class UpdatePage:
    update: JobUpdate
    summary: UpdateSummary
    cells: list[InstanceProgressCell]
    instance_events: list[tuple[int, str, int]]  # this page of them, newest first
    paging: Paging
    # The task of the instance whose failure ended the update, and the process that failed.
    failed_task: ScheduledTask | None = None
    failed_process: str = ""


def update_page(view: ReadModel, key: JobKey, update_id: str, page: int = 1) -> UpdatePage:
    update = view.update(update_id)
    if update.job != key:  # an update of another job: not at this address
        raise UnknownUpdateError(update_id)
    plan = update.plan
    untouched = update.untouched()
    rolled_back = {e.instance for e in update.instance_events
                   if e.action is InstanceAction.INSTANCE_ROLLED_BACK}  # fmt: skip
    cells = []
    for instance in sorted(plan.instances()):
        progress = update.progress.instances.get(instance)
        if instance not in plan.initial:
            action = "add"
        elif instance not in plan.desired:
            action = "remove"
        else:
            action = "update"
        status = "idle" if progress is None else progress.status.lower()
        if instance in untouched:
            status = "untouched"
        elif instance in rolled_back and status == "succeeded":
            status = "rolled_back"
        cells.append(InstanceProgressCell(instance, status, action))
    events = [(e.timestamp_ms, str(e.action), e.instance) for e in reversed(update.instance_events)]
    paging = Paging.of(len(events), page)
    failed = _failed_task(view, update)
    return UpdatePage(
        update, UpdateSummary.of(update), cells, list(paging.slice(events)), paging,
        failed, "" if failed is None else failed_process(failed.events) or "",
    )  # fmt: skip


def _failed_task(view: ReadModel, update: JobUpdate) -> ScheduledTask | None:
    """The newest task that failed during the update, of the instance whose failure the
    update counted last."""
    failures = [
        e for e in update.instance_events if e.action is InstanceAction.INSTANCE_UPDATE_FAILED
    ]
    if not failures:
        return None
    instance = failures[-1].instance
    ended = [t for t in view.job_tasks(update.job) if t.instance == instance
             and t.state in FAILED_STATES
             and t.last_event_ms >= update.created_ms]  # fmt: skip
    return max(ended, key=lambda t: t.last_event_ms) if ended else None
