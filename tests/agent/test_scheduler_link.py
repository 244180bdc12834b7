"""The agent's connection to a scheduler: one that is slow to answer, and a standby's hint."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from daybreak.agent.link import OPEN_TIMEOUT_MIN_S, Machine, SchedulerLink
from daybreak.agent.outbox import Outbox
from daybreak.model.agent_protocol import CONNECT_PATH
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


def test_a_standbys_hint_goes_to_the_agents_own_address_for_that_host(tmp_path: Path) -> None:
    """A standby names the leader by its advertised URL; an agent that reaches schedulers on
    the agents' port (mutual TLS) keeps to its own URL for that host; any other goes there."""
    urls = ["https://s1.example.com:8082", "https://s2.example.com:8082"]
    machine, outbox = cast(Machine, object()), Outbox(tmp_path)
    certified = SchedulerLink(urls, None, outbox, machine, lambda: 0, own_ports=True)
    assert (
        certified._ours("https://s2.example.com:8081") == f"wss://s2.example.com:8082{CONNECT_PATH}"
    )
    assert (
        certified._ours("https://s3.example.com:8081") == f"wss://s3.example.com:8081{CONNECT_PATH}"
    )
    plain = SchedulerLink(urls, "token", outbox, machine, lambda: 0)
    assert plain._ours("https://s2.example.com:8081") == f"wss://s2.example.com:8081{CONNECT_PATH}"
