"""One scheduling round: place what can be placed, preempt for what cannot.

Order of a round:
1. tasks an agent was freed for by preemption go there first, and only there;
2. the other pending tasks, group by group (a group: the pending instances of one job with one
   config), production before the rest, higher priority first, then longest waiting; agents
   reserved for someone else are skipped;
3. tasks still pending after `preemption_delay_ms` look for victims; the victims go to
   PREEMPTING and their agent is reserved for the task.

A round may be limited to a number of placements (as Aurora's `max_tasks_per_schedule_attempt`):
a job of 50,000 instances is then placed over many short rounds, each carried out (written,
launched) before the next, so its first launches leave at once and the API and the agents are
heard between rounds instead of after one long one.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import numpy as np

from daybreak.core.cluster import Cluster, Reservation
from daybreak.core.effects import Effect
from daybreak.core.fleet import Holding
from daybreak.core.placement import Mask, place_group
from daybreak.core.preemption import Preemptor
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import PLACED_STATES, TaskState
from daybreak.model.tiers import tier_of

S = TaskState


def _groups(pending: Iterable[ScheduledTask]) -> list[list[ScheduledTask]]:
    """Pending tasks with equal configs, as Aurora's task groups. Equal, not identical: tasks
    read back from a store hold equal copies. Each distinct spec object is encoded once."""
    by_config: dict[bytes, list[ScheduledTask]] = {}
    encoded: dict[int, bytes] = {}
    for task in pending:
        key = encoded.get(id(task.spec))
        if key is None:
            key = encoded[id(task.spec)] = msgspec.json.encode(task.spec)
        by_config.setdefault(key, []).append(task)
    groups = list(by_config.values())  # in order of first arrival
    groups.sort(key=lambda g: (not tier_of(g[0].spec).production, -g[0].spec.priority))
    return groups


def _place_reserved(cluster: Cluster, now: int) -> None:
    fleet = cluster.fleet
    for row, reservation in sorted(cluster.reservations.items()):
        task = cluster.tasks.get(reservation.task_id)
        if task is None or task.state is not S.PENDING:
            del cluster.reservations[row]
            continue
        elsewhere = np.ones(len(fleet), dtype=bool)
        elsewhere[row] = False
        placed = place_group(
            fleet, task.spec, 1, cluster.job_rows(task.job), blocked=elsewhere,
            scoring=cluster.settings.scoring,
        )  # fmt: skip
        if placed.assigned:
            cluster.assign(task.task_id, *placed.assigned[0], now)
            del cluster.reservations[row]


def _reserved_mask(cluster: Cluster) -> Mask:
    mask = np.zeros(len(cluster.fleet), dtype=bool)
    mask[list(cluster.reservations)] = True
    return mask


def _victims(cluster: Cluster) -> list[Holding]:
    """What tasks that may be preempted hold (those being killed already are on their way)."""
    tasks = cluster.tasks
    return [held for task_id, held in cluster.holdings.items()
            if tasks[task_id].state in PLACED_STATES]  # fmt: skip


def schedule(cluster: Cluster, now: int) -> list[Effect]:
    """One round, placing all it can."""
    effects, _deferred = schedule_round(cluster, now)
    return effects


def schedule_round(
    cluster: Cluster, now: int, limit: int | None = None
) -> tuple[list[Effect], bool]:
    """One round of at most `limit` placements. Returns its effects, and whether tasks that
    might have been placed were left for the next round by the limit."""
    _place_reserved(cluster, now)
    fleet, settings = cluster.fleet, cluster.settings
    blocked = _reserved_mask(cluster)
    waiting = {reservation.task_id for reservation in cluster.reservations.values()}
    unplaced: list[list[ScheduledTask]] = []
    budget = limit
    deferred = False
    for group in _groups(t for t in cluster.in_state(S.PENDING) if t.task_id not in waiting):
        if budget is not None and budget <= 0:
            deferred = True
            break
        spec = group[0].spec
        wanted = len(group) if budget is None else min(len(group), budget)
        placed = place_group(
            fleet, spec, wanted, cluster.job_rows(spec.key), blocked=blocked,
            scoring=settings.scoring,
        )  # fmt: skip
        for task, (row, ports) in zip(group, placed.assigned, strict=False):
            cluster.assign(task.task_id, row, ports, now)
        if budget is not None:
            budget -= len(placed.assigned)
        if len(placed.assigned) < wanted:
            left = group[len(placed.assigned) :]  # no room for them: they may preempt
            if placed.reason is not None:
                for task in left:
                    cluster.pending_reasons[task.task_id] = placed.reason
            unplaced.append(left)
        elif wanted < len(group):
            deferred = True
    _preempt(cluster, unplaced, blocked, now)
    return cluster.drain_effects(), deferred


def _preempt(
    cluster: Cluster, unplaced: list[list[ScheduledTask]], blocked: Mask, now: int
) -> None:
    delay = cluster.settings.preemption_delay_ms
    preemptor: Preemptor | None = None
    for group in unplaced:
        job_rows = cluster.job_rows(group[0].job)
        for task in group:
            if now - task.last_event_ms < delay:
                break  # the group's later tasks have waited no longer
            if preemptor is None:
                preemptor = Preemptor(cluster.fleet, _victims(cluster))
            slot = preemptor.find_slot(task.spec, job_rows, blocked)
            if slot is None:
                break  # its twins would find nothing either
            for victim in slot.victims:
                message = f"Preempting in favor of {task.task_id}"
                cluster.change_state(victim, S.PREEMPTING, now, message)
            until = now + cluster.settings.reservation_ms
            cluster.reservations[slot.row] = Reservation(task.task_id, until)
            blocked[slot.row] = True
