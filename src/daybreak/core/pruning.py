"""Task history pruning: which finished runs of a job to forget, as Aurora's pruner did.

A terminal task is kept at least `history_min_retention_ms` after it ended and forgotten after
`history_prune_ms`; beyond `history_max_per_job` terminal tasks in one job, the oldest go first,
but never one younger than the minimum retention.
"""

from __future__ import annotations

from collections.abc import Iterable

from daybreak.core.settings import Settings
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TERMINAL_STATES


def _ended(job_tasks: Iterable[ScheduledTask]) -> list[ScheduledTask]:
    return sorted(
        (task for task in job_tasks if task.state in TERMINAL_STATES),
        key=lambda task: (task.last_event_ms, task.task_id),
    )


def next_prune_ms(job_tasks: Iterable[ScheduledTask], settings: Settings) -> int | None:
    """The earliest time `prunable` could name one of these tasks, as long as no other task
    of the job ends meanwhile (one that does adds to the excess: ask again); None if none
    has ended."""
    ended = _ended(job_tasks)
    excess = max(0, len(ended) - settings.history_max_per_job)
    times = [
        task.last_event_ms
        + (settings.history_min_retention_ms if position < excess else settings.history_prune_ms)
        for position, task in enumerate(ended)
    ]
    return min(times, default=None)


def prunable(job_tasks: Iterable[ScheduledTask], now: int, settings: Settings) -> list[str]:
    ended = _ended(job_tasks)
    excess = max(0, len(ended) - settings.history_max_per_job)
    doomed: list[str] = []
    for position, task in enumerate(ended):
        age = now - task.last_event_ms
        if age < settings.history_min_retention_ms:
            break  # sorted by end: every later one is younger still
        if position < excess or age >= settings.history_prune_ms:
            doomed.append(task.task_id)
    return doomed
