"""Change events for whoever follows the cluster live (the web UI, `curl`, scripts): every
committed task, job, update or cron job change, in commit order, as server-sent events.

A follower gets a bounded queue. One that falls too far behind is told so and dropped rather
than letting the scheduler's memory grow; it reconnects and reads the current state again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec

from daybreak.model.api import TaskSummary
from daybreak.model.cron import CronRun
from daybreak.model.jobkey import parse_job_key
from daybreak.model.jobspec import JobKey
from daybreak.model.records import Changes
from daybreak.model.task import ScheduledTask
from daybreak.model.update import InstanceStatus, UpdateSummary

QUEUE_LIMIT = 10_000
KEEPALIVE_S = 15.0


class TaskChanged(msgspec.Struct, frozen=True, kw_only=True):
    task: TaskSummary


class TaskDeleted(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    job: JobKey


class JobChanged(msgspec.Struct, frozen=True, kw_only=True):
    job: JobKey
    # False once the job has no config any more (killed; only history is left).
    configured: bool


class CronChanged(msgspec.Struct, frozen=True, kw_only=True):
    job: JobKey
    # False once descheduled.
    scheduled: bool
    schedule: str | None = None
    runs: tuple[CronRun, ...] = ()


class UpdateChanged(msgspec.Struct, frozen=True, kw_only=True):
    update: UpdateSummary
    # Each instance of the update by its status in the current direction.
    instances: dict[int, InstanceStatus]


@dataclass(frozen=True)
class Event:
    kind: str  # the SSE event type: task, task-deleted, job, update, cron, lagged
    job: JobKey | None
    data: bytes


@dataclass(eq=False)  # each follower is itself, whatever it holds
class Follower:
    wants: Callable[[JobKey], bool]
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class EventHub:
    def __init__(self, summarize: Callable[[ScheduledTask], TaskSummary]) -> None:
        self.summarize = summarize
        self.followers: set[Follower] = set()

    def publish(self, changes: Changes, task_jobs: dict[str, JobKey]) -> None:
        """Tell followers what `changes` (just committed) did. `task_jobs` names the job of
        each deleted task, which the change itself no longer carries."""
        if not self.followers:
            return
        events: list[Event] = []
        for task_id, task in changes.tasks.items():
            if task is not None:
                body = msgspec.json.encode(TaskChanged(task=self.summarize(task)))
                events.append(Event("task", task.job, body))
            elif task_id in task_jobs:
                job = task_jobs[task_id]
                events.append(
                    Event(
                        "task-deleted",
                        job,
                        msgspec.json.encode(TaskDeleted(task_id=task_id, job=job)),
                    )
                )
        for key_text, spec in changes.jobs.items():
            job = parse_job_key(key_text)
            body = msgspec.json.encode(JobChanged(job=job, configured=spec is not None))
            events.append(Event("job", job, body))
        for update in changes.updates.values():
            if update is None:
                continue  # history pruned: nothing a follower watches changed
            instances = {i: p.status for i, p in update.progress.instances.items()}
            body = msgspec.json.encode(
                UpdateChanged(update=UpdateSummary.of(update), instances=instances)
            )
            events.append(Event("update", update.job, body))
        for key_text, record in changes.cron.items():
            job = parse_job_key(key_text)
            cron = CronChanged(job=job, scheduled=False)
            if record is not None:
                cron = CronChanged(
                    job=job, scheduled=True, schedule=record.spec.cron_schedule, runs=record.runs
                )
            events.append(Event("cron", job, msgspec.json.encode(cron)))
        for follower in list(self.followers):
            for event in events:
                if event.job is not None and not follower.wants(event.job):
                    continue
                try:
                    follower.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self._drop(follower)
                    break

    def _drop(self, follower: Follower) -> None:
        self.followers.discard(follower)
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                follower.queue.get_nowait()
        follower.queue.put_nowait(Event("lagged", None, b'{"reconnect": true}'))
        follower.queue.put_nowait(None)

    def subscribe(self, wants: Callable[[JobKey], bool]) -> Follower:
        """A follower that hears of every change from now on, to `follow` later (one that is
        never followed is let go once its queue fills)."""
        follower = Follower(wants)
        self.followers.add(follower)
        return follower

    def unsubscribe(self, follower: Follower) -> None:
        self.followers.discard(follower)

    async def follow(
        self, wants: Callable[[JobKey], bool], follower: Follower | None = None
    ) -> AsyncIterator[Event | None]:
        """Events for the jobs `wants` accepts (or for `follower`, subscribed earlier); None
        now and then, to keep the line open."""
        follower = follower or self.subscribe(wants)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(follower.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield None
                    continue
                if event is None:
                    return
                yield event
        finally:
            self.unsubscribe(follower)
