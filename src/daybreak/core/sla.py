"""Whether a task may be taken down without breaking its job's SLA (Aurora's `SlaManager`).

Rules this module owns, as Aurora's scheduler applied them:

- A job's policy is its own `sla_policy`, or else the default the operator gave (a percentage
  of instances up for a duration).
- A task is *up* if it is RUNNING and entered RUNNING more than the policy's duration ago. A
  task may go if the job's other up tasks still meet the policy, counted against all of the
  job's active tasks.
- A policy that would never let one instance go (`CountSlaPolicy(count=3)` on three
  instances, 95 % of ten) is relaxed to let exactly one go at a time.
- Jobs that are not production (unless the scheduler is told to check them too), and jobs with
  fewer active instances than the scheduler's minimum (20 by default), are not checked.
- Once a task is let go, it no longer counts as up for the next task of the same job in the
  same pass: one pass never takes more than the policy allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from daybreak.errors import InvalidParameterError
from daybreak.model.agent import DrainTerms
from daybreak.model.describe import sla_policy_text
from daybreak.model.jobspec import (
    CountSlaPolicy,
    JobKey,
    JobSpec,
    PercentageSlaPolicy,
    SlaPolicy,
)
from daybreak.model.task import ScheduledTask, running_since_ms
from daybreak.model.tiers import tier_of
from daybreak.model.units import duration_text

CountingPolicy = CountSlaPolicy | PercentageSlaPolicy
MAX_DRAIN_SECS = 366 * 24 * 3600


@dataclass(frozen=True, slots=True)
class SlaRules:
    """The scheduler's flags: `-min_required_instances_for_sla_check` and
    `-sla_aware_kill_non_prod`."""

    min_instances: int = 20
    check_non_production: bool = False


def check_terms(terms: DrainTerms) -> None:
    if not 0 < terms.percentage <= 100:
        raise InvalidParameterError(
            f"drain percentage {terms.percentage} must be above 0 and at most 100"
        )
    for name, seconds in (("duration", terms.duration_secs),
                          ("force-after", terms.force_after_secs)):  # fmt: skip
        if not 0 <= seconds <= MAX_DRAIN_SECS:
            raise InvalidParameterError(
                f"drain {name} {seconds} s must be between 0 and {MAX_DRAIN_SECS} (a year)"
            )


def policy_for(spec: JobSpec, terms: DrainTerms) -> SlaPolicy:
    if spec.sla_policy is not None:
        return spec.sla_policy
    return PercentageSlaPolicy(percentage=terms.percentage, duration_secs=terms.duration_secs)


def needed_up(policy: CountingPolicy, total: int) -> int:
    """How many of the job's `total` active instances must stay up, relaxed so that one may
    always go."""
    if isinstance(policy, CountSlaPolicy):
        needed = policy.count
    else:
        # Aurora compares `up / total * 100 >= percentage`; as a count, allowing for the
        # rounding of the division.
        needed = math.ceil(total * policy.percentage / 100 - 1e-9)
    return max(0, min(needed, total - 1))


class SlaBudget:
    """What one pass may take down, job by job. Built lazily: a pass over a draining host
    reads only the jobs that have tasks there."""

    def __init__(
        self,
        rules: SlaRules,
        active_tasks: Callable[[JobKey], Iterable[ScheduledTask]],
        now: int,
    ) -> None:
        self.rules = rules
        self.active_tasks = active_tasks
        self.now = now
        self._up: dict[tuple[JobKey, int], set[str]] = {}
        self._total: dict[JobKey, int] = {}
        self._taken: dict[JobKey, set[str]] = {}

    def take(self, task: ScheduledTask, terms: DrainTerms) -> str | None:
        """None if `task` may go now (it then counts as down), else why it must wait.
        `terms` give the policy of a job that has none."""
        policy = policy_for(task.spec, terms)
        if not isinstance(policy, CountingPolicy):
            return None  # a coordinator is asked by the shell, not here
        key = task.job
        total = self._total.get(key)
        if total is None:
            total = self._total[key] = sum(1 for _ in self.active_tasks(key))
        if self._skipped(task.spec, total):
            return None
        taken = self._taken.setdefault(key, set())
        others = len(self._up_tasks(key, policy.duration_secs) - taken - {task.task_id})
        needed = needed_up(policy, total)
        if others >= needed:
            taken.add(task.task_id)
            return None
        whose = "its" if task.spec.sla_policy is not None else "the drain's default"
        return (
            f"job {key} would have {others} of {total} instances up "
            f"{duration_text(policy.duration_secs)} or more without it; {whose} "
            f"policy ({sla_policy_text(policy)}) needs {needed}"
        )

    def _skipped(self, spec: JobSpec, total: int) -> bool:
        if not (tier_of(spec).production or self.rules.check_non_production):
            return True
        return total < self.rules.min_instances

    def _up_tasks(self, key: JobKey, duration_secs: int) -> set[str]:
        up = self._up.get((key, duration_secs))
        if up is None:
            limit = self.now - duration_secs * 1000
            up = self._up[(key, duration_secs)] = {
                task.task_id
                for task in self.active_tasks(key)
                if (since := running_since_ms(task)) is not None and since < limit
            }
        return up
