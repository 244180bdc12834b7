"""A job's story, newest first: what was created, what failed, was lost, preempted, killed or
finished, and each update's turns, from the records the scheduler keeps (tasks it has pruned
are gone from it too). Moments of one kind and cause within a second are one entry naming
every instance they touched, so a create of 1,000 instances is one line, not 1,000."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import msgspec

from daybreak.model.jobkey import format_instances
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TaskState
from daybreak.model.update import JobUpdate, UpdateStatus

# Moments this close together, of one kind and cause, are told as one.
GROUP_MS = 1000


class Happening(StrEnum):
    CREATED = "created"
    FAILED = "failed"
    LOST = "lost"
    PREEMPTED = "preempted"
    KILLED = "killed"
    RESTARTED = "restarted"
    DRAINED = "drained"
    FINISHED = "finished"
    UPDATE = "update"


# The task states worth a line, and what they are called there.
TOLD_STATES = {
    TaskState.FAILED: Happening.FAILED,
    TaskState.LOST: Happening.LOST,
    TaskState.PREEMPTING: Happening.PREEMPTED,
    TaskState.KILLING: Happening.KILLED,
    TaskState.RESTARTING: Happening.RESTARTED,
    TaskState.DRAINING: Happening.DRAINED,
    TaskState.FINISHED: Happening.FINISHED,
}
TROUBLE = frozenset({Happening.FAILED, Happening.LOST, Happening.PREEMPTED})
UPDATE_TROUBLE = frozenset(
    {UpdateStatus.ROLLING_BACK, UpdateStatus.ROLLED_BACK, UpdateStatus.FAILED,
     UpdateStatus.ERROR, UpdateStatus.ABORTED}
)  # fmt: skip


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    at_ms: int
    happening: Happening
    instances: tuple[int, ...] = ()
    message: str | None = None
    task_id: str | None = None  # the newest task the entry tells of
    update_id: str | None = None
    status: str | None = None  # an update's new status

    @property
    def trouble(self) -> bool:
        return self.happening in TROUBLE or self.status in UPDATE_TROUBLE

    @property
    def what(self) -> str:
        """One line: 'instances 0-9 created', 'update 3fa2c1d0 ROLLED_BACK'."""
        if self.happening is Happening.UPDATE:
            return f"update {(self.update_id or '')[:8]} {self.status}"
        noun = "instance" if len(self.instances) == 1 else "instances"
        return f"{noun} {format_instances(self.instances)} {self.happening.value}"


def job_timeline(
    tasks: Iterable[ScheduledTask], updates: Iterable[JobUpdate]
) -> list[TimelineEntry]:
    """Every entry of the job's story, newest first."""
    moments: list[TimelineEntry] = []
    for task in tasks:
        for number, event in enumerate(task.events):
            if number == 0 and task.ancestor_id is None:
                moments.append(TimelineEntry(at_ms=event.timestamp_ms, task_id=task.task_id,
                                             happening=Happening.CREATED,
                                             instances=(task.instance,)))  # fmt: skip
            happening = TOLD_STATES.get(event.state)
            if happening is not None:
                moments.append(TimelineEntry(at_ms=event.timestamp_ms, happening=happening,
                                             instances=(task.instance,), message=event.message,
                                             task_id=task.task_id))  # fmt: skip
    for update in updates:
        for turn in update.events:
            words = _update_words(turn.user, turn.message)
            moments.append(TimelineEntry(at_ms=turn.timestamp_ms, happening=Happening.UPDATE,
                                         update_id=update.update_id, status=turn.status.value,
                                         message=words))  # fmt: skip
    moments.sort(key=lambda entry: entry.at_ms)
    return list(reversed(_grouped(moments)))


def _update_words(user: str | None, message: str | None) -> str | None:
    words = [part for part in (f"by {user}" if user else None, message) if part]
    return ": ".join(words) or None


def _grouped(moments: list[TimelineEntry]) -> list[TimelineEntry]:
    """Oldest first, each run of one kind and cause within GROUP_MS of its start made one."""
    grouped: list[TimelineEntry] = []
    open_groups: dict[tuple[Happening, str | None], int] = {}  # -> index in grouped
    for moment in moments:
        if moment.happening is Happening.UPDATE:
            grouped.append(moment)
            continue
        key = (moment.happening, moment.message)
        index = open_groups.get(key)
        if index is not None and moment.at_ms - grouped[index].at_ms <= GROUP_MS:
            first = grouped[index]
            grouped[index] = msgspec.structs.replace(
                first,
                instances=tuple(sorted({*first.instances, *moment.instances})),
                task_id=moment.task_id,
            )
        else:
            open_groups[key] = len(grouped)
            grouped.append(moment)
    return grouped
