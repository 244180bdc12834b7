"""Stories of the whole scheduler in-process on a fake clock: its real API, store and shell,
agents in memory, and time advanced by the test instead of slept through."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from daybreak.errors import AuthError
from daybreak.model import agent_protocol as protocol
from daybreak.model.task_state import TaskState
from daybreak.scheduler.clock import FakeClock
from tests.scheduler.harness import FakeAgent, InProcess, in_process

TIMEOUT_MS = 10_000  # the harness's --agent-timeout


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db'}"


async def web_running_on(harness: InProcess, agent: FakeAgent, instances: int = 2) -> None:
    spec = harness.job(instances=instances, service=True)
    created = await harness.api.post("/api/v1/jobs", content=msgspec.json.encode(spec))
    assert created.status_code == 201, created.text
    await harness.advance(1000)
    await harness.run_everything()
    assert len(agent.launches()) == instances


def test_a_silent_agent_is_given_up_after_the_timeout_and_its_errant_copy_killed_on_return(
    tmp_path: Path,
) -> None:
    async def story() -> None:
        async with in_process(sqlite(tmp_path)) as harness:
            gone = await harness.connect(FakeAgent("a1"))
            await web_running_on(harness, gone, instances=1)
            [first] = gone.launches()
            await harness.disconnect(gone)
            await harness.advance(TIMEOUT_MS - 1000)
            status = await harness.status(harness.job().key)
            assert [t.state for t in status.active] == [TaskState.RUNNING]  # not yet

            spare = await harness.connect(FakeAgent("a2"))
            await harness.advance(2000)
            status = await harness.status(harness.job().key)
            assert [t.state for t in status.finished] == [TaskState.LOST]
            [replacement] = spare.launches()
            assert replacement != first

            # The lost agent comes back with the old copy still running: it is killed there.
            back = await harness.connect(FakeAgent("a1", inventory=gone.inventory))
            assert back.kills() == [first]

    asyncio.run(story())


def test_an_agent_connected_but_mute_for_the_timeout_is_hung_up_on_and_given_up(
    tmp_path: Path,
) -> None:
    """One timeout, as for an agent whose connection closed; not a second one after the
    hang-up."""

    async def story() -> None:
        async with in_process(sqlite(tmp_path)) as harness:
            agent = await harness.connect(FakeAgent("a1"))
            await web_running_on(harness, agent, instances=1)
            for _ in range(3):  # heartbeats keep it
                await harness.advance(TIMEOUT_MS // 2)
                harness.scheduler.heartbeat("a1")
            assert agent.hung_up == 0
            await harness.advance(TIMEOUT_MS)
            assert agent.hung_up == 1
            status = await harness.status(harness.job().key)
            assert [t.state for t in status.finished] == [TaskState.LOST]

    asyncio.run(story())


def test_after_a_slow_start_agents_get_their_whole_timeout_from_when_it_listens(
    tmp_path: Path,
) -> None:
    """The cause of a flaky restart test: the grace started when the state was loaded, so an
    agent reconnecting soon after the port opened could already be too late."""

    async def story() -> None:
        clock = FakeClock()
        async with in_process(sqlite(tmp_path), clock) as first:
            agent = await first.connect(FakeAgent("a1"))
            await web_running_on(first, agent)
            before = await first.status(first.job().key)

        async with in_process(sqlite(tmp_path), clock, first_id=1000) as again:
            # in_process listens at once; a start that took longer than the timeout is the
            # same as time passing before that: the grace counts from `listening`.
            clock.advance(3 * TIMEOUT_MS)
            again.scheduler.listening()
            await again.advance(TIMEOUT_MS - 1000)
            back = await again.connect(FakeAgent("a1", inventory=agent.inventory))
            for _ in range(4):  # it heartbeats from now on
                await again.advance(TIMEOUT_MS // 4)
                again.scheduler.heartbeat("a1")
            after = await again.status(again.job().key)
            assert [t.task_id for t in after.active] == [t.task_id for t in before.active]
            assert all(t.state is TaskState.RUNNING for t in after.active)
            assert back.launches() == [] and back.kills() == []
            welcome = back.received[0]
            assert isinstance(welcome, protocol.Welcome)
            assert welcome.agent_timeout_ms == TIMEOUT_MS

    asyncio.run(story())


def test_in_a_disruption_every_page_says_what_is_held_back_and_why(tmp_path: Path) -> None:
    async def story() -> None:
        async with in_process(sqlite(tmp_path)) as harness:
            agents = [await harness.connect(FakeAgent(f"a{n}")) for n in range(3)]
            await web_running_on(harness, agents[0], instances=1)
            assert "Disruption" not in (await harness.api.get("/agents")).text
            for agent in agents:
                await harness.disconnect(agent)
            await harness.advance(TIMEOUT_MS + 2000)
            for path in ("/scheduler", "/agents"):
                page = (await harness.api.get(path)).text
                assert "<b>Disruption:</b> 3 of 3 agents cannot be reached at once" in page
                assert "more than 30% of them, or all" in page
            metrics = (await harness.api.get("/metrics")).text
            assert "daybreak_agents_held_back 3" in metrics
            status = await harness.status(harness.job().key)
            assert [t.state for t in status.active] == [TaskState.RUNNING]  # not given up
            await harness.connect(FakeAgent("a0", inventory=agents[0].inventory))
            await harness.advance(1000)
            assert "Disruption" not in (await harness.api.get("/agents")).text

    asyncio.run(story())


def test_an_agent_id_belongs_to_the_secret_it_first_came_with(tmp_path: Path) -> None:
    async def story() -> None:
        async with in_process(sqlite(tmp_path)) as harness:
            real = await harness.connect(FakeAgent("a1", secret="real"))
            await web_running_on(harness, real, instances=2)
            for forged in ("forged", ""):
                impostor = FakeAgent("a1", secret=forged)  # empty-handed: no tasks
                with pytest.raises(AuthError, match="'a1' is known by another secret"):
                    harness.scheduler.agent_connected(
                        impostor.hello(), impostor.send, impostor.hang_up
                    )
                await harness.settle()
                assert impostor.received == [] and real.hung_up == 0
            status = await harness.status(harness.job().key)
            assert [t.state for t in status.active] == [TaskState.RUNNING] * 2

            # The agent itself, reconnecting before its old connection closed: welcome, and
            # the old connection is closed.
            again = await harness.connect(FakeAgent("a1", secret="real", inventory=real.inventory))
            assert real.hung_up == 1 and isinstance(again.received[0], protocol.Welcome)

            # Given up (LOST), the id is free again: a reinstalled machine takes it.
            await harness.disconnect(again)
            await harness.advance(TIMEOUT_MS + 2000)
            reinstalled = await harness.connect(FakeAgent("a1", secret="new"))
            assert isinstance(reinstalled.received[0], protocol.Welcome)

    asyncio.run(story())


def test_reports_made_durable_together_are_acknowledged_once(tmp_path: Path) -> None:
    """Acknowledgements are cumulative: an agent whose reports reach the store in one batch
    gets one, for the last of them, and nothing it reported goes unacknowledged."""

    async def story() -> None:
        async with in_process(sqlite(tmp_path)) as harness:
            agent = await harness.connect(FakeAgent("a1"))
            await web_running_on(harness, agent, instances=3)
            acked_before = len(agent.acks())
            for task_id in agent.launches():  # no settling between: one batch
                harness.scheduler.status_update(
                    agent.agent_id, agent.report(task_id, TaskState.FAILED)
                )
            await harness.settle()
            assert agent.acks()[acked_before:] == [agent.seq]
            status = await harness.status(harness.job().key)
            assert [t.state for t in status.finished] == [TaskState.FAILED] * 3

    asyncio.run(story())
