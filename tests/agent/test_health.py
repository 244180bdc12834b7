"""Aurora's health rules, counted without a process or a clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daybreak.agent.executor.health import NOT_IN_TIME, Health, HealthTracker
from daybreak.model.jobspec import HealthCheck


def tracker(**fields: float) -> HealthTracker:
    return HealthTracker(HealthCheck(**fields), started_ms=1_000)  # type: ignore[arg-type]


def feed(health: HealthTracker, results: str) -> list[Health]:
    """Record a check per character: `+` healthy, `-` not."""
    return [health.record(result == "+", "boom") for result in results]


def test_the_defaults_forgive_two_failures_then_give_the_third_attempt_one_chance() -> None:
    # initial 15 s / interval 10 s: two attempts are forgiven; one success is needed.
    health = tracker()
    assert feed(health, "--") == [Health.WARMING_UP, Health.WARMING_UP]
    assert feed(health, "+") == [Health.HEALTHY]
    health = tracker()
    assert feed(health, "---")[-1] is Health.UNHEALTHY
    assert health.reason == f"{NOT_IN_TIME} Last check: boom"


def test_checks_are_due_every_interval_from_the_start() -> None:
    health = tracker(interval_secs=0.5)
    assert health.next_check_ms() == 1_000
    feed(health, "--")
    assert health.next_check_ms() == 2_000


def test_min_consecutive_successes_must_come_in_a_row() -> None:
    health = tracker(initial_interval_secs=1, interval_secs=1, min_consecutive_successes=2,
                     max_consecutive_failures=2)  # fmt: skip
    # One forgiven attempt, then 2 failures allowed and 2 successes needed: 5 attempts.
    assert feed(health, "+-+") == [Health.WARMING_UP] * 3
    assert feed(health, "+") == [Health.HEALTHY]


def test_failing_fast_when_the_attempts_left_cannot_bring_enough_successes() -> None:
    health = tracker(initial_interval_secs=1, interval_secs=1, min_consecutive_successes=3,
                     max_consecutive_failures=1)  # fmt: skip
    # 1 forgiven + 1 + 3 = 5 attempts; after a failure at the third, only 2 are left.
    assert feed(health, "++-")[-1] is Health.UNHEALTHY


def test_too_many_failures_in_a_row_before_becoming_healthy() -> None:
    health = tracker(initial_interval_secs=0, interval_secs=1, min_consecutive_successes=1,
                     max_consecutive_failures=3)  # fmt: skip
    assert feed(health, "----") == [Health.WARMING_UP] * 3 + [Health.UNHEALTHY]
    assert health.reason == f"{NOT_IN_TIME} Last check: boom"
    assert health.next_check_ms() is None


def test_once_healthy_only_more_than_max_consecutive_failures_make_it_unhealthy() -> None:
    health = tracker(max_consecutive_failures=2)
    feed(health, "+")
    assert feed(health, "--+--") == [Health.HEALTHY] * 5
    assert feed(health, "-")[-1] is Health.UNHEALTHY
    assert health.reason == "boom"
    assert feed(health, "+")[-1] is Health.UNHEALTHY  # there is no way back


@given(
    results=st.text(alphabet="+-", max_size=40),
    initial=st.integers(0, 5),
    failures=st.integers(0, 3),
    successes=st.integers(1, 3),
)
def test_a_verdict_never_takes_more_attempts_than_the_limit(
    results: str, initial: int, failures: int, successes: int
) -> None:
    health = tracker(initial_interval_secs=initial, interval_secs=1,
                     max_consecutive_failures=failures, min_consecutive_successes=successes)  # fmt: skip
    verdicts = feed(health, results)
    for attempt, verdict in enumerate(verdicts, start=1):
        if attempt >= initial + failures + successes:
            assert verdict is not Health.WARMING_UP
    if results.startswith("+" * successes):
        assert verdicts[successes - 1] is Health.HEALTHY


@pytest.mark.parametrize("initial", [0, 1])
def test_without_a_grace_period_the_first_failure_counts(initial: int) -> None:
    health = tracker(initial_interval_secs=initial, interval_secs=1)
    assert feed(health, "-")[-1] is (Health.UNHEALTHY if initial == 0 else Health.WARMING_UP)
