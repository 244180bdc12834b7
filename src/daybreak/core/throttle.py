"""The flapping penalty: a task that keeps dying soon after starting waits before it retries.

Aurora's rule (RescheduleCalculator): a run *flapped* if nobody interrupted it (no KILLING,
RESTARTING or DRAINING in its history) and it ended less than `threshold` after it started.
Here a run whose agent went silent (PARTITIONED) was interrupted too: losing a machine is not
the task's failure, and its replacement should start elsewhere at once.
Aurora measured from the last *active* event, and PREEMPTING and PARTITIONED are active
states, so a task that ran for days and then lost its agent counted as flapping; here the run
is measured from when it last went to ASSIGNED, STARTING or RUNNING.

When a task is rescheduled, walk back along its ancestors while they flapped; each
flapped ancestor doubles the penalty, from `initial` up to `maximum`. A penalty above zero
sends the new task to THROTTLED instead of PENDING until it has waited the penalty out.

Aurora randomised each doubling; here the spread comes from the task id, so the same history
always gives the same penalty (the core has no unseeded randomness) while tasks that failed
together still do not all come back in the same second.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import (
    BEING_KILLED_STATES,
    PLACED_STATES,
    TERMINAL_STATES,
    TaskState,
)
from daybreak.model.units import MINUTE_MS, SECOND_MS

# A user or operator stopped the run, or its agent went away: the run did not fail on its own.
# Preemption is not an excuse, as in Aurora.
INTERRUPTIONS = (BEING_KILLED_STATES - {TaskState.PREEMPTING}) | {TaskState.PARTITIONED}


@dataclass(frozen=True)
class FlappingPolicy:
    threshold_ms: int = 5 * MINUTE_MS
    initial_ms: int = 30 * SECOND_MS
    maximum_ms: int = 5 * MINUTE_MS
    jitter: float = 0.25  # each step may add up to this fraction of itself


def flapped(task: ScheduledTask, policy: FlappingPolicy) -> bool:
    """Did this (terminal) run end soon after it started, with nobody killing it?"""
    if not task.events or task.events[-1].state not in TERMINAL_STATES:
        return False
    if any(event.state in INTERRUPTIONS for event in task.events):
        return False
    ended = task.events[-1].timestamp_ms
    started = [event.timestamp_ms for event in task.events[:-1] if event.state in PLACED_STATES]
    return bool(started) and ended - started[-1] < policy.threshold_ms


def _spread(task_id: str, step: int) -> float:
    """A fraction in [0, 1) fixed by the task id and step: deterministic jitter."""
    return (zlib.crc32(f"{task_id}/{step}".encode()) & 0xFFFF) / 0x10000


def flapping_penalty_ms(
    task: ScheduledTask,
    find: Callable[[str], ScheduledTask | None],
    policy: FlappingPolicy = FlappingPolicy(),
) -> int:
    """How long the new `task` must wait, judged by the runs it replaces (found with `find`)."""
    penalty = 0
    ancestor_id = task.ancestor_id
    step = 0
    while ancestor_id is not None and penalty < policy.maximum_ms:
        ancestor = find(ancestor_id)
        if ancestor is None or not flapped(ancestor, policy):
            break
        grown = penalty * 2 if penalty else policy.initial_ms
        grown += int(grown * policy.jitter * _spread(task.task_id, step))
        penalty = min(policy.maximum_ms, grown)
        step += 1
        ancestor_id = ancestor.ancestor_id
    return penalty
