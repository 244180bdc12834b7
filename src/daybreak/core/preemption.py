"""Preemption: finding an agent where killing a few tasks makes room for a pending one.

Who may be a victim is Aurora's rule (`tiers.may_preempt`). On each agent the eligible victims
are taken largest first (as Aurora did), and running sums of what they free are kept for all
agents at once, so one comparison tells, for every agent, how many victims it would take. The
agent needing the fewest wins (ties: the earliest registered); its victim set is then made
irreducible by dropping, smallest first, any victim the task does not need.

Victim tables are built per kind of candidate (preemptible or not, role, priority) and reused
for every decision in a round; an agent chosen once is not offered again in that round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from daybreak.core.fleet import RESOURCES, Fleet, Vector, demand
from daybreak.core.placement import Mask, static_vetoes
from daybreak.core.tiers import may_preempt, tier_of
from daybreak.model.jobspec import JobSpec

MAX_VICTIMS_PER_AGENT = 64  # the largest ones; beyond that an agent is not worth emptying


@dataclass(frozen=True, slots=True)
class Victim:
    task_id: str
    row: int
    amount: Vector
    spec: JobSpec


@dataclass(frozen=True, slots=True)
class Slot:
    row: int
    victims: tuple[str, ...]


def _largest_first(victim: Victim) -> tuple[float, ...]:
    return (*(-victim.amount), victim.spec.priority)


class VictimTable:
    """Per agent, the victims one kind of candidate may take, and running sums of them."""

    def __init__(self, agents: int, victims: Iterable[Victim]) -> None:
        self.by_row: list[list[Victim]] = [[] for _ in range(agents)]
        for victim in victims:
            self.by_row[victim.row].append(victim)
        for row_victims in self.by_row:
            row_victims.sort(key=_largest_first)
            del row_victims[MAX_VICTIMS_PER_AGENT:]
        depth = max((len(v) for v in self.by_row), default=0)
        # sums[a, k] = what the first k victims on agent a free; padded with the total.
        self.sums = np.zeros((agents, depth + 1, len(RESOURCES)))
        for row, row_victims in enumerate(self.by_row):
            if row_victims:
                running = np.cumsum([victim.amount for victim in row_victims], axis=0)
                self.sums[row, 1 : len(row_victims) + 1] = running
                self.sums[row, len(row_victims) + 1 :] = running[-1]


class Preemptor:
    def __init__(self, fleet: Fleet, victims: Iterable[Victim]) -> None:
        self.fleet = fleet
        self.victims = list(victims)
        self.taken = np.zeros(len(fleet), dtype=bool)
        self.tables: dict[tuple[bool, str, int], VictimTable] = {}

    def _table(self, spec: JobSpec) -> VictimTable:
        kind = (tier_of(spec).preemptible, spec.key.role, spec.priority)
        table = self.tables.get(kind)
        if table is None:
            eligible = (v for v in self.victims if may_preempt(spec, v.spec))
            table = self.tables[kind] = VictimTable(len(self.fleet), eligible)
        return table

    def find_slot(
        self, spec: JobSpec, job_rows: Sequence[int], blocked: Mask | None = None
    ) -> Slot | None:
        """The agent and the fewest victims that make room for one task of `spec`."""
        fleet = self.fleet
        allowed = ~self.taken
        for _, vetoed in static_vetoes(fleet, spec, job_rows):
            allowed &= ~vetoed
        if blocked is not None:
            allowed &= ~blocked
        if not allowed.any():
            return None
        request = demand(spec.task.resources, len(spec.ports))
        free = fleet.free()
        need = request - free
        table = self._table(spec)
        enough = np.asarray((table.sums >= need[:, None, :]).all(axis=2))
        fewest = enough.argmax(axis=1)
        feasible = allowed & enough.any(axis=1) & (fewest > 0)
        if not feasible.any():
            return None
        row = int(np.where(feasible, fewest, np.iinfo(np.int64).max).argmin())
        chosen = table.by_row[row][: int(fewest[row])]
        chosen = _irreducible(chosen, free[row], request)
        self.taken[row] = True
        return Slot(row, tuple(victim.task_id for victim in chosen))


def _irreducible(chosen: list[Victim], free: Vector, request: Vector) -> list[Victim]:
    """Drop, smallest first, any victim whose room the task does not need."""
    kept = list(chosen)
    for victim in reversed(chosen):
        others = [v.amount for v in kept if v is not victim]
        freed = np.sum(others, axis=0) if others else np.zeros(len(RESOURCES))
        if (free + freed >= request).all():
            kept.remove(victim)
    return kept
