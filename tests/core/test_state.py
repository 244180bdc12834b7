"""The scheduler's state through `handle`: refusals that name what is wrong, the guard that
keeps a disruption on the scheduler's side from giving up the fleet, and rounds of a bounded
size."""

from __future__ import annotations

import pytest

from daybreak.core.agents import Link, UnknownHostError
from daybreak.core.commands import AgentDisconnected, AgentHello, CreateJob, SetMaintenance, Tick
from daybreak.core.settings import Settings
from daybreak.core.state import Liveness, SchedulerState
from daybreak.errors import InvalidParameterError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import MaintenanceMode, PortRange
from daybreak.model.jobspec import Resources
from tests.core.builders import job_spec

TIMEOUT_MS = 10_000


def hello(agent_id: str) -> AgentHello:
    return AgentHello(
        protocol.Hello(
            agent_id=agent_id, hostname=f"host-{agent_id}", attributes={},
            resources=Resources(cpu=1, ram_mb=1024, disk_mb=1024),
            ports=PortRange(first=31000, last=31009), inventory={},
        ),
        connection=1,
    )  # fmt: skip


def fleet(count: int) -> SchedulerState:
    state = SchedulerState("test", liveness=Liveness(1000, TIMEOUT_MS))
    for number in range(count):
        state.handle(hello(f"a{number}"), 0)
    return state


def lost(state: SchedulerState) -> list[str]:
    return sorted(r.info.agent_id for r in state.agents if r.link is Link.LOST)


def test_maintenance_names_unknown_hosts_and_unsettable_modes() -> None:
    state = fleet(2)
    with pytest.raises(UnknownHostError, match="unknown host 'a9'; known hosts: host-a0, host-a1"):
        state.handle(SetMaintenance(("host-a0", "a9"), MaintenanceMode.DRAINING), 0)
    with pytest.raises(InvalidParameterError, match="DRAINED cannot be set"):
        state.handle(SetMaintenance(("a0",), MaintenanceMode.DRAINED), 0)
    ready = state.handle(SetMaintenance(("host-a1",), MaintenanceMode.DRAINING), 0)
    # Empty: drained at once, and that is stored.
    stored = ready.writes.agents["a1"]
    assert stored is not None and stored.maintenance is MaintenanceMode.DRAINED


def test_many_agents_silent_at_once_are_held_back_until_most_return() -> None:
    state = fleet(10)
    for number in range(5):
        state.handle(AgentDisconnected(f"a{number}", 1), 1000)
    for now in range(2000, 30_000, 1000):
        state.handle(Tick(), now)  # the others heartbeat meanwhile
        for number in range(5, 10):
            state.agents.heard_from(f"a{number}", now)
    assert lost(state) == []
    assert state.held_back == 5
    # Three come back: two of ten silent is no disruption. The last two may still be on their
    # way back (a fleet reconnects over seconds): they get a whole timeout from here.
    for number in range(3):
        state.handle(hello(f"a{number}"), 30_000)
    ready = state.handle(Tick(), 30_500)
    assert state.held_back == 0
    assert [line.event for line in ready.logs][:1] == ["disruption_over"]
    for now in range(31_000, 40_500, 500):
        state.handle(Tick(), now)
        for number in (0, 1, 2, 5, 6, 7, 8, 9):
            state.agents.heard_from(f"a{number}", now)
    assert lost(state) == []
    state.handle(Tick(), 40_500)
    assert lost(state) == ["a3", "a4"]  # one timeout after the disruption ended


def test_after_a_disruption_the_silent_are_not_given_up_while_others_still_return() -> None:
    """A scheduler that thousands of agents reach at once (it woke from a pause, it restarted)
    takes their hellos one by one: on a loaded machine, those it has not yet let in may wait
    longer than a timeout. While agents still come back, the rest are on their way; a whole
    timeout with no return gives them up."""
    state = fleet(10)
    for number in range(10):
        state.handle(AgentDisconnected(f"a{number}", 1), 1000)
    for now in range(1000, 30_000, 1000):
        state.handle(Tick(), now)
    assert state.held_back == 10
    for number in range(7):  # most are back: the disruption is over
        state.handle(hello(f"a{number}"), 30_000)
    assert [line.event for line in state.handle(Tick(), 30_000).logs] == ["disruption_over"]

    def tick_until(end: int) -> None:
        for now in range(state.last_round_ms or 0, end, 500):
            for record in state.agents:
                state.agents.heard_from(record.info.agent_id, now)  # if connected
            state.handle(Tick(), now)

    tick_until(38_000)
    state.handle(hello("a7"), 38_000)  # 8 s after the end of the disruption
    tick_until(46_000)
    state.handle(hello("a8"), 46_000)  # 16 s after it: later than a timeout, yet welcome
    tick_until(56_000)
    assert lost(state) == []
    tick_until(56_500)
    assert lost(state) == ["a9"]  # a whole timeout after the last return
    state.handle(AgentDisconnected("a0", 1), 57_000)  # the fleet is back: timeouts as usual
    state.handle(hello("a9"), 60_000)
    tick_until(67_500)
    assert lost(state) == ["a0"]


def test_a_few_agents_silent_are_given_up_as_usual() -> None:
    state = fleet(10)
    state.handle(AgentDisconnected("a0", 1), 1000)
    for now in range(2000, 12_000, 1000):
        for number in range(1, 10):
            state.agents.heard_from(f"a{number}", now)
        state.handle(Tick(), now)
    assert lost(state) == ["a0"]


def test_all_of_a_small_fleet_silent_at_once_is_held_back_too() -> None:
    """After a scheduler pause longer than the timeout, every agent looks silent: the cause
    is the scheduler's, however small the fleet."""
    state = fleet(2)
    for now in range(1000, 40_000, 1000):
        state.handle(Tick(), now)
    assert lost(state) == [] and state.held_back == 2
    state.handle(hello("a0"), 40_000)
    for now in range(40_500, 50_500, 500):
        state.agents.heard_from("a0", now)
        state.handle(Tick(), now)
    assert lost(state) == []
    state.handle(Tick(), 50_500)
    assert lost(state) == ["a1"]  # one timeout after a0's return ended the disruption


def test_silence_while_the_scheduler_stood_still_is_not_counted_against_agents() -> None:
    """Two agents go quiet as the scheduler freezes for 20 s; the others' heartbeats waited in
    its sockets and are read first when it wakes. Too few look silent for a disruption, yet
    the two were silent only while nobody listened: they get their whole timeout."""
    state = fleet(10)
    for now in range(500, 1500, 500):
        state.handle(Tick(), now)
    state.handle(AgentDisconnected("a0", 1), 1000)
    state.handle(AgentDisconnected("a1", 1), 1000)
    for number in range(2, 10):
        state.agents.heard_from(f"a{number}", 21_000)
    ready = state.handle(Tick(), 21_000)
    assert [line.event for line in ready.logs] == ["scheduler_stalled"]
    assert lost(state) == [] and state.held_back == 0
    # Silent for 1 s before the freeze and from its end: the timeout falls 9 s after it.
    for now in range(21_500, 30_000, 500):
        for number in range(2, 10):
            state.agents.heard_from(f"a{number}", now)
        state.handle(Tick(), now)
    assert lost(state) == []
    state.handle(Tick(), 30_000)
    assert lost(state) == ["a0", "a1"]


def test_a_big_job_is_placed_over_short_rounds_that_follow_at_once() -> None:
    """Rounds of at most `placements_per_round`: each one's launches go out (and the API and
    agents are heard) before the next, which is due at once while more could be placed."""
    state = SchedulerState("west", Settings(placements_per_round=4), Liveness(1000, TIMEOUT_MS))
    for number in range(3):
        state.handle(hello(f"a{number}"), 0)  # 3 agents of 1 cpu and 10 ports
    small = job_spec("small", instances=10, cpu=0.1, ram_mb=10, disk_mb=10)
    state.handle(CreateJob(small), 0)
    rounds = [state.handle(Tick(), 0) for _round in range(3)]
    launched = [sum(isinstance(m, protocol.Launch) for _a, m in r.sends) for r in rounds]
    assert launched == [4, 4, 2]
    # More to place: the next round at once; nothing left: the usual interval.
    assert [r.wake_at for r in rounds] == [0, 0, 1000]


def test_what_cannot_fit_does_not_make_rounds_follow_at_once() -> None:
    state = SchedulerState("west", Settings(placements_per_round=4), Liveness(1000, TIMEOUT_MS))
    state.handle(hello("a0"), 0)
    state.handle(CreateJob(job_spec("big", instances=3, cpu=0.5, ram_mb=10, disk_mb=10)), 0)
    ready = state.handle(Tick(), 0)
    assert sum(isinstance(m, protocol.Launch) for _a, m in ready.sends) == 2
    assert ready.wake_at == 1000  # the third waits for room, not for the next round
