"""The scheduler's tunables that the core's decisions depend on, with Aurora's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from daybreak.core.placement import Scoring
from daybreak.core.sla import SlaRules
from daybreak.core.throttle import FlappingPolicy
from daybreak.model.units import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from daybreak.model.validate import ENVIRONMENTS, MAX_INSTANCES


@dataclass(frozen=True, slots=True)
class Settings:
    flapping: FlappingPolicy = field(default_factory=FlappingPolicy)
    # ASSIGNED and the being-killed states must end within this, or the task is LOST.
    transient_timeout_ms: int = 5 * MINUTE_MS
    scoring: Scoring = Scoring.SPREAD
    # A task must have been pending this long before it may preempt others.
    preemption_delay_ms: int = 3 * MINUTE_MS
    # How long an agent freed by preemption is held for the task it was freed for.
    reservation_ms: int = 3 * MINUTE_MS
    # Terminal tasks: kept at least `history_min_retention_ms`, at most `history_prune_ms`,
    # and no more than `history_max_per_job` per job.
    history_min_retention_ms: int = HOUR_MS
    history_prune_ms: int = 2 * DAY_MS
    history_max_per_job: int = 100
    kill_retry_ms: int = 15 * SECOND_MS
    max_instances_per_job: int = MAX_INSTANCES
    allowed_job_environments: str = ENVIRONMENTS  # a regular expression
    # Placements a scheduling round makes at most; the next round follows once this one is
    # carried out (see `daybreak.core.scheduling`).
    placements_per_round: int = 2_000
    # Cron: the time zone schedules are read in; how late a trigger missed while no
    # scheduler led may still run; Aurora's backoff while KILL_EXISTING waits for the previous
    # run to go; how many runs each cron job remembers.
    cron_zone: tzinfo = UTC
    cron_start_deadline_ms: int = 10 * MINUTE_MS
    cron_start_initial_backoff_ms: int = 5 * SECOND_MS
    cron_start_max_backoff_ms: int = MINUTE_MS
    cron_runs_kept: int = 10
    # Which jobs a drain checks against their SLA policy; how soon a coordinator that said
    # no is asked again (Aurora's -host_maintenance_polling_interval).
    sla_rules: SlaRules = field(default_factory=SlaRules)
    coordinator_retry_ms: int = MINUTE_MS
