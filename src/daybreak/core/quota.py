"""Quota: how much production work each role may run.

Only production (preferred tier) tasks that are not on dedicated agents count, as in Aurora.
A role without a quota may run no production work. Checked when a job is created or grows:
the whole job as it would be, against the role's use by its other jobs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from daybreak.core.tiers import is_dedicated, tier_of
from daybreak.errors import DaybreakError
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES

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


def consumption(
    tasks: Iterable[ScheduledTask], role: str, *, excluding: JobKey | None = None
) -> Aggregate:
    """What the role's active production tasks use, leaving out one job's (the one judged)."""
    total = Aggregate()
    for task in tasks:
        if (
            task.job.role == role
            and task.job != excluding
            and task.state in ACTIVE_STATES
            and counts_against_quota(task.spec)
        ):
            total += per_task(task.spec)
    return total


class QuotaExceededError(DaybreakError):
    """Aurora answered INVALID_REQUEST; the client exits as for any refused command."""

    def __init__(self, role: str, requested: Aggregate, used: Aggregate, quota: Aggregate) -> None:
        self.role, self.requested, self.used, self.quota = role, requested, used, quota
        over = [
            f"{name} requested {getattr(requested, name):g}, used {getattr(used, name):g}, "
            f"quota {getattr(quota, name):g} (exceeded by "
            f"{getattr(requested, name) + getattr(used, name) - getattr(quota, name):g})"
            for name in QUOTA_RESOURCES
            if getattr(requested, name) + getattr(used, name) > getattr(quota, name)
        ]
        super().__init__(f"Insufficient resource quota for role {role}: " + "; ".join(over))


def check_quota(spec: JobSpec, instances: int, used: Aggregate, quota: Aggregate | None) -> None:
    """Raise QuotaExceededError if `instances` tasks of `spec` on top of `used` exceed `quota`."""
    if not counts_against_quota(spec):
        return
    requested = per_task(spec).times(instances)
    limit = quota or Aggregate()
    if any(getattr(requested, n) + getattr(used, n) > getattr(limit, n) for n in QUOTA_RESOURCES):
        raise QuotaExceededError(spec.key.role, requested, used, limit)
