"""Tiers: whether a job's tasks may be preempted, and whether they count as production.

Aurora's default tier file: `preferred` (neither preemptible nor revocable: production),
`preemptible`, and `revocable`; a job without a tier gets `preferred` when it says
`production=True` and the default tier (`preemptible`) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from daybreak.errors import InvalidParameterError
from daybreak.model.jobspec import JobSpec


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    preemptible: bool
    revocable: bool

    @property
    def production(self) -> bool:
        return not (self.preemptible or self.revocable)


PREFERRED = Tier("preferred", preemptible=False, revocable=False)
PREEMPTIBLE = Tier("preemptible", preemptible=True, revocable=False)
REVOCABLE = Tier("revocable", preemptible=True, revocable=True)
TIERS = {tier.name: tier for tier in (PREFERRED, PREEMPTIBLE, REVOCABLE)}
DEFAULT_TIER = PREEMPTIBLE


class UnknownTierError(InvalidParameterError):
    def __init__(self, tier: str) -> None:
        super().__init__(f"unknown tier {tier!r} in the job's config; tiers: {', '.join(TIERS)}")


def check_tier(spec: JobSpec) -> None:
    if spec.tier is not None and spec.tier not in TIERS:
        raise UnknownTierError(spec.tier)


def tier_of(spec: JobSpec) -> Tier:
    if spec.tier is not None:
        return TIERS.get(spec.tier, DEFAULT_TIER)
    return PREFERRED if spec.production else DEFAULT_TIER


def is_dedicated(spec: JobSpec) -> bool:
    return any(constraint.attribute == "dedicated" for constraint in spec.constraints)


def may_preempt(candidate: JobSpec, victim: JobSpec) -> bool:
    """Aurora's victim rule: a production task may preempt a preemptible (or revocable) one; a
    task may preempt one of the same preemptibility only in its own role, at a lower priority."""
    mine, theirs = tier_of(candidate), tier_of(victim)
    if not mine.preemptible and theirs.preemptible:
        return True
    if mine.preemptible != theirs.preemptible:
        return False
    return candidate.key.role == victim.key.role and candidate.priority > victim.priority
