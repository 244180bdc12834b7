"""`Agents` counts links as they change and walks for timeouts only once one could have
happened. Driven through every way an agent's silence changes, its answers must be those of a
plain walk over every record, each time."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from daybreak.core.agents import Agents, Link, MaintenanceEvent
from daybreak.model.records import StoredAgent
from tests.core.builders import agent

IDS = [f"a{number}" for number in range(6)]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("hello"), st.sampled_from(IDS)),
        st.tuples(st.just("heard"), st.sampled_from(IDS)),
        st.tuples(st.just("disconnect"), st.sampled_from(IDS)),
        st.tuples(st.just("drain"), st.sampled_from(IDS)),
        st.tuples(st.just("activate"), st.sampled_from(IDS)),
        st.tuples(st.just("wait"), st.integers(0, 40)),
        st.tuples(st.just("discount"), st.integers(0, 20)),
        st.tuples(st.just("restart_timeouts"), st.none()),
        st.tuples(st.just("recover"), st.none()),
        st.tuples(st.just("timeouts"), st.sampled_from([5, 10, 30])),
        st.tuples(st.just("restore"), st.none()),
    ),
    max_size=60,
)


def walked_unreachable(agents: Agents, now: int, timeout_ms: int) -> tuple[int, int]:
    alive = [r for r in agents.records.values() if r.link is not Link.LOST]
    silent = sum(r.link is Link.SILENT or now - agents.silent_since(r) >= timeout_ms for r in alive)
    return silent, len(alive)


def walked_timeouts(agents: Agents, now: int, timeout_ms: int) -> list[str]:
    return sorted(
        agent_id
        for agent_id, r in agents.records.items()
        if r.link is not Link.LOST and now - agents.silent_since(r) >= timeout_ms
    )


@settings(max_examples=300, deadline=None)
@given(steps)
def test_counted_answers_are_those_of_a_walk(steps: list[tuple[str, object]]) -> None:
    agents, now, connection = Agents(), 0, 0
    for step, argument in steps:
        if step == "hello":
            connection += 1
            agents.hello(agent(str(argument)), connection, now)
        elif step == "heard":
            agents.heard_from(str(argument), now)
        elif step == "disconnect" and str(argument) in agents:
            record = agents.get(str(argument))
            assert record is not None
            agents.disconnected(str(argument), record.connection or 0, now)
        elif step in ("drain", "activate") and str(argument) in agents:
            event = MaintenanceEvent.DRAIN if step == "drain" else MaintenanceEvent.ACTIVATE
            agents.maintain(str(argument), event)
        elif step == "wait":
            now += int(argument)  # type: ignore[call-overload]
        elif step == "discount":
            agents.discount_silence(int(argument), now)  # type: ignore[call-overload]
        elif step == "restart_timeouts":
            agents.restart_timeouts(now)
        elif step == "recover":
            agents.recover(now)
        elif step == "restore":
            stored: dict[str, StoredAgent] = {a: r.stored for a, r in agents.records.items()}
            agents.restore(stored, now)
        elif step == "timeouts":
            timeout_ms = int(argument)  # type: ignore[call-overload]
            assert agents.unreachable(now, timeout_ms) == walked_unreachable(
                agents, now, timeout_ms
            )
            expected = walked_timeouts(agents, now, timeout_ms)
            moved = [changed.record.info.agent_id for changed in agents.timeouts(now, timeout_ms)]
            assert moved == expected
        alive = sum(r.link is not Link.LOST for r in agents.records.values())
        assert agents.population() == alive
        assert agents.draining() == sorted(
            a for a, r in agents.records.items() if r.maintenance.name == "DRAINING"
        )
