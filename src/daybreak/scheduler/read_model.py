"""What the API, the pages, the metrics and the event stream read: the state as committed.

The read model follows the store, not the core: it changes only when a batch of writes is
durable, so nothing anyone can see is ahead of the store. It holds the same immutable records
as the core (shared, not copied) and the few indexes reads need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, tzinfo

from daybreak.core.placement import PendingReason
from daybreak.core.quota import Aggregate, QuotaUse, counts_against_quota
from daybreak.core.updates import ConfigIds, UnknownUpdateError
from daybreak.model.api import Quota, TaskSummary
from daybreak.model.cron import CronJob
from daybreak.model.jobkey import parse_job_key
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.records import Changes, Snapshot, StoredAgent
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import AGENT_ASSIGNED_STATES, TaskState
from daybreak.model.update import ACTIVE_UPDATE_STATUSES, JobUpdate


class ReadModel:
    def __init__(
        self,
        pending_reason: Callable[[str], PendingReason | None] = lambda _task_id: None,
        online: Callable[[str], bool] = lambda _agent_id: False,
        cron_zone: tzinfo = UTC,
        drain_waits: Callable[[str], dict[str, str]] = lambda _agent_id: {},
        throttled_until: Callable[[str], int | None] = lambda _task_id: None,
    ) -> None:
        # Explanations and connections are not stored state: they come from whoever knows.
        self.pending_reason = pending_reason
        self.online = online
        self.drain_waits = drain_waits  # a draining agent's tasks that wait: task id -> why
        self.throttled_until = throttled_until  # when a THROTTLED task may be placed
        self.cron_zone = cron_zone  # what cron schedules are read in
        self.config_ids = ConfigIds()
        self.load(Snapshot())

    def load(self, snapshot: Snapshot) -> None:
        self.tasks: dict[str, ScheduledTask] = {}
        self._by_job: dict[JobKey, dict[str, None]] = {}
        self._by_agent: dict[str, dict[str, None]] = {}
        # What the tasks occupying each agent hold, in whole units (millicpus, MiB, MiB) so that
        # adding and taking away never drifts.
        self._held: dict[str, list[int]] = {}
        # The same by role, production (as the quota counts it) apart from the rest.
        self._held_by_role: dict[tuple[str, bool], list[int]] = {}
        self.state_counts: Counter[TaskState] = Counter()
        self.quota_use = QuotaUse()
        self.jobs: dict[JobKey, JobSpec] = {}
        self.agents: dict[str, StoredAgent] = {}
        self.quotas: dict[str, Quota] = {}
        self._updates: dict[str, JobUpdate] = {}
        self._job_updates: dict[JobKey, dict[str, None]] = {}
        self._active_updates: dict[JobKey, str] = {}
        self.cron: dict[JobKey, CronJob] = {}
        self.apply(Changes.everything_in(snapshot))

    def apply(self, changes: Changes) -> None:
        """Follow a batch of writes the store has made durable."""
        for task_id, task in changes.tasks.items():
            old = self.tasks.get(task_id)
            if task is None:
                if old is not None:
                    self._forget_task(old)
            else:
                self._put_task(old, task)
        for key_text, spec in changes.jobs.items():
            key = parse_job_key(key_text)
            if spec is None:
                self.jobs.pop(key, None)
            else:
                self.jobs[key] = spec
        for agent_id, agent in changes.agents.items():
            if agent is None:
                self.agents.pop(agent_id, None)
            else:
                self.agents[agent_id] = agent
        for role, quota in changes.quotas.items():
            if quota is None:
                self.quotas.pop(role, None)
            else:
                self.quotas[role] = quota
        for update_id, update in changes.updates.items():
            replaced = self._updates.pop(update_id, None)
            if replaced is not None:
                self._job_updates.get(replaced.job, {}).pop(update_id, None)
                if self._active_updates.get(replaced.job) == update_id:
                    del self._active_updates[replaced.job]
            if update is not None:
                self._updates[update_id] = update
                self._job_updates.setdefault(update.job, {})[update_id] = None
                if update.status in ACTIVE_UPDATE_STATUSES:
                    self._active_updates[update.job] = update_id
        for key_text, record in changes.cron.items():
            key = parse_job_key(key_text)
            if record is None:
                self.cron.pop(key, None)
            else:
                self.cron[key] = record

    # A changed task keeps its place in each dict (assigned again, not removed and added):
    # dicts that lose and regain keys keep the holes, and every walk over them pays for them.

    def _put_task(self, old: ScheduledTask | None, task: ScheduledTask) -> None:
        self.tasks[task.task_id] = task
        self._by_job.setdefault(task.job, {})[task.task_id] = None
        self.quota_use.change(old, task)
        if old is not None:
            self.state_counts[old.state] -= 1
            if old.agent_id is not None and self._occupies(old, old.agent_id):
                self._hold(old, -1)
            if old.agent_id is not None and not self._occupies(task, old.agent_id):
                self._by_agent.get(old.agent_id, {}).pop(task.task_id, None)
        if task.agent_id is not None and self._occupies(task, task.agent_id):
            self._by_agent.setdefault(task.agent_id, {})[task.task_id] = None
            self._hold(task, 1)
        self.state_counts[task.state] += 1

    def _hold(self, task: ScheduledTask, sign: int) -> None:
        resources = task.spec.task.resources
        amounts = (round(resources.cpu * 1000), resources.ram_mb, resources.disk_mb)
        role = (task.job.role, counts_against_quota(task.spec))
        for held in (self._held.setdefault(str(task.agent_id), [0, 0, 0]),
                     self._held_by_role.setdefault(role, [0, 0, 0])):  # fmt: skip
            for column, amount in enumerate(amounts):
                held[column] += sign * amount

    @staticmethod
    def _occupies(task: ScheduledTask, agent_id: str) -> bool:
        return task.agent_id == agent_id and task.state in AGENT_ASSIGNED_STATES

    def _forget_task(self, task: ScheduledTask) -> None:
        del self.tasks[task.task_id]
        self.quota_use.change(task, None)
        job_tasks = self._by_job[task.job]
        del job_tasks[task.task_id]
        if not job_tasks:
            del self._by_job[task.job]
        if task.agent_id is not None:
            self._by_agent.get(task.agent_id, {}).pop(task.task_id, None)
            if self._occupies(task, task.agent_id):
                self._hold(task, -1)
        self.state_counts[task.state] -= 1

    # Reading.

    def job_keys(self) -> list[JobKey]:
        """Every job with a config, a cron template or tasks, in key order."""
        return sorted(self.jobs.keys() | self.cron.keys() | self._by_job.keys(), key=str)

    def job_tasks(self, key: JobKey) -> list[ScheduledTask]:
        return [self.tasks[task_id] for task_id in self._by_job.get(key, ())]

    def held(self, agent_id: str | None = None) -> Aggregate:
        """What the tasks occupying `agent_id` (or every agent) hold."""
        rows = self._held.values() if agent_id is None else [self._held.get(agent_id, [0, 0, 0])]
        cpu, ram, disk = (sum(column) for column in zip(*rows, strict=True)) if rows else (0, 0, 0)
        return Aggregate(cpu / 1000, ram, disk)

    def held_by_role(self, role: str, production: bool) -> Aggregate:
        """What the role's tasks placed on agents hold; `production` as the quota counts it."""
        cpu, ram, disk = self._held_by_role.get((role, production), [0, 0, 0])
        return Aggregate(cpu / 1000, ram, disk)

    def agent_tasks(self, agent_id: str) -> list[ScheduledTask]:
        """The tasks occupying the agent."""
        return [self.tasks[task_id] for task_id in self._by_agent.get(agent_id, ())]

    def agent_task_count(self, agent_id: str) -> int:
        return len(self._by_agent.get(agent_id, ()))

    def roles(self) -> list[str]:
        return sorted(
            set(self.quotas) | {key.role for key in self._by_job} | {key.role for key in self.cron}
        )

    def update(self, update_id: str) -> JobUpdate:
        update = self._updates.get(update_id)
        if update is None:
            raise UnknownUpdateError(update_id)
        return update

    def updates(self) -> Iterable[JobUpdate]:
        return self._updates.values()

    def job_updates(self, key: JobKey) -> list[JobUpdate]:
        """The job's updates, newest first."""
        found = [self._updates[update_id] for update_id in self._job_updates.get(key, ())]
        return sorted(found, key=lambda u: u.created_ms, reverse=True)

    def active_update_count(self) -> int:
        return len(self._active_updates)

    def active_update(self, key: JobKey) -> JobUpdate | None:
        update_id = self._active_updates.get(key)
        return None if update_id is None else self._updates[update_id]

    def summarize(self, task: ScheduledTask) -> TaskSummary:
        reason = self.pending_reason(task.task_id) if task.state is TaskState.PENDING else None
        stored = None if task.agent_id is None else self.agents.get(task.agent_id)
        return TaskSummary.of(
            task, None if reason is None else str(reason), None if stored is None else stored.info
        )
