"""Whether a task is healthy, from the results of its health checks: Aurora's rules, pure.

The rules, as Aurora's executor applied them (executor/common/health_checker.py):
- A check runs every `interval_secs`, the first one as soon as the task starts.
- Until the task is healthy, failures of the first `ceil(initial_interval_secs /
  interval_secs)` attempts are forgiven: the service is still warming up.
- The task becomes healthy (RUNNING) after `min_consecutive_successes` successes in a row.
- It must become healthy within `ceil(initial / interval) + max_consecutive_failures +
  min_consecutive_successes` attempts: it fails as soon as the attempts left cannot add up
  to the successes still needed, or when its failures in a row pass the limit.
- Once healthy, more than `max_consecutive_failures` failures in a row make it unhealthy.
- A `.healthchecksnooze` file in the sandbox turns checks off while it exists; a snoozed
  check counts as a success.

The tracker does no I/O and keeps no clock: the agent runs the checks when `next_check_ms`
says and hands each result to `record`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from daybreak.model.jobspec import HealthCheck
from daybreak.model.units import SECOND_MS

NOT_IN_TIME = "Not enough successful health checks in time."


class Health(StrEnum):
    WARMING_UP = "WARMING_UP"
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"


@dataclass
class HealthTracker:
    config: HealthCheck
    started_ms: int
    health: Health = Health.WARMING_UP
    # Why the task is unhealthy, for its status message.
    reason: str | None = None
    attempts: int = 0
    consecutive_failures: int = 0
    consecutive_successes: int = 0

    @property
    def forgiven_attempts(self) -> int:
        interval = self.config.interval_secs
        if interval <= 0:
            return 0
        return math.ceil(self.config.initial_interval_secs / interval)

    @property
    def max_attempts_to_healthy(self) -> int:
        return (
            self.forgiven_attempts
            + self.config.max_consecutive_failures
            + self.config.min_consecutive_successes
        )

    def next_check_ms(self) -> int | None:
        """When the next check is due; None once the task is unhealthy (checks are over)."""
        if self.health is Health.UNHEALTHY:
            return None
        return self.started_ms + round(self.attempts * self.config.interval_secs * SECOND_MS)

    def record(self, healthy: bool, reason: str | None = None) -> Health:
        """Count one check's result; returns the task's health afterwards."""
        if self.health is Health.UNHEALTHY:
            return self.health
        self.attempts += 1
        if healthy:
            self._succeeded()
        else:
            self._failed(reason or "Health check failed")
        return self.health

    def _succeeded(self) -> None:
        self.consecutive_failures = 0
        self.consecutive_successes += 1
        if self.consecutive_successes >= self.config.min_consecutive_successes:
            self.health = Health.HEALTHY

    def _failed(self, reason: str) -> None:
        self.consecutive_successes = 0
        if self.health is Health.WARMING_UP:
            if self.attempts <= self.forgiven_attempts:
                return
            attempts_left = self.max_attempts_to_healthy - self.attempts
            if attempts_left < self.config.min_consecutive_successes:
                self._unhealthy(f"{NOT_IN_TIME} Last check: {reason}")
                return
        self.consecutive_failures += 1
        if self.consecutive_failures > self.config.max_consecutive_failures:
            never_healthy = self.health is Health.WARMING_UP
            self._unhealthy(f"{NOT_IN_TIME} Last check: {reason}" if never_healthy else reason)

    def _unhealthy(self, reason: str) -> None:
        self.health = Health.UNHEALTHY
        self.reason = reason
