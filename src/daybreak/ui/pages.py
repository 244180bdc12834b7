"""What each page shows, read from the read model (the state as committed) in one pass: the
templates only lay it out. Lists that grow with the cluster (instances, finished tasks, agents)
come a page at a time, so a job of 10,000 instances costs what a page of it costs to render."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from daybreak.core.quota import Aggregate, per_task
from daybreak.model.api import QuotaReport
from daybreak.model.health import Health, JobHealth
from daybreak.model.jobspec import JobKey, JobSpec, Resources
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES, FAILED_STATES, TERMINAL_STATES, TaskState
from daybreak.model.tiers import tier_of
from daybreak.model.update import JobUpdate
from daybreak.scheduler import views
from daybreak.scheduler.read_model import ReadModel

T = TypeVar("T")

PAGE_SIZE = 100
RECENT_UPDATES = 50
WAITING_STATES = frozenset({TaskState.PENDING, TaskState.THROTTLED})


@dataclass(frozen=True)
class Paging:
    page: int  # from 1
    pages: int
    total: int

    @classmethod
    def of(cls, total: int, requested: int, size: int = PAGE_SIZE) -> Paging:
        pages = max(1, math.ceil(total / size))
        return cls(page=min(max(1, requested), pages), pages=pages, total=total)

    def slice(self, items: Sequence[T], size: int = PAGE_SIZE) -> Sequence[T]:
        start = (self.page - 1) * size
        return items[start : start + size]


@dataclass
class TaskCounts:
    """A job's (or a role's) tasks by what they are doing."""

    pending: int = 0
    running: int = 0
    other_active: int = 0  # assigned, starting, being killed, partitioned
    finished: int = 0
    failed: int = 0  # FAILED or LOST among the finished

    @property
    def active(self) -> int:
        return self.pending + self.running + self.other_active

    def add(self, state: TaskState) -> None:
        if state in WAITING_STATES:
            self.pending += 1
        elif state is TaskState.RUNNING:
            self.running += 1
        elif state in ACTIVE_STATES:
            self.other_active += 1
        elif state in TERMINAL_STATES:
            self.finished += 1
            if state in FAILED_STATES:
                self.failed += 1

    def __iadd__(self, other: TaskCounts) -> TaskCounts:
        self.pending += other.pending
        self.running += other.running
        self.other_active += other.other_active
        self.finished += other.finished
        self.failed += other.failed
        return self


def count_tasks(tasks: Iterable[ScheduledTask]) -> TaskCounts:
    counts = TaskCounts()
    for task in tasks:
        counts.add(task.state)
    return counts


def since_ms(task: ScheduledTask) -> int:
    """When the task entered its current state."""
    return task.events[-1].timestamp_ms if task.events else 0


# Home and role pages.


@dataclass(frozen=True)
class JobRow:
    key: JobKey
    spec: JobSpec | None  # its config, or its cron template
    counts: TaskCounts
    update: JobUpdate | None  # the job's active update
    health: JobHealth
    next_cron_run_ms: int | None = None  # a cron job's

    @property
    def production(self) -> bool:
        """As the quota counts it (the tier decides), not the config's flag alone."""
        return self.spec is not None and tier_of(self.spec).production


@dataclass
class RoleRow:
    role: str
    jobs: int = 0
    cron_jobs: int = 0
    attention: int = 0  # jobs that need it
    counts: TaskCounts = field(default_factory=TaskCounts)


def job_rows(view: ReadModel, role: str | None = None, env: str | None = None) -> list[JobRow]:
    rows = []
    for key in view.job_keys():
        if (role is None or key.role == role) and (env is None or key.environment == env):
            tasks = view.job_tasks(key)
            rows.append(
                JobRow(
                    key=key,
                    spec=views.job_spec(view, key),
                    counts=count_tasks(tasks),
                    update=view.active_update(key),
                    health=views.job_health(view, key, tasks),
                    next_cron_run_ms=views.next_cron_run_ms(view, key),
                )
            )
    return rows


@dataclass(frozen=True)
class Home:
    roles: list[RoleRow]
    attention: list[JobRow]  # the jobs that need it, the most urgent first
    agents_online: int
    agents: int
    free: Aggregate  # what the agents offer and active tasks do not hold
    offered: Aggregate
    updates_running: int


def home_page(view: ReadModel) -> Home:
    rows = {role: RoleRow(role) for role in view.roles()}
    attention = []
    for job in job_rows(view):
        row = rows.setdefault(job.key.role, RoleRow(job.key.role))
        row.jobs += 1
        row.cron_jobs += job.next_cron_run_ms is not None
        row.counts += job.counts
        if job.health.needs_attention:
            row.attention += 1
            attention.append(job)
    order = list(Health)
    attention.sort(key=lambda job: (order.index(job.health.health), str(job.key)))
    agents = views.agent_summaries(view)
    offered = sum((offered_by(agent.resources) for agent in agents), Aggregate())
    allocated = view.held()
    return Home(
        roles=[rows[role] for role in sorted(rows)],
        attention=attention,
        agents_online=sum(agent.online for agent in agents),
        agents=len(agents),
        free=offered - allocated,
        offered=offered,
        updates_running=view.active_update_count(),
    )


@dataclass(frozen=True)
class RolePage:
    role: str
    environment: str | None
    groups: list[tuple[Health, list[JobRow]]]  # by health, in the order of `Health`
    quota: QuotaReport


def role_page(view: ReadModel, role: str, environment: str | None) -> RolePage:
    views.known_role(view, role)
    groups: dict[Health, list[JobRow]] = {health: [] for health in Health}
    for row in job_rows(view, role, environment):
        groups[row.health.health].append(row)
    return RolePage(
        role=role,
        environment=environment,
        groups=[(health, rows) for health, rows in groups.items() if rows],
        quota=views.quota_report(view, role),
    )


# Agents, utilization and quotas.


def offered_by(resources: Resources) -> Aggregate:
    return Aggregate(resources.cpu, resources.ram_mb, resources.disk_mb)


def _allocated_by(view: ReadModel, key: Callable[[ScheduledTask], str]) -> dict[str, Aggregate]:
    """What the active tasks placed on agents hold, summed by `key` (their agent, their role)."""
    totals: dict[str, Aggregate] = {}
    for task in view.tasks.values():
        if task.agent_id is not None and task.state in ACTIVE_STATES:
            totals[key(task)] = totals.get(key(task), Aggregate()) + per_task(task.spec)
    return totals


@dataclass(frozen=True)
class Utilization:
    offered: Aggregate  # by online agents
    by_role: list[tuple[str, Aggregate]]  # allocated, largest cpu first
    allocated: Aggregate

    @property
    def free(self) -> Aggregate:
        return self.offered - self.allocated


def utilization(view: ReadModel) -> Utilization:
    offered = Aggregate()
    for agent in views.agent_summaries(view):
        if agent.online:
            offered += offered_by(agent.resources)
    roles = _allocated_by(view, lambda task: task.job.role)
    by_role = sorted(roles.items(), key=lambda item: (-item[1].cpu, item[0]))
    allocated = sum((usage for _, usage in by_role), Aggregate())
    return Utilization(offered=offered, by_role=by_role, allocated=allocated)


def quota_reports(view: ReadModel) -> list[QuotaReport]:
    return [views.quota_report(view, role) for role in view.roles()]


# Search.

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class SearchPage:
    query: str
    roles: list[str]
    jobs: list[JobKey]
    agents: list[tuple[str, str]]  # (agent id, hostname)
    tasks: list[ScheduledTask]


def search(view: ReadModel, query: str) -> SearchPage:
    """Roles, jobs, agents and tasks whose name holds `query` (a task: whose id does), at most
    SEARCH_LIMIT of each."""
    words = query.strip().lower()
    if not words:
        return SearchPage(query, [], [], [], [])
    roles = [role for role in view.roles() if words in role.lower()]
    jobs = [key for key in view.job_keys() if words in str(key).lower()]
    agents = [(agent_id, stored.info.hostname) for agent_id, stored in sorted(view.agents.items())
              if words in agent_id.lower() or words in stored.info.hostname.lower()]  # fmt: skip
    tasks = [task for task_id, task in view.tasks.items() if words in task_id.lower()]
    return SearchPage(query, roles[:SEARCH_LIMIT], jobs[:SEARCH_LIMIT], agents[:SEARCH_LIMIT],
                      tasks[:SEARCH_LIMIT])  # fmt: skip
