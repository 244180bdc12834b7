"""Questions to agents: each answer reaches the question with its request id, and a question
never waits past its timeout or its agent's connection."""

from __future__ import annotations

import asyncio

import pytest

from daybreak.model import agent_protocol as protocol
from daybreak.scheduler.agent_requests import (
    AgentRequests,
    AgentUnavailableError,
    TaskRequestFailedError,
    UnexpectedReplyError,
)


def describe(request_id: int) -> protocol.DescribeTask:
    return protocol.DescribeTask(request_id=request_id, task_id="t1")


def description(request_id: int) -> protocol.TaskDescription:
    return protocol.TaskDescription(request_id=request_id, task_id="t1", phase="ACTIVE")


async def ask_and_answer(
    requests: AgentRequests, reply_of: type[protocol.Message], agent: str = "a1",
    timeout_s: float = 10.0, expect: type[protocol.AgentReply] = protocol.TaskDescription,
) -> protocol.AgentReply:  # fmt: skip
    sent: list[protocol.Message] = []
    question = asyncio.ensure_future(requests.ask("a1", sent.append, describe, expect, timeout_s))
    await asyncio.sleep(0)  # the question is sent
    [request] = sent
    assert isinstance(request, protocol.DescribeTask)
    if reply_of is protocol.RequestFailed:
        requests.answer(agent, protocol.RequestFailed(request_id=request.request_id, error="no"))
    else:
        requests.answer(agent, description(request.request_id + 1))  # someone else's
        requests.answer(agent, description(request.request_id))
    return await question


def test_an_answer_reaches_its_question() -> None:
    reply = asyncio.run(ask_and_answer(AgentRequests(), protocol.TaskDescription))
    assert isinstance(reply, protocol.TaskDescription) and reply.phase == "ACTIVE"


def test_an_answer_of_the_wrong_kind_is_refused_with_what_was_asked() -> None:
    with pytest.raises(UnexpectedReplyError, match="answered TaskDescription where FileList"):
        asyncio.run(ask_and_answer(AgentRequests(), protocol.TaskDescription,
                                   expect=protocol.FileList))  # fmt: skip


def test_an_agent_error_is_raised_with_its_words() -> None:
    with pytest.raises(TaskRequestFailedError, match="no"):
        asyncio.run(ask_and_answer(AgentRequests(), protocol.RequestFailed))


def test_an_answer_from_another_agent_is_not_taken() -> None:
    with pytest.raises(AgentUnavailableError, match="did not answer"):
        asyncio.run(
            ask_and_answer(AgentRequests(), protocol.TaskDescription, agent="a2", timeout_s=0.05)
        )


def test_an_agent_that_is_not_connected_is_not_asked() -> None:
    with pytest.raises(AgentUnavailableError, match="not connected"):
        asyncio.run(AgentRequests().ask("a1", None, describe, protocol.TaskDescription))


def test_a_question_fails_when_its_agent_goes_away() -> None:
    async def scenario() -> None:
        requests = AgentRequests()
        question = asyncio.ensure_future(
            requests.ask("a1", lambda _: None, describe, protocol.TaskDescription)
        )
        await asyncio.sleep(0)
        requests.agent_gone("a2")
        assert not question.done()
        requests.agent_gone("a1")
        with pytest.raises(AgentUnavailableError, match="disconnected"):
            await question

    asyncio.run(scenario())


def test_a_question_gives_up_after_its_timeout() -> None:
    async def scenario() -> None:
        requests = AgentRequests()
        with pytest.raises(AgentUnavailableError, match="did not answer within"):
            await requests.ask(
                "a1", lambda _: None, describe, protocol.TaskDescription, timeout_s=0.01
            )
        requests.answer("a1", description(1))  # too late: dropped

    asyncio.run(scenario())
