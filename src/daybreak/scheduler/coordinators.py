"""Asking jobs' SLA coordinators whether a task may be taken down, as Aurora's `SlaManager` did:
`POST URL?task=CLUSTER/ROLE/ENV/NAME/INSTANCE` with a JSON body (`task`, `taskConfig`,
`forceMaintenanceCountdownMs`); a 200 whose JSON object has `true` under the policy's status key
is a yes, anything else a no. The core decides when to ask (`daybreak.core.drains`); the answer
goes back to it as a command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import msgspec

from daybreak.core.commands import CoordinatorAnswer
from daybreak.core.ready import CoordinatorAsk
from daybreak.scheduler.read_model import ReadModel

log = logging.getLogger("daybreak.scheduler")

# Aurora's -sla_coordinator_timeout.
COORDINATOR_TIMEOUT_S = 60.0
# What of an answer's body is read, and said back when it is not what was expected.
MAX_ANSWER_BYTES = 64 * 1024
SHOWN_CHARS = 80


class Coordinators:
    def __init__(
        self,
        view: ReadModel,
        answer: Callable[[CoordinatorAnswer], None],
        timeout_s: float = COORDINATOR_TIMEOUT_S,
    ) -> None:
        self.view = view
        self.answer = answer
        self.timeout_s = timeout_s
        self._asking: set[asyncio.Task[None]] = set()

    def ask(self, ask: CoordinatorAsk) -> None:
        task = asyncio.get_running_loop().create_task(self._ask(ask), name="coordinator")
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    async def close(self) -> None:
        for task in list(self._asking):
            task.cancel()
        await asyncio.gather(*self._asking, return_exceptions=True)

    async def _ask(self, ask: CoordinatorAsk) -> None:
        try:
            allowed, detail = await self._question(ask)
        except Exception as error:
            # The core waits for an answer before it asks this coordinator anything else.
            log.exception("event=coordinator_failed coordinator=%s task=%s", ask.url, ask.task_id)
            allowed, detail = False, f"could not be asked ({error.__class__.__name__})"
        self.answer(CoordinatorAnswer(ask.task_id, ask.url, allowed, detail))

    async def _question(self, ask: CoordinatorAsk) -> tuple[bool, str]:
        task = self.view.tasks.get(ask.task_id)
        if task is None:
            return False, "was not asked: the task is gone"
        key = f"{task.job}/{task.instance}"
        body = {
            "forceMaintenanceCountdownMs": str(ask.force_in_ms),
            "task": key,
            "taskConfig": msgspec.to_builtins(self.view.summarize(task)),
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(ask.url, params={"task": key}, json=body)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            log.warning("event=coordinator_unreachable coordinator=%s task=%s error=%r",
                        ask.url, ask.task_id, error)  # fmt: skip
            return False, f"could not be asked ({error.__class__.__name__}: {error})"
        if response.status_code != 200:
            return False, f"answered HTTP {response.status_code}"
        try:
            answer = msgspec.json.decode(response.content[:MAX_ANSWER_BYTES])
        except msgspec.DecodeError:
            return False, f"answered what is not JSON: {response.text[:SHOWN_CHARS]!r}"
        value = answer.get(ask.status_key) if isinstance(answer, dict) else None
        if value is True:
            return True, "said yes"
        return False, f"said no ({ask.status_key}={value!r})"
