"""A job's health at a glance, in one word and a sentence: what the API, the CLI and the UI show
of a job, decided here once.

Rules, first match wins:

- crash-looping: an instance is held back for flapping (THROTTLED), its runs ending too soon;
- cannot be placed: a pending instance that no agent could ever take (too big for every agent
  it may use, or none matches its constraints), as opposed to one waiting for room;
- update failed: the job's latest update rolled back, failed or stopped on an error;
- degraded: some active instances are not running (pending for room, starting, restarting,
  being killed, partitioned);
- healthy: every active instance is running;
- scheduled: a cron job between runs;
- failed / finished: no active instance is left; failed if the last run of any instance
  failed or was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

import msgspec

from daybreak.model.jobspec import JobSpec
from daybreak.model.task import ScheduledTask, last_message
from daybreak.model.task_state import ACTIVE_STATES, FAILED_STATES, TaskState
from daybreak.model.update import JobUpdate, UpdateStatus


class Health(StrEnum):
    CRASH_LOOPING = "crash-looping"
    CANNOT_BE_PLACED = "cannot be placed"
    UPDATE_FAILED = "update failed"
    DEGRADED = "degraded"
    HEALTHY = "healthy"
    SCHEDULED = "scheduled"
    FAILED = "failed"
    FINISHED = "finished"


# What someone on call should look at.
NEEDS_ATTENTION = frozenset({
    Health.CRASH_LOOPING, Health.CANNOT_BE_PLACED, Health.UPDATE_FAILED, Health.DEGRADED,
    Health.FAILED,
})  # fmt: skip
FAILED_UPDATES = frozenset({UpdateStatus.ROLLED_BACK, UpdateStatus.FAILED, UpdateStatus.ERROR})


class JobHealth(msgspec.Struct, frozen=True, kw_only=True):
    health: Health
    reason: str

    @property
    def needs_attention(self) -> bool:
        return self.health in NEEDS_ATTENTION


def instances_text(instances: Iterable[int]) -> str:
    """`instance 3`, `instances 0-2, 7`."""
    numbers = sorted(set(instances))
    runs: list[str] = []
    start = previous = None
    for number in [*numbers, None]:
        if number is not None and previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            runs.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    return ("instance " if len(numbers) == 1 else "instances ") + ", ".join(runs)


def job_health(
    spec: JobSpec | None,
    tasks: Sequence[ScheduledTask],
    latest_update: JobUpdate | None = None,
    next_cron_ms: int | None = None,
    never: Callable[[str], str | None] = lambda _task_id: None,
) -> JobHealth:
    """`tasks` are all the job's tasks the scheduler remembers; `never(task_id)` says why a
    pending task could never be placed, if it could not."""
    active = [task for task in tasks if task.state in ACTIVE_STATES]
    by_id = {task.task_id: task for task in tasks}
    throttled = [task for task in active if task.state is TaskState.THROTTLED]
    if throttled:
        first = min(throttled, key=lambda task: task.instance)
        ancestor = by_id.get(first.ancestor_id or "")
        last = "" if ancestor is None else f"; its last run: {_last_words(ancestor)}"
        return JobHealth(
            health=Health.CRASH_LOOPING,
            reason=f"{instances_text(t.instance for t in throttled)} held back for restarting "
            f"too often{last}",
        )
    unplaceable = {
        task.instance: why
        for task in active
        if task.state is TaskState.PENDING and (why := never(task.task_id)) is not None
    }
    if unplaceable:
        why = unplaceable[min(unplaceable)]
        return JobHealth(
            health=Health.CANNOT_BE_PLACED,
            reason=f"{instances_text(unplaceable)} cannot be placed on any agent: {why}",
        )
    if latest_update is not None and latest_update.status in FAILED_UPDATES:
        message = latest_update.progress.message
        return JobHealth(
            health=Health.UPDATE_FAILED,
            reason=f"update {latest_update.update_id[:8]} "
            f"{latest_update.status.name.lower().replace('_', ' ')}"
            + (f": {message}" if message else ""),
        )
    if active:
        return _active_health(active)
    if next_cron_ms is not None:
        return JobHealth(health=Health.SCHEDULED, reason="a cron job between runs")
    return _ended_health(spec, tasks)


def _active_health(active: list[ScheduledTask]) -> JobHealth:
    running = sum(task.state is TaskState.RUNNING for task in active)
    if running == len(active):
        return JobHealth(health=Health.HEALTHY, reason=f"{_count(running)} running")
    waiting: dict[TaskState, list[int]] = {}
    for task in active:
        if task.state is not TaskState.RUNNING:
            waiting.setdefault(task.state, []).append(task.instance)
    states = ", ".join(
        f"{instances_text(instances)} {state.name}"
        for state, instances in sorted(waiting.items(), key=lambda item: min(item[1]))
    )
    return JobHealth(
        health=Health.DEGRADED, reason=f"{running} of {_count(len(active))} running; {states}"
    )


def _ended_health(spec: JobSpec | None, tasks: Sequence[ScheduledTask]) -> JobHealth:
    last: dict[int, ScheduledTask] = {}
    for task in tasks:
        known = last.get(task.instance)
        if known is None or task.last_event_ms >= known.last_event_ms:
            last[task.instance] = task
    failed = [task for task in last.values() if task.state in FAILED_STATES]
    if failed:
        first = min(failed, key=lambda task: task.instance)
        return JobHealth(
            health=Health.FAILED,
            reason=f"{instances_text(t.instance for t in failed)} ended {first.state.name}: "
            f"{_last_words(first)}",
        )
    if spec is not None and spec.service and spec.instances:
        return JobHealth(health=Health.DEGRADED, reason=f"none of {_count(spec.instances)} running")
    killed = sum(task.state is TaskState.KILLED for task in last.values())
    return JobHealth(
        health=Health.FINISHED,
        reason=f"{_count(len(last))} ended" + (f", {killed} killed" if killed else ""),
    )


def _count(instances: int) -> str:
    return f"{instances} instance{'s' if instances != 1 else ''}"


def _last_words(task: ScheduledTask) -> str:
    """What the last event of a task said, or its state."""
    return last_message(task.events) or task.state.name
