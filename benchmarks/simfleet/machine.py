"""A simulated machine: tasks that start, run, fail, finish and die on a seeded schedule, told
to the scheduler through the same link and outbox as a real agent's."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable

import msgspec

from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.credentials import new_token
from daybreak.model.jobspec import HttpHealthChecker, Resources
from daybreak.model.task_state import TERMINAL_STATES, TaskState

Report = Callable[[str, TaskState, str | None], None]


class Behaviour(msgspec.Struct, frozen=True, kw_only=True):
    """How simulated tasks behave, the same in every worker."""

    start_s: float = 0.2  # launch to RUNNING, at most (seeded, uniform)
    stop_s: float = 0.1  # kill to KILLED, at most
    # Of the tasks launched, the share that fails after up to `fail_after_s` RUNNING.
    fail_share: float = 0.0
    fail_after_s: float = 30.0
    # A batch (non-service) task finishes after up to this long RUNNING.
    batch_runtime_s: float = 10.0
    # A finished task leaves the inventory after this long, as a real agent's garbage
    # collection removes its sandbox.
    forget_after_s: float = 300.0
    seed: int = 0


class SimulatedMachine:
    def __init__(
        self,
        agent_id: str,
        attributes: dict[str, str],
        resources: Resources,
        behaviour: Behaviour,
    ) -> None:
        self.agent_id = agent_id
        self.attributes = attributes
        self.resources = resources
        self.behaviour = behaviour
        self.random = random.Random(f"{behaviour.seed}:{agent_id}")
        self.secret = new_token()  # the machine's, kept while it lives (across agent restarts)
        self.tasks: dict[str, TaskState] = {}
        self.report: Report = lambda task_id, state, message: None
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def hello(self) -> protocol.Hello:
        return protocol.Hello(
            agent_id=self.agent_id,
            hostname=self.agent_id,
            attributes=self.attributes,
            resources=self.resources,
            ports=PortRange(first=31000, last=32000),
            inventory=dict(self.tasks),
            secret=self.secret,
        )

    def usage(self) -> tuple[protocol.TaskUsage, ...]:
        return ()

    def renew_credentials(self, message: protocol.Credentials) -> None:
        return None  # simulated tasks call no API

    def launch(self, message: protocol.Launch) -> None:
        if message.task_id in self.tasks:
            return  # a launch sent again: the task is already here
        # As a real agent does: STARTING is said only by a task that waits for its health
        # check; any other says RUNNING once it runs.
        self.tasks[message.task_id] = TaskState.STARTING
        checker = message.spec.health_check.checker
        if not isinstance(checker, HttpHealthChecker) or "health" in message.ports:
            self.report(message.task_id, TaskState.STARTING, None)
        after = self.random.uniform(0, self.behaviour.start_s)
        self._later(after, message.task_id, self._running, message.spec.service)

    def _running(self, task_id: str, service: bool) -> None:
        self._set(task_id, TaskState.RUNNING, None)
        behaviour = self.behaviour
        if self.random.random() < behaviour.fail_share:
            after = self.random.uniform(0, behaviour.fail_after_s)
            self._later(after, task_id, self._end, TaskState.FAILED, "simulated failure")
        elif not service:
            after = self.random.uniform(0, behaviour.batch_runtime_s)
            self._later(after, task_id, self._end, TaskState.FINISHED, None)

    def kill(self, message: protocol.Kill) -> None:
        state = self.tasks.get(message.task_id)
        if state is None or state in TERMINAL_STATES or state is TaskState.KILLING:
            return
        self._set(message.task_id, TaskState.KILLING, message.message)
        after = self.random.uniform(0, self.behaviour.stop_s)
        self._later(after, message.task_id, self._end, TaskState.KILLED, message.message)

    def _end(self, task_id: str, state: TaskState, message: str | None) -> None:
        self._set(task_id, state, message)
        self._later(self.behaviour.forget_after_s, task_id, self._forget)

    def _forget(self, task_id: str) -> None:
        del self.tasks[task_id]

    async def answer(self, request: protocol.TaskRequest) -> protocol.AgentReply:
        return protocol.RequestFailed(
            request_id=request.request_id, error=f"{self.agent_id} is simulated: no sandbox"
        )

    def _set(self, task_id: str, state: TaskState, message: str | None) -> None:
        self.tasks[task_id] = state
        self.report(task_id, state, message)

    def _later(
        self, delay_s: float, task_id: str, step: Callable[..., None], *args: object
    ) -> None:
        def fire() -> None:
            self._timers.pop(task_id, None)
            step(task_id, *args)

        old = self._timers.pop(task_id, None)
        if old is not None:
            old.cancel()
        self._timers[task_id] = asyncio.get_running_loop().call_later(delay_s, fire)

    def states(self) -> Counter[str]:
        return Counter(state.name for state in self.tasks.values())
