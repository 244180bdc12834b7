"""One run of one instance: the record the scheduler keeps for every task.

Not tracked by the cyclic collector (`gc=False`): the scheduler holds hundreds of thousands of
these, and a full collection walked them all (a pause of a good part of a second at 100,000
tasks). Records are immutable trees that never refer back to their holders: no cycles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task_state import TaskState


class TaskEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    timestamp_ms: int
    state: TaskState
    message: str | None = None


class ScheduledTask(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    task_id: str
    # The config this run was started from. Instances of one job may differ (a canary update),
    # and a rescheduled run keeps its predecessor's config, as in Aurora.
    spec: JobSpec
    instance: int
    state: TaskState
    events: tuple[TaskEvent, ...] = ()
    failure_count: int = 0
    times_partitioned: int = 0
    # The task this one replaced when it was rescheduled (same instance, earlier run).
    ancestor_id: str | None = None
    agent_id: str | None = None
    hostname: str | None = None
    ports: dict[str, int] = msgspec.field(default_factory=dict)

    @property
    def job(self) -> JobKey:
        return self.spec.key

    @property
    def last_event_ms(self) -> int:
        return self.events[-1].timestamp_ms if self.events else 0


# How the executor says which process failed a task (`Process 'main' failed 3 time(s); ...`).
_FAILED_PROCESS = re.compile(r"Process '([^']+)' failed")


def failed_process(events: Iterable[TaskEvent]) -> str | None:
    """The process that failed the task, as its newest event that says so names it."""
    for event in reversed(tuple(events)):
        found = _FAILED_PROCESS.search(event.message or "")
        if found:
            return found[1]
    return None


def log_process(events: Iterable[TaskEvent], spec: JobSpec | None) -> str | None:
    """Whose output to show of a task: the process that failed it, else its first."""
    failed = failed_process(events)
    if failed is not None or spec is None or not spec.task.processes:
        return failed
    return spec.task.processes[0].name


def last_message(events: Iterable[TaskEvent]) -> str | None:
    """What the newest event that said anything said."""
    return next((event.message for event in reversed(tuple(events)) if event.message), None)


def running_since_ms(task: ScheduledTask) -> int | None:
    """When a RUNNING task last entered RUNNING."""
    if task.state is not TaskState.RUNNING:
        return None
    return next((e.timestamp_ms for e in reversed(task.events) if e.state is TaskState.RUNNING),
                None)  # fmt: skip
