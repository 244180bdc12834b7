"""Quota: how much production work each role may run.

Only production (preferred tier) tasks that are not on dedicated agents count, as in Aurora.
A role without a quota may run no production work. Checked when a job is created or grows:
the whole job as it would be, against the role's use by its other jobs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from daybreak.errors import DaybreakError
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES
from daybreak.model.tiers import is_dedicated, tier_of

QUOTA_RESOURCES = ("cpu", "ram_mb", "disk_mb")


@dataclass(frozen=True, slots=True)
class Aggregate:
    cpu: float = 0.0
    ram_mb: float = 0.0
    disk_mb: float = 0.0

    def __add__(self, other: Aggregate) -> Aggregate:
        return Aggregate(*(getattr(self, n) + getattr(other, n) for n in QUOTA_RESOURCES))

    def __sub__(self, other: Aggregate) -> Aggregate:
        return Aggregate(*(getattr(self, n) - getattr(other, n) for n in QUOTA_RESOURCES))

    def times(self, factor: int) -> Aggregate:
        return Aggregate(*(getattr(self, n) * factor for n in QUOTA_RESOURCES))


def counts_against_quota(spec: JobSpec) -> bool:
    return tier_of(spec).production and not is_dedicated(spec)


def per_task(spec: JobSpec) -> Aggregate:
    resources = spec.task.resources
    return Aggregate(resources.cpu, resources.ram_mb, resources.disk_mb)


# One kind of task, as a tally counts it: (counts against quota, cpu, ram_mb, disk_mb).
_Kind = tuple[bool, float, float, float]


class QuotaUse:
    """What each role's active tasks hold, kept up to date as tasks change, so that a quota
    check or a quota page costs the role's jobs rather than a walk over every task. Kept as
    counts of tasks of each size, not as running sums: a sum of floats that goes up and down
    drifts, and a job that exactly fills its quota would be refused for it."""

    def __init__(self) -> None:
        self._by_role: dict[str, dict[JobKey, Counter[_Kind]]] = {}

    def change(self, old: ScheduledTask | None, new: ScheduledTask | None) -> None:
        """A task went from `old` to `new` (None: it did not exist, or no longer does)."""
        counted = old if old is not None and old.state in ACTIVE_STATES else None
        counts = new if new is not None and new.state in ACTIVE_STATES else None
        if counted is not None and counts is not None and counted.spec is counts.spec:
            return  # the same job and size: a move between active states changes no use
        if counted is not None:
            self._count(counted, -1)
        if counts is not None:
            self._count(counts, 1)

    def _count(self, task: ScheduledTask, step: int) -> None:
        key = task.job
        jobs = self._by_role.setdefault(key.role, {})
        kinds = jobs.get(key)
        if kinds is None:
            kinds = jobs[key] = Counter()
        resources = task.spec.task.resources
        kind = (counts_against_quota(task.spec), resources.cpu, resources.ram_mb,
                resources.disk_mb)  # fmt: skip
        kinds[kind] += step
        if not kinds[kind]:
            del kinds[kind]
            if not kinds:
                del jobs[key]
                if not jobs:
                    del self._by_role[key.role]

    def of_role(
        self, role: str, *, production: bool = True, excluding: JobKey | None = None
    ) -> Aggregate:
        """What the role's active tasks that count against quota (or, with `production`
        False, those that do not) use, leaving out one job's (the one judged)."""
        total = Aggregate()
        for key, kinds in self._by_role.get(role, {}).items():
            if key == excluding:
                continue
            for (counted, cpu, ram_mb, disk_mb), tasks in kinds.items():
                if counted is production:
                    total += Aggregate(cpu, ram_mb, disk_mb).times(tasks)
        return total


def _over(wanted: float, limit: float) -> bool:
    # 7 x 0.1 + 3 x 0.1 is 1.0000000000000002: a job that exactly fills the quota fits.
    return wanted > limit + 1e-9 * max(1.0, abs(limit))


class QuotaExceededError(DaybreakError):
    """Aurora answered INVALID_REQUEST; the client exits as for any refused command."""

    def __init__(self, role: str, requested: Aggregate, used: Aggregate, quota: Aggregate) -> None:
        self.role, self.requested, self.used, self.quota = role, requested, used, quota
        over = [
            f"{name} requested {getattr(requested, name):g}, used {getattr(used, name):g}, "
            f"quota {getattr(quota, name):g} (exceeded by "
            f"{getattr(requested, name) + getattr(used, name) - getattr(quota, name):g})"
            for name in QUOTA_RESOURCES
            if _over(getattr(requested, name) + getattr(used, name), getattr(quota, name))
        ]
        super().__init__(f"Insufficient resource quota for role {role}: " + "; ".join(over))


def check_quota(spec: JobSpec, instances: int, used: Aggregate, quota: Aggregate | None) -> None:
    """Raise QuotaExceededError if `instances` tasks of `spec` on top of `used` exceed `quota`."""
    if not counts_against_quota(spec):
        return
    requested = per_task(spec).times(instances)
    limit = quota or Aggregate()
    if any(_over(getattr(requested, n) + getattr(used, n), getattr(limit, n))
           for n in QUOTA_RESOURCES):  # fmt: skip
        raise QuotaExceededError(spec.key.role, requested, used, limit)
