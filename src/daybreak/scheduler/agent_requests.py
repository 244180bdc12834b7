"""Questions the scheduler asks an agent about one of its tasks (its processes, its sandbox's
files), and the answers matched back to them by request id.

An answer that does not come in time, or an agent that goes away meanwhile, fails the question
with an error that says which; nothing waits forever.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TypeVar

from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol

REPLY_TIMEOUT_S = 10.0


class AgentUnavailableError(DaybreakError):
    """The task's agent is not connected, or did not answer in time."""


class TaskRequestFailedError(DaybreakError):
    """The agent answered with an error: no such file, a path outside the sandbox, ..."""


class UnexpectedReplyError(DaybreakError):
    """The agent answered with a reply of the wrong kind: a protocol error on its side."""


Send = Callable[[protocol.Message], None]
Reply = TypeVar("Reply", bound=protocol.AgentReply)


class AgentRequests:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        # Each pending question: the agent asked, and where its answer goes.
        self._pending: dict[int, tuple[str, asyncio.Future[protocol.AgentReply]]] = {}

    async def ask(
        self,
        agent_id: str,
        send: Send | None,
        make: Callable[[int], protocol.TaskRequest],
        expect: type[Reply],
        timeout_s: float = REPLY_TIMEOUT_S,
    ) -> Reply:
        """Send the request `make(request_id)` builds and wait for its answer, which must be
        an `expect`."""
        if send is None:
            raise AgentUnavailableError(f"agent {agent_id} is not connected to the scheduler")
        request_id = next(self._ids)
        answer: asyncio.Future[protocol.AgentReply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (agent_id, answer)
        try:
            send(make(request_id))
            reply = await asyncio.wait_for(answer, timeout_s)
        except TimeoutError:
            raise AgentUnavailableError(
                f"agent {agent_id} did not answer within {timeout_s:g} s"
            ) from None
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, protocol.RequestFailed):
            raise TaskRequestFailedError(reply.error)
        if not isinstance(reply, expect):
            raise UnexpectedReplyError(
                f"agent {agent_id} answered {type(reply).__name__} where {expect.__name__} "
                "was asked for"
            )
        return reply

    def answer(self, agent_id: str, reply: protocol.AgentReply) -> None:
        """An agent's answer; one nobody waits for any more (timed out) is dropped."""
        pending = self._pending.get(reply.request_id)
        if pending is None or pending[0] != agent_id or pending[1].done():
            return
        pending[1].set_result(reply)

    def agent_gone(self, agent_id: str) -> None:
        for pending_agent, answer in list(self._pending.values()):
            if pending_agent == agent_id and not answer.done():
                answer.set_exception(
                    AgentUnavailableError(f"agent {agent_id} disconnected before answering")
                )
