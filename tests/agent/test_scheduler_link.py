"""The agent's connection to a scheduler that is slow to answer."""

from __future__ import annotations

from daybreak.agent.link import OPEN_TIMEOUT_MIN_S
from tests.agent.conftest import AgentFactory
from tests.agent.fake_scheduler import FakeScheduler


def test_an_agent_waits_its_turn_with_a_slow_scheduler_instead_of_asking_again(
    scheduler: FakeScheduler, start_agent: AgentFactory
) -> None:
    """A scheduler that thousands of agents reach at once (it restarted, or woke from a pause)
    answers them in turn. An agent that gave up before its turn and asked again only joined the
    back of the queue: on a loaded machine no agent ever got back in."""
    scheduler.handshake_delay_s = OPEN_TIMEOUT_MIN_S + 1
    start_agent()
    scheduler.wait_for_hello()
    assert scheduler.handshakes == 1
