"""Preemption: finding an agent where killing a few tasks makes room for a pending one.

Who may be a victim is Aurora's rule (`tiers.may_preempt`). On each agent the eligible victims
are taken largest first (as Aurora did), and running sums of what they free are kept for all
agents at once. The fewest victims win: one victim is tried on every agent at once, then two,
and so on; the first count that makes room somewhere decides, and of the agents where it does,
the earliest registered. Its victim set is then made irreducible by dropping, smallest first,
any victim the task does not need.

Victim tables are built with numpy per kind of candidate (preemptible or not, role, priority)
and reused for every decision in a round; an agent chosen once is not offered again that round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from daybreak.core.fleet import RESOURCES, Fleet, Holding, Vector, demand
from daybreak.core.placement import Mask, allowed_agents
from daybreak.model.jobspec import JobSpec
from daybreak.model.tiers import may_preempt, tier_of

MAX_VICTIMS_PER_AGENT = 64  # the largest ones; beyond that an agent is not worth emptying
Indices = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Slot:
    row: int
    victims: tuple[str, ...]


class VictimTable:
    """Per agent, the victims one kind of candidate may take (largest first), and their running
    sums laid out by count: `sums[k, a]` is what the first k victims on agent a free (padded
    with the total), so "do k victims suffice anywhere?" reads one contiguous slice."""

    def __init__(
        self, agents: int, index: Indices, rows: Indices, amounts: Vector, ranks: Indices
    ) -> None:
        """`index[i]` names victim i (its place in the Preemptor's list); `rows`, `amounts` and
        `ranks` (priorities) describe it."""
        # Primary key last: by agent, then largest first (cpu, ram, disk, gpu, ports), then
        # lower priority first.
        order = np.lexsort((ranks, *(-amounts[:, c] for c in reversed(range(len(RESOURCES)))),
                            rows))  # fmt: skip
        rows, amounts = rows[order], amounts[order]
        self.order = index[order]
        self.starts = np.searchsorted(rows, np.arange(agents))
        position = np.arange(len(rows)) - self.starts[rows]
        kept = position < MAX_VICTIMS_PER_AGENT
        self.depth = int(position[kept].max()) + 1 if kept.any() else 0
        totals = np.cumsum(amounts, axis=0)
        before = np.vstack([np.zeros(len(RESOURCES)), totals])[self.starts[rows]]
        self.sums = np.zeros((self.depth + 1, agents, len(RESOURCES)))
        self.sums[position[kept] + 1, rows[kept]] = (totals - before)[kept]
        np.maximum.accumulate(self.sums, axis=0, out=self.sums)  # pad with each agent's total

    def victims(self, row: int, count: int) -> Indices:
        """The indices of the first `count` victims on `row`."""
        start = int(self.starts[row])
        return self.order[start : start + count]


class Preemptor:
    def __init__(self, fleet: Fleet, victims: Iterable[Holding]) -> None:
        self.fleet = fleet
        self.victims = list(victims)
        specs: dict[int, int] = {}
        self.specs: list[JobSpec] = []
        kinds = np.empty(len(self.victims), dtype=np.int64)
        for index, victim in enumerate(self.victims):
            kind = specs.get(id(victim.spec))
            if kind is None:
                kind = specs[id(victim.spec)] = len(self.specs)
                self.specs.append(victim.spec)
            kinds[index] = kind
        self.kinds = kinds
        self.rows = np.fromiter((v.row for v in self.victims), np.int64, len(self.victims))
        self.amounts = (
            np.array([v.amount for v in self.victims])
            if self.victims
            else np.zeros((0, len(RESOURCES)))
        )
        self.ranks = np.array([spec.priority for spec in self.specs], dtype=np.int64)[kinds]
        self.taken = np.zeros(len(fleet), dtype=bool)
        self.tables: dict[tuple[bool, str, int], VictimTable] = {}

    def _table(self, spec: JobSpec) -> VictimTable:
        kind = (tier_of(spec).preemptible, spec.key.role, spec.priority)
        table = self.tables.get(kind)
        if table is None:
            eligible_kinds = np.array([may_preempt(spec, other) for other in self.specs], bool)
            eligible = eligible_kinds[self.kinds] if len(self.victims) else np.zeros(0, bool)
            picked = np.nonzero(eligible)[0]
            table = self.tables[kind] = VictimTable(
                len(self.fleet), picked, self.rows[picked], self.amounts[picked],
                self.ranks[picked],
            )  # fmt: skip
        return table

    def find_slot(
        self, spec: JobSpec, job_rows: Sequence[int], blocked: Mask | None = None
    ) -> Slot | None:
        """The agent and the fewest victims that make room for one task of `spec`."""
        allowed = allowed_agents(self.fleet, spec, job_rows, blocked) & ~self.taken
        if not allowed.any():
            return None
        request = demand(spec.task.resources, len(spec.ports), spec.container)
        free = self.fleet.free()
        need = request - free
        allowed &= ~(need <= 0).all(axis=1)  # room without victims: not a preemption's job
        table = self._table(spec)
        for count in range(1, table.depth + 1):
            works = allowed & (table.sums[count] >= need).all(axis=1)
            if works.any():
                row = int(works.argmax())
                chosen = [self.victims[i] for i in table.victims(row, count)]
                chosen = _irreducible(chosen, free[row], request)
                self.taken[row] = True
                return Slot(row, tuple(victim.task_id for victim in chosen))
        return None


def _irreducible(chosen: list[Holding], free: Vector, request: Vector) -> list[Holding]:
    """Drop, smallest first, any victim whose room the task does not need."""
    kept = list(chosen)
    for victim in reversed(chosen):
        others = [v.amount for v in kept if v is not victim]
        freed = np.sum(others, axis=0) if others else np.zeros(len(RESOURCES))
        if (free + freed >= request).all():
            kept.remove(victim)
    return kept
