"""The job page, an instance's history and a task: a job's instances a page at a time, each
with why it is in its state, and the configs they run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from daybreak.core.jobs import JobNotFoundError
from daybreak.model.api import TaskSummary
from daybreak.model.cron import CronJobInfo
from daybreak.model.describe import describe
from daybreak.model.health import JobHealth
from daybreak.model.jobspec import JobKey, JobSpec, image_reference
from daybreak.model.task import ScheduledTask, last_message, log_process
from daybreak.model.task_state import ACTIVE_STATES, FAILED_STATES, TERMINAL_STATES, TaskState
from daybreak.model.tiers import tier_of
from daybreak.model.timeline import TimelineEntry, job_timeline
from daybreak.model.update import ConfigId, JobUpdate, UpdateSummary
from daybreak.scheduler import views
from daybreak.scheduler.read_model import ReadModel
from daybreak.scheduler.service import TaskNotFoundError
from daybreak.ui.pages import Paging, TaskCounts, count_tasks, since_ms


@dataclass(frozen=True)
class InstanceRow:
    summary: TaskSummary
    since_ms: int
    config: ConfigId
    # The letter of the instance's config group (A is the job's current config), or "-".
    config_label: str
    # Earlier runs of the instance the scheduler remembers, and how the last one failed.
    restarts: int = 0
    last_failure: str | None = None
    retry_at_ms: int | None = None  # a THROTTLED task's
    # Whose output the row links to: the task if it has been placed, else its instance's last
    # run; and which process: the one that failed, else the first.
    logs_task_id: str | None = None
    log_process: str = ""


@dataclass(frozen=True)
class ConfigGroup:
    label: str
    config: ConfigId
    instances: tuple[int, ...]
    description: str
    current: bool  # the job's config as last created or updated


@dataclass(frozen=True)
class JobPage:
    key: JobKey
    spec: JobSpec | None
    counts: TaskCounts
    show: str  # "active" or "finished"
    rows: list[InstanceRow]
    paging: Paging
    configs: list[ConfigGroup]
    updates: list[UpdateSummary]
    active_update: JobUpdate | None
    cron: CronJobInfo | None
    health: JobHealth
    # The shown tasks by state, and the state they are filtered to.
    states: dict[str, int] = field(default_factory=dict)
    state: str | None = None

    @property
    def production(self) -> bool:
        """As the quota counts it (the tier decides), not the config's flag alone."""
        return self.spec is not None and tier_of(self.spec).production

    @property
    def image(self) -> str | None:
        """The image its tasks run in, if they run in one."""
        return None if self.spec is None else image_reference(self.spec.container)


def job_page(
    view: ReadModel, key: JobKey, show: str, page: int, state: str | None = None
) -> JobPage:
    tasks = view.job_tasks(key)
    spec = views.job_spec(view, key)
    if not tasks and spec is None:
        raise JobNotFoundError(key)
    ids = view.config_ids
    current = None if spec is None else ids(spec)
    active = sorted((t for t in tasks if t.state in ACTIVE_STATES), key=lambda t: t.instance)
    configs = _config_groups(active, ids, current, spec)
    label_of = {group.config: group.label for group in configs}
    if show == "finished":
        listed = sorted(
            (t for t in tasks if t.state in TERMINAL_STATES), key=since_ms, reverse=True
        )
    else:
        listed = active
    states = Counter(task.state.name for task in listed)
    if state is not None:
        wanted = set(state.split(","))  # one state, or several: PENDING,THROTTLED
        listed = [task for task in listed if task.state.name in wanted]
    paging = Paging.of(len(listed), page)
    history = _instance_history(tasks)
    rows = []
    for task in paging.slice(listed):
        config = ids(task.spec)
        restarts, last_ended = history.get(task.instance, (0, None))
        shown_active = task.state in ACTIVE_STATES
        rows.append(
            InstanceRow(
                summary=view.summarize(task),
                since_ms=since_ms(task),
                config=config,
                config_label=label_of.get(config, "-"),
                restarts=restarts,
                last_failure=_failure(last_ended) if shown_active else None,
                retry_at_ms=view.throttled_until(task.task_id)
                if task.state is TaskState.THROTTLED
                else None,
                **_logs(task, last_ended),
            )
        )
    return JobPage(
        key=key,
        spec=spec,
        counts=count_tasks(tasks),
        show=show,
        rows=rows,
        paging=paging,
        configs=configs,
        updates=[UpdateSummary.of(update) for update in view.job_updates(key)],
        active_update=view.active_update(key),
        cron=_cron_info(view, key),
        health=views.job_health(view, key, tasks),
        states=dict(sorted(states.items())),
        state=state,
    )


def _instance_history(tasks: Iterable[ScheduledTask]) -> dict[int, tuple[int, ScheduledTask]]:
    """Per instance: how many of its runs ended, and the newest of them."""
    history: dict[int, tuple[int, ScheduledTask]] = {}
    for task in tasks:
        if task.state in TERMINAL_STATES:
            count, newest = history.get(task.instance, (0, task))
            if task.last_event_ms >= newest.last_event_ms:
                newest = task
            history[task.instance] = (count + 1, newest)
    return history


def _failure(task: ScheduledTask | None) -> str | None:
    if task is None or task.state not in FAILED_STATES:
        return None
    words = last_message(task.events)
    return f"last run {task.state.name}" + (f": {words}" if words else "")


def _logs(task: ScheduledTask, last_ended: ScheduledTask | None) -> dict[str, Any]:
    shown = task if task.agent_id is not None else last_ended
    if shown is None or shown.agent_id is None:
        return {}
    process = log_process(shown.events, shown.spec) or ""
    return {"logs_task_id": shown.task_id, "log_process": process}


def _cron_info(view: ReadModel, key: JobKey) -> CronJobInfo | None:
    record = view.cron.get(key)
    if record is None:
        return None
    return views.cron_info(view, record, record.last_trigger_ms)


def _config_groups(
    active: list[ScheduledTask],
    ids: Callable[[JobSpec], ConfigId],
    current: ConfigId | None,
    spec: JobSpec | None,
) -> list[ConfigGroup]:
    """Aurora's "Configuration" tab: the active instances grouped by the config they run."""
    instances: dict[ConfigId, list[int]] = {}
    specs: dict[ConfigId, JobSpec] = {}
    for task in active:
        config = ids(task.spec)
        instances.setdefault(config, []).append(task.instance)
        specs.setdefault(config, task.spec)
    if current is not None and spec is not None and current not in specs:
        instances[current], specs[current] = [], spec
    order = sorted(instances, key=lambda config: (config != current, min(instances[config] or [0])))
    return [
        ConfigGroup(
            label=chr(ord("A") + number) if number < 26 else str(number + 1),
            config=config,
            instances=tuple(instances[config]),
            description=describe(specs[config]),
            current=config == current,
        )
        for number, config in enumerate(order)
    ]


@dataclass(frozen=True)
class TimelinePage:
    key: JobKey
    entries: list[TimelineEntry]  # this page of them, newest first
    paging: Paging


def timeline_page(view: ReadModel, key: JobKey, page: int) -> TimelinePage:
    tasks = view.job_tasks(key)
    if not tasks and key not in view.jobs:
        raise JobNotFoundError(key)
    entries = job_timeline(tasks, view.job_updates(key))
    paging = Paging.of(len(entries), page)
    return TimelinePage(key, list(paging.slice(entries)), paging)


@dataclass(frozen=True)
class InstancePage:
    key: JobKey
    instance: int
    tasks: list[TaskSummary]  # newest first


def instance_page(view: ReadModel, key: JobKey, instance: int) -> InstancePage:
    tasks = [t for t in view.job_tasks(key) if t.instance == instance]
    if not tasks and key not in view.jobs:
        raise JobNotFoundError(key)
    tasks.sort(key=since_ms, reverse=True)
    return InstancePage(key, instance, [view.summarize(task) for task in tasks])


def task_of(view: ReadModel, key: JobKey, task_id: str) -> ScheduledTask:
    task = view.tasks.get(task_id)
    if task is None or task.job != key:
        raise TaskNotFoundError(task_id)
    return task
