"""Carrying out the core's `Ready`s, in the order they were made: persist, then make visible,
then send, then answer.

Whatever piles up while one transaction runs goes to the store together in the next, so a
status storm of 1,000 updates costs a transaction or two. A `Ready` with nothing to persist
still waits for those before it: what it sends may rest on their writes.

Fail-stop: when the store refuses a write, the carrier raises `StoreWriteFailedError` and
carries out nothing more. Its owner lets that end the process (the way etcd treats a failed
WAL write); a supervisor restarts it, or a standby takes over, from what the store holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from daybreak.core.ready import CoordinatorAsk, Ready
from daybreak.model import agent_protocol as protocol
from daybreak.model.records import Changes, Snapshot
from daybreak.scheduler.events import EventHub
from daybreak.scheduler.read_model import ReadModel
from daybreak.store.writer import StoreWriter

log = logging.getLogger("daybreak.scheduler")


class StoreWriteFailedError(Exception):
    """The store did not make a batch durable: the scheduler must not run on."""


@dataclass(frozen=True)
class Outlets:
    """Where a durable `Ready` goes: the shell's agents, SLA coordinators, and its log."""

    send: Callable[[str, Any], None]  # (agent id, protocol message)
    hang_up: Callable[[str], None]
    ask_coordinator: Callable[[CoordinatorAsk], None] = lambda _ask: None


class Carrier:
    def __init__(
        self,
        writer: StoreWriter,
        view: ReadModel,
        events: EventHub,
        outlets: Outlets,
        *,
        log_transitions: bool = False,
    ) -> None:
        self.writer = writer
        self.view = view
        self.events = events
        self.outlets = outlets
        self._pending: deque[tuple[Ready, asyncio.Future[Any] | None]] = deque()
        self._arrived = asyncio.Event()
        self._writing = False
        self.failure: BaseException | None = None
        # A log line per task transition (asked for with --log-format json).
        self.log_transitions = log_transitions

    @property
    def idle(self) -> bool:
        """Nothing handed over is waiting to be persisted or carried out."""
        return not self._pending and not self._writing

    def hand_over(self, ready: Ready, answer: asyncio.Future[Any] | None = None) -> None:
        """Queue `ready`; `answer` gets its reply once it is carried out."""
        if not ready.durable and not self._pending and not self._writing:
            self._carry_out(ready, answer)  # nothing before it is waiting to be durable
            return
        self._pending.append((ready, answer))
        self._arrived.set()

    def stop(self, failure: BaseException) -> None:
        """Carry out nothing more; `run` raises `failure`."""
        if self.failure is None:
            self.failure = failure
        self._arrived.set()

    async def run(self) -> None:
        """Persist and carry out what is handed over, until a failure stops it."""
        try:
            while True:
                await self._arrived.wait()
                # One turn of the loop for whatever was woken with us (a scheduling round
                # after a create) to join this batch.
                await asyncio.sleep(0)
                self._arrived.clear()
                while self._pending and self.failure is None:
                    batch = list(self._pending)
                    self._pending.clear()
                    try:
                        await self._persist(batch)
                    except BaseException:
                        self._pending.extendleft(reversed(batch))
                        raise
                    latest_acks = _latest_acks(batch)
                    for ready, answer in batch:
                        self._carry_out(ready, answer, latest_acks)
                if self.failure is not None:
                    raise self.failure
        finally:
            # Whoever still waits hears why nothing more will happen.
            failure = self.failure or StoreWriteFailedError("the scheduler is stopping")
            for _ready, answer in self._pending:
                if answer is not None and not answer.done():
                    answer.set_exception(failure)
            self._pending.clear()

    async def _persist(self, batch: list[tuple[Ready, asyncio.Future[Any] | None]]) -> None:
        # One write of each row per batch: later changes to a key replace earlier ones, and
        # a restore (a snapshot) replaces everything before it.
        items: list[Changes | Snapshot] = []
        merged = Changes()
        for ready, _answer in batch:
            if ready.replace_all is not None:
                items.append(ready.replace_all)
                merged = Changes()
            merged.merge(ready.writes)
            if merged and (not items or items[-1] is not merged):
                items.append(merged)
        if not items:
            return
        self._writing = True
        try:
            await self.writer.write(items)
        except Exception as error:
            failure = StoreWriteFailedError(
                f"the store refused a write of {sum(_size(i) for i in items)} records "
                f"({error.__class__.__name__}: {error}); stopping, so that nothing runs ahead "
                "of the store"
            )
            self.stop(failure)
            raise failure from error
        finally:
            self._writing = False

    def _carry_out(
        self,
        ready: Ready,
        answer: asyncio.Future[Any] | None,
        latest_acks: Mapping[str, protocol.Ack] = MappingProxyType({}),
    ) -> None:
        if ready.replace_all is not None:
            self.view.load(ready.replace_all)
        if ready.writes:
            if self.log_transitions:
                self._log_transitions(ready.writes)
            self.view.apply(ready.writes)
            self.events.publish(ready.writes, ready.deleted)
        for agent_id, message in ready.sends:
            if (
                isinstance(message, protocol.Ack)
                and latest_acks.get(agent_id, message) is not message
            ):
                continue  # a later one in this batch acknowledges this one's updates too
            self.outlets.send(agent_id, message)
        for agent_id in ready.hang_ups:
            self.outlets.hang_up(agent_id)
        for ask in ready.coordinator_asks:
            self.outlets.ask_coordinator(ask)
        if answer is not None and not answer.done():
            answer.set_result(ready.reply)
        for line in ready.logs:
            fields = " ".join(f"{key}={value}" for key, value in line.fields.items())
            log.log(logging.WARNING if line.warning else logging.INFO,
                    "event=%s %s", line.event, fields,
                    extra={"event": line.event, "fields": line.fields})  # fmt: skip

    def _log_transitions(self, writes: Changes) -> None:
        """A line per task whose state these writes change (before the read model has them)."""
        for task_id, task in writes.tasks.items():
            if task is None:
                continue
            before = self.view.tasks.get(task_id)
            if before is not None and before.state is task.state:
                continue
            fields = {
                "job": str(task.job), "instance": task.instance, "task": task_id,
                "agent": task.agent_id, "state": task.state.name,
                "previous": None if before is None else before.state.name,
                "message": task.events[-1].message if task.events else None,
            }  # fmt: skip
            log.info("event=task_state task=%s state=%s", task_id, task.state.name,
                     extra={"event": "task_state", "fields": fields})  # fmt: skip


def _latest_acks(batch: list[tuple[Ready, asyncio.Future[Any] | None]]) -> dict[str, protocol.Ack]:
    """The last acknowledgement each agent is sent in `batch`: acknowledgements are
    cumulative, and one frame per agent per batch is all an agent reporting hundreds of task
    changes a second needs (two frames a task otherwise, each costing the scheduler a send)."""
    latest: dict[str, protocol.Ack] = {}
    for ready, _answer in batch:
        for agent_id, message in ready.sends:
            if isinstance(message, protocol.Ack):
                latest[agent_id] = message
    return latest


def _size(item: Changes | Snapshot) -> int:
    if isinstance(item, Snapshot):
        return len(item.tasks) + len(item.jobs) + len(item.agents)
    return (
        len(item.tasks) + len(item.jobs) + len(item.agents) + len(item.quotas) + len(item.updates)
    )
