"""Requests a second per client, on a fake clock: a burst, then the rate, and how long to wait."""

from __future__ import annotations

from daybreak.scheduler.rate_limit import InFlight, RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_the_rate_and_is_told_how_long_to_wait() -> None:
    clock = Clock()
    limit = RateLimit(rate=10, burst=20, clock=clock)
    assert [limit.take("a") for _ in range(20)] == [0.0] * 20
    assert limit.take("a") == 0.1  # one token comes back every 0.1 s
    assert limit.take("b") == 0.0  # another client has its own
    clock.now = 0.55
    assert [limit.take("a") for _ in range(5)] == [0.0] * 5
    assert 0 < limit.take("a") <= 0.1
    clock.now = 100.0  # a long pause refills the burst, and no more
    assert sum(limit.take("a") == 0.0 for _ in range(25)) == 20


def test_a_client_has_at_most_its_limit_in_flight_and_each_end_frees_one() -> None:
    in_flight = InFlight(2)
    assert [in_flight.enter("a"), in_flight.enter("a"), in_flight.enter("a")] == [True, True, False]
    assert in_flight.enter("b")  # another client has its own
    in_flight.leave("a")
    assert in_flight.enter("a") and not in_flight.enter("a")
