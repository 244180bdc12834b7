"""The updates pages: every update in flight and recent, and one update's instances, events
and the failure that ended it."""

from __future__ import annotations

from dataclasses import dataclass, field

from daybreak.core.updates import UnknownUpdateError
from daybreak.model.jobspec import JobKey
from daybreak.model.task import ScheduledTask, failed_process, running_since_ms
from daybreak.model.task_state import ACTIVE_STATES, FAILED_STATES
from daybreak.model.update import (
    ACTIVE_UPDATE_STATUSES,
    InstanceAction,
    InstanceStatus,
    JobUpdate,
    UpdateSummary,
)
from daybreak.model.update_view import ConfigChange, TimeLeft, config_changes, time_left
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
    changes: list[ConfigChange] = field(default_factory=list)
    watching: list[WatchRow] = field(default_factory=list)
    time_left: TimeLeft | None = None


@dataclass(frozen=True)
class WatchRow:
    """An instance the update is working on: its new task, and how far through the watch."""

    instance: int
    task: ScheduledTask | None
    running_ms: int | None  # in RUNNING so far, if it is
    watch_ms: int

    @property
    def watched(self) -> float:
        """The share of the watch done, 0 to 1."""
        if self.running_ms is None or self.watch_ms <= 0:
            return 0.0
        return min(1.0, self.running_ms / self.watch_ms)


# Instances in the watch shown on the page at most (an update works on a batch at a time).
WATCH_ROWS = 20


def update_page(
    view: ReadModel, key: JobKey, update_id: str, page: int = 1, now: int = 0
) -> UpdatePage:
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
        changes=config_changes(update), watching=_watching(view, update, now),
        time_left=time_left(update, now),
    )  # fmt: skip


def _watching(view: ReadModel, update: JobUpdate, now: int) -> list[WatchRow]:
    working = sorted(i for i, p in update.progress.instances.items()
                     if p.status is InstanceStatus.WORKING)[:WATCH_ROWS]  # fmt: skip
    if not working or update.status not in ACTIVE_UPDATE_STATUSES:
        return []
    newest: dict[int, ScheduledTask] = {}
    for candidate in view.job_tasks(update.job):
        seen = newest.get(candidate.instance)
        if (
            candidate.instance in working
            and candidate.state in ACTIVE_STATES
            and (seen is None or candidate.last_event_ms > seen.last_event_ms)
        ):
            newest[candidate.instance] = candidate
    watch_ms = update.plan.settings.watch_secs * 1000
    rows = []
    for instance in working:
        task = newest.get(instance)
        since = None if task is None else running_since_ms(task)
        running_ms = None if since is None else max(0, now - since)
        rows.append(WatchRow(instance, task, running_ms, watch_ms))
    return rows


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
