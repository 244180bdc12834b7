"""Heartbeats within a budget however large the fleet: the pace agents are told grows with
the fleet, the timeout follows, and a change of pace never cuts an agent short."""

from __future__ import annotations

from daybreak.core.agents import Link
from daybreak.core.commands import Tick
from daybreak.core.pace import Pace, Pacer, pace_for
from daybreak.core.state import Liveness, SchedulerState
from daybreak.model import agent_protocol as protocol
from tests.core.test_state import hello

BUDGET = 10.0  # heartbeats a second


def test_the_pace_keeps_the_fleet_under_the_budget_with_headroom() -> None:
    assert pace_for(0, 1000, 10_000, BUDGET) == Pace(1000, 10_000)
    assert pace_for(5, 1000, 10_000, BUDGET) == Pace(1000, 10_000)  # 5 a second: fine
    # 50 agents at 10 a second: every 5 s, and a quarter more as headroom; the timeout is
    # three intervals.
    assert pace_for(50, 1000, 10_000, BUDGET) == Pace(6250, 18_750)
    # Aurora-sized: 5,000 agents within 200 a second.
    big = pace_for(5000, 1000, 30_000, 200.0)
    assert 5000 * 1000 / big.heartbeat_interval_ms <= 200
    assert big.agent_timeout_ms == 3 * big.heartbeat_interval_ms


def welcomes(ready_sends: list[tuple[str, protocol.Message]]) -> dict[str, protocol.Welcome]:
    return {a: m for a, m in ready_sends if isinstance(m, protocol.Welcome)}


def test_a_growing_fleet_is_told_a_slower_pace_and_its_timeout_follows() -> None:
    state = SchedulerState("test", liveness=Liveness(1000, 10_000, heartbeat_budget_per_s=BUDGET))
    first = welcomes(state.handle(hello("a0"), 0).sends)["a0"]
    assert (first.heartbeat_interval_ms, first.agent_timeout_ms) == (1000, 10_000)
    for number in range(1, 50):
        state.handle(hello(f"a{number}"), 0)
    ready = state.handle(Tick(), 500)
    told = welcomes(ready.sends)
    assert sorted(told) == sorted(f"a{n}" for n in range(50))  # every connected agent
    assert {(w.heartbeat_interval_ms, w.agent_timeout_ms) for w in told.values()} == {
        (6250, 18_750)
    }
    assert [line.event for line in ready.logs] == ["agents_repaced"]
    # A newcomer hears the new pace in its welcome; nothing is re-sent at the next round.
    late = welcomes(state.handle(hello("a50"), 600).sends)["a50"]
    assert late.heartbeat_interval_ms == 6250
    assert welcomes(state.handle(Tick(), 1000).sends) == {}
    # Silent for 15 s: past the configured 10 s, within the fleet's 18.75 s.
    for now in range(1500, 17_000, 500):
        for number in range(1, 51):
            state.agents.heard_from(f"a{number}", now)
        state.handle(Tick(), now)
    record = state.agents.get("a0")
    assert record is not None and record.link is Link.CONNECTED


def test_a_fleet_that_shrinks_is_paced_faster_and_the_old_timeout_counts_for_a_while() -> None:
    pacer = Pacer(1000, 10_000, BUDGET)
    assert pacer.repace(50, now=0) == Pace(6250, 18_750)
    assert pacer.repace(40, now=1000) is None  # under budget, not far under: it stands
    assert pacer.repace(5, now=2000) == Pace(1000, 10_000)
    # An agent may still be on the old pace: the old timeout counts for one old timeout.
    assert pacer.timeout_ms(2000) == 18_750
    assert pacer.timeout_ms(2000 + 18_749) == 18_750
    assert pacer.timeout_ms(2000 + 18_750) == 10_000


def test_after_a_start_the_pace_is_the_whole_known_fleets() -> None:
    grown = SchedulerState("test", liveness=Liveness(1000, 10_000, heartbeat_budget_per_s=BUDGET))
    for number in range(50):
        grown.handle(hello(f"a{number}"), 0)
    restarted = SchedulerState(
        "test", liveness=Liveness(1000, 10_000, heartbeat_budget_per_s=BUDGET)
    )
    restarted.load(grown.snapshot(), 0)
    welcome = welcomes(restarted.handle(hello("a7"), 100).sends)["a7"]
    assert (welcome.heartbeat_interval_ms, welcome.agent_timeout_ms) == (6250, 18_750)
