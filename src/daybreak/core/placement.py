"""Placement: which agents may take a group of identical pending tasks, and which ones do.

A group is the pending instances of one job that share one config. The group is judged once
against every agent at once (numpy masks), then its instances are placed one after another,
each time on the best-scoring agent that still fits; only the chosen agent's row and, for limit
constraints, the agents sharing its attribute value are re-judged between instances.

The filters are Aurora's, in its order (the first one an agent fails is the reason it is
counted under): the agent is offline; it is dedicated and the task does not ask for it; it is
in maintenance (DRAINING or DRAINED); a value constraint; a limit constraint; it is reserved
for another task's preemption; then resources, where every short resource is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from daybreak.core.fleet import MISSING, RESOURCES, Fleet, Vector, demand
from daybreak.model.agent import CONTAINER_RUNTIME, MaintenanceMode
from daybreak.model.describe import size_mb
from daybreak.model.jobspec import JobSpec, LimitConstraint, ValueConstraint, image_reference
from daybreak.model.tiers import is_dedicated

Mask = npt.NDArray[np.bool_]
SCHEDULED_PENALTY = 10.0  # more than any spread score: agents due for maintenance go last
SCORED = slice(0, 3)  # cpu, ram and disk decide the score; gpus and ports only have to fit


class Scoring(StrEnum):
    SPREAD = "spread"  # the emptiest agent first: failures hit fewer tasks
    BINPACK = "binpack"  # the fullest agent that fits: keeps whole agents free for big tasks


@dataclass(frozen=True, slots=True)
class PendingReason:
    """Why tasks of a group found no agent, as counts of agents per reason; and, when no agent
    could ever take one (none it may use is big enough even empty), why not."""

    counts: tuple[tuple[str, int], ...]
    never: str | None = None
    # When it could fit but no agent it may use has the room now: its request next to the
    # most any such agent has free ("cpu 2 where the most free is 0.5").
    room: str | None = None

    def __str__(self) -> str:
        if not self.counts:
            return "no agents registered"
        counted = "; ".join(
            f"{what} on {count:,} agent{'s' if count != 1 else ''}" for what, count in self.counts
        )
        if self.never is not None:
            return f"cannot be placed on any agent: {self.never}; {counted}"
        return counted if self.room is None else f"{counted}; waiting for room: needs {self.room}"


@dataclass(slots=True)
class Placement:
    """What one pass over a group decided: (agent row, assigned ports) per placed instance."""

    assigned: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    reason: PendingReason | None = None


def _value_mask(fleet: Fleet, constraint: ValueConstraint) -> Mask:
    codes, table = fleet.codes(constraint.attribute)
    wanted = [table[value] for value in constraint.values if value in table]
    matches = np.isin(codes, wanted)
    return ~matches if constraint.negated else matches


def _limit_counts(
    fleet: Fleet, constraint: LimitConstraint, job_rows: Sequence[int]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Agent attribute codes, and the job's active tasks per attribute value."""
    codes, table = fleet.codes(constraint.attribute)
    present = codes[np.asarray(job_rows, dtype=np.int64)]
    # At least one slot, so that agents without the attribute can index it harmlessly.
    counts = np.bincount(present[present != MISSING], minlength=max(1, len(table)))
    return codes, counts


def _limit_mask(fleet: Fleet, constraint: LimitConstraint, job_rows: Sequence[int]) -> Mask:
    codes, counts = _limit_counts(fleet, constraint, job_rows)
    safe = np.where(codes == MISSING, 0, codes)
    under: Mask = (codes != MISSING) & (counts[safe] < constraint.limit)
    return under


def dedicated_mask(fleet: Fleet, spec: JobSpec) -> Mask:
    """Agents that would refuse the task for being dedicated to someone."""
    codes, _ = fleet.codes("dedicated")
    return np.zeros(len(fleet), dtype=bool) if is_dedicated(spec) else codes != MISSING


def _label(constraint: ValueConstraint | LimitConstraint) -> str:
    if isinstance(constraint, LimitConstraint):
        return f"limit {constraint.attribute}:{constraint.limit}"
    values = ",".join(constraint.values)
    return f"constraint {constraint.attribute}:{'!' if constraint.negated else ''}{values}"


def static_vetoes(fleet: Fleet, spec: JobSpec, job_rows: Sequence[int]) -> list[tuple[str, Mask]]:
    """Every non-resource filter as (reason, agents it vetoes), in Aurora's order."""
    vetoes = [
        ("agent offline", ~fleet.online),
        ("dedicated to others", dedicated_mask(fleet, spec)),
        ("maintenance", fleet.maintenance >= MaintenanceMode.DRAINING),
    ]
    if image_reference(spec.container) is not None:
        codes, _ = fleet.codes(CONTAINER_RUNTIME)
        vetoes.append(("no container runtime", codes == MISSING))
    values = [c for c in spec.constraints if isinstance(c, ValueConstraint)]
    limits = [c for c in spec.constraints if isinstance(c, LimitConstraint)]
    vetoes += [(_label(c), ~_value_mask(fleet, c)) for c in values]
    vetoes += [(_label(c), ~_limit_mask(fleet, c, job_rows)) for c in limits]
    return vetoes


def allowed_agents(
    fleet: Fleet, spec: JobSpec, job_rows: Sequence[int], blocked: Mask | None = None
) -> Mask:
    """Agents that pass every non-resource filter and are not `blocked`."""
    allowed = np.ones(len(fleet), dtype=bool)
    for _, vetoed in static_vetoes(fleet, spec, job_rows):
        allowed &= ~vetoed
    if blocked is not None:
        allowed &= ~blocked
    return allowed


def pending_reason(
    fleet: Fleet, spec: JobSpec, job_rows: Sequence[int], blocked: Mask | None = None
) -> PendingReason:
    """Why no agent takes one more instance of `spec` now, each agent counted once per filter
    class (resources: once per short resource)."""
    counted: list[tuple[str, int]] = []
    remaining = np.ones(len(fleet), dtype=bool)
    vetoes = static_vetoes(fleet, spec, job_rows)
    if blocked is not None:
        vetoes.append(("reserved for a preemption", blocked))
    for what, vetoed in vetoes:
        hit = remaining & vetoed
        if hit.any():
            counted.append((what, int(hit.sum())))
        remaining &= ~vetoed
    request = demand(spec.task.resources, len(spec.ports), spec.container)
    free = fleet.free()[remaining]
    short = free < request
    for column, name in enumerate(RESOURCES):
        count = int(short[:, column].sum())
        if count:
            counted.append((f"insufficient {name}", count))
    counted.sort(key=lambda item: -item[1])
    never = _never(fleet, spec, request)
    room = None if never is not None or not short.any() else _room(free, request)
    return PendingReason(tuple(counted), never, room)


def _room(free: Vector, request: Vector) -> str:
    """The request of each resource some agent lacks, next to the most any of them has free."""
    most = free.max(axis=0)
    return (
        ", ".join(
            f"{name} {_amount(name, request[column])} where the most free is "
            f"{_amount(name, most[column])}"
            for column, name in enumerate(RESOURCES)
            if request[column] > most[column]
        )
        or "all of its request on one agent at once"
    )


def _never(fleet: Fleet, spec: JobSpec, request: Vector) -> str | None:
    """Why no agent could ever take the task, if none could: those the job may use (its
    dedication and value constraints; being offline, drained or busy can change) are all too
    small even when empty."""
    if not len(fleet):
        return None
    usable = ~dedicated_mask(fleet, spec)
    for constraint in spec.constraints:
        if isinstance(constraint, ValueConstraint):
            usable &= _value_mask(fleet, constraint)
    if not usable.any():
        return "no agent matches its constraints"
    if image_reference(spec.container) is not None:
        usable &= fleet.codes(CONTAINER_RUNTIME)[0] != MISSING
        if not usable.any():
            return "it runs in an image, and no agent it may use has a container runtime"
    if ((fleet.capacity[usable] >= request).all(axis=1)).any():
        return None
    largest = fleet.capacity[usable].max(axis=0)
    short = [
        f"{name} {_amount(name, request[column])} where the largest agent has "
        f"{_amount(name, largest[column])}"
        for column, name in enumerate(RESOURCES)
        if request[column] > largest[column]
    ]
    return "needs " + "; ".join(short) if short else "no agent fits all of its request at once"


def _amount(name: str, value: float) -> str:
    return size_mb(value) if name in ("ram", "disk") else f"{value:g}"


def _scores(
    free_after: Vector, capacity: Vector, maintenance: npt.NDArray[np.int8], scoring: Scoring
) -> Vector:
    """Higher is better; works on all agents' rows or on one agent's."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(
            capacity[..., SCORED] > 0, free_after[..., SCORED] / capacity[..., SCORED], 0
        )
    total: Vector = share.sum(axis=-1)
    score: Vector = total if scoring is Scoring.SPREAD else -total
    score = score - SCHEDULED_PENALTY * (maintenance == MaintenanceMode.SCHEDULED)
    return score


def place_group(
    fleet: Fleet,
    spec: JobSpec,
    count: int,
    job_rows: Sequence[int],
    *,
    blocked: Mask | None = None,
    scoring: Scoring = Scoring.SPREAD,
) -> Placement:
    """Place up to `count` instances of `spec`, allocating on `fleet` as it goes.

    `job_rows` are the agent rows of the job's tasks already on agents (for limits); `blocked`
    marks agents this group may not use (reserved for someone else)."""
    result = Placement()
    request = demand(spec.task.resources, len(spec.ports), spec.container)
    allowed = allowed_agents(fleet, spec, job_rows, blocked)
    free_after = fleet.free() - request
    fits = (free_after >= 0).all(axis=1)
    score = _scores(free_after, fleet.capacity, fleet.maintenance, scoring)
    score[~(allowed & fits)] = -np.inf
    limits = [
        (c.limit, *_limit_counts(fleet, c, job_rows))
        for c in spec.constraints
        if isinstance(c, LimitConstraint)
    ]
    for _ in range(count if len(fleet) else 0):
        row = int(score.argmax())
        if score[row] == -np.inf:
            break
        result.assigned.append((row, fleet.allocate(row, request, spec.ports)))
        left = fleet.capacity[row] - fleet.used[row] - request
        if (left >= 0).all():
            score[row] = _scores(left, fleet.capacity[row], fleet.maintenance[row], scoring)
        else:
            score[row] = -np.inf
        for limit, codes, counts in limits:
            value = codes[row]
            counts[value] += 1
            if counts[value] >= limit:
                score[codes == value] = -np.inf
    if len(result.assigned) < count:
        rows = [*job_rows, *(row for row, _ in result.assigned)]
        result.reason = pending_reason(fleet, spec, rows, blocked)
    return result
