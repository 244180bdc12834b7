"""The agents' two state machines, pair by pair (every state x every event), against tables
written out here independently of the code's; and the book that applies them."""

from __future__ import annotations

import pytest

from daybreak.core.agents import (
    LINK_TABLE,
    MAINTENANCE_TABLE,
    AgentAction,
    Agents,
    Link,
    LinkEvent,
    MaintenanceEvent,
    UnknownHostError,
)
from daybreak.model.agent import MaintenanceMode
from tests.core.builders import agent

L, E, A = Link, LinkEvent, AgentAction
M, ME = MaintenanceMode, MaintenanceEvent

# (state, event) -> (next state, actions); a pair not listed is refused and changes nothing.
EXPECTED_LINK = {
    (L.CONNECTED, E.HELLO): (L.CONNECTED, (A.RECONCILE,)),
    (L.SILENT, E.HELLO): (L.CONNECTED, (A.RECONCILE,)),
    (L.LOST, E.HELLO): (L.CONNECTED, (A.RECONCILE,)),
    (L.CONNECTED, E.DISCONNECTED): (L.SILENT, ()),
    (L.CONNECTED, E.MUTE): (L.LOST, (A.HANG_UP, A.GIVE_UP_TASKS)),
    (L.SILENT, E.TIMED_OUT): (L.LOST, (A.GIVE_UP_TASKS,)),
}

EXPECTED_MAINTENANCE = {
    (M.NONE, ME.ACTIVATE): (M.NONE, ()),
    (M.SCHEDULED, ME.ACTIVATE): (M.NONE, ()),
    (M.DRAINING, ME.ACTIVATE): (M.NONE, ()),
    (M.DRAINED, ME.ACTIVATE): (M.NONE, ()),
    (M.NONE, ME.SCHEDULE): (M.SCHEDULED, ()),
    (M.SCHEDULED, ME.SCHEDULE): (M.SCHEDULED, ()),
    (M.DRAINING, ME.SCHEDULE): (M.SCHEDULED, ()),
    (M.DRAINED, ME.SCHEDULE): (M.SCHEDULED, ()),
    (M.NONE, ME.DRAIN): (M.DRAINING, ()),
    (M.SCHEDULED, ME.DRAIN): (M.DRAINING, ()),
    (M.DRAINING, ME.DRAIN): (M.DRAINING, ()),
    (M.DRAINED, ME.DRAIN): (M.DRAINED, ()),
    (M.DRAINING, ME.EMPTIED): (M.DRAINED, ()),
}


@pytest.mark.parametrize("state", list(Link))
@pytest.mark.parametrize("event", list(LinkEvent))
def test_every_link_pair(state: Link, event: LinkEvent) -> None:
    assert LINK_TABLE.get((state, event)) == EXPECTED_LINK.get((state, event))


@pytest.mark.parametrize("mode", list(MaintenanceMode))
@pytest.mark.parametrize("event", list(MaintenanceEvent))
def test_every_maintenance_pair(mode: MaintenanceMode, event: MaintenanceEvent) -> None:
    assert MAINTENANCE_TABLE.get((mode, event)) == EXPECTED_MAINTENANCE.get((mode, event))


def test_a_late_close_of_an_older_connection_is_not_the_agent_going_silent() -> None:
    agents = Agents()
    agents.hello(agent("a1"), connection=1, now=0)
    agents.hello(agent("a1"), connection=2, now=10)  # reconnected before the old one closed
    assert agents.disconnected("a1", connection=1, now=20) is None
    record = agents.get("a1")
    assert record is not None and record.link is L.CONNECTED
    changed = agents.disconnected("a1", connection=2, now=30)
    assert changed is not None and changed.record.link is L.SILENT


def test_mute_or_silent_past_one_timeout_is_lost_and_a_hello_brings_it_back() -> None:
    agents = Agents()
    agents.hello(agent("a1"), connection=1, now=0)
    agents.hello(agent("a2"), connection=2, now=0)
    agents.heard_from("a1", now=5_000)
    agents.disconnected("a2", connection=2, now=5_000)
    assert agents.timeouts(now=14_999, timeout_ms=10_000) == []
    mute, silent = agents.timeouts(now=15_000, timeout_ms=10_000)
    assert mute.record.link is L.LOST and mute.actions == (A.HANG_UP, A.GIVE_UP_TASKS)
    assert silent.record.link is L.LOST and silent.actions == (A.GIVE_UP_TASKS,)
    assert agents.timeouts(now=99_000, timeout_ms=10_000) == []  # lost once
    back = agents.hello(agent("a1"), connection=3, now=100_000)
    assert back.record.link is L.CONNECTED and back.actions == (A.RECONCILE,)


def test_after_a_start_the_timeout_counts_from_listening_not_from_loading() -> None:
    agents = Agents()
    agents.hello(agent("a1"), connection=1, now=0)
    agents.restore({"a1": agents.records["a1"].stored}, now=0)
    agents.restart_timeouts(now=8_000)  # the state took 8 s to load
    assert agents.timeouts(now=17_999, timeout_ms=10_000) == []
    assert len(agents.timeouts(now=18_000, timeout_ms=10_000)) == 1


def test_hosts_are_found_by_id_or_hostname_and_an_unknown_one_is_named() -> None:
    agents = Agents()
    agents.hello(agent("a1"), connection=1, now=0)
    assert agents.by_name(["a1"]) == ["a1"]
    with pytest.raises(UnknownHostError, match="unknown host 'a9'; known hosts: a1"):
        agents.by_name(["a1", "a9"])
