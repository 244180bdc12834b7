"""What people ask of jobs, updates and quotas, decided: the rules of create, kill, restart,
add, update and set-quota.

Rules this module owns:

- A command is checked whole before anything changes: a refused command raises a
  `DaybreakError` and leaves the state exactly as it was.
- A job's key names this scheduler's cluster; a job with active instances is not created
  again; nothing but an update operation touches a job while its update is active.
- Quota is checked for the job as it would be, against the role's other jobs.
- Added instances are numbered after the highest the job has or had configured.
- A kill of every instance (or of the last active ones) removes the job's config: only its
  history remains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import msgspec

from daybreak.core import updater
from daybreak.core.cluster import Cluster
from daybreak.core.commands import (
    AddInstances,
    CreateJob,
    KillJob,
    OperateUpdate,
    RestartInstances,
    SetQuota,
    StartUpdate,
    UpdateAction,
)
from daybreak.core.effects import Effect
from daybreak.core.quota import Aggregate, check_quota
from daybreak.core.ready import Ready
from daybreak.core.settings import Settings
from daybreak.core.updates import JobUpdates
from daybreak.errors import ConfigError, DaybreakError, InvalidParameterError
from daybreak.model.api import Quota
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import ACTIVE_STATES, PLACED_STATES
from daybreak.model.update import UpdatePlan, UpdateProgress
from daybreak.model.validate import name_problem, validate_spec


class CronTemplates(Protocol):
    """The cron jobs (`daybreak.core.cron.CronJobs`), as far as these rules look at them."""

    @property
    def records(self) -> Mapping[JobKey, object]: ...


class SchedulerState(Protocol):
    """What these rules read and change of the scheduler's state (`daybreak.core.state`)."""

    cluster_name: str
    settings: Settings
    cluster: Cluster
    jobs: dict[JobKey, JobSpec]
    updates: JobUpdates
    quotas: dict[str, Quota]

    @property
    def cron(self) -> CronTemplates: ...

    def carry(self, effects: Iterable[Effect], ready: Ready) -> None: ...


class JobNotFoundError(DaybreakError):
    def __init__(self, key: JobKey) -> None:
        super().__init__(f"no job {key}: `daybreak job list {key.cluster}` shows the jobs")


class JobExistsError(DaybreakError):
    def __init__(self, key: JobKey) -> None:
        super().__init__(
            f"job {key} already has active instances: kill it first "
            f"(`daybreak job killall {key}`), or change it with an update"
        )


def active_tasks(
    state: SchedulerState, key: JobKey, instances: Iterable[int] | None = None
) -> list[ScheduledTask]:
    wanted = None if instances is None else set(instances)
    return [
        task
        for task in state.cluster.job_tasks(key)
        if task.state in ACTIVE_STATES and (wanted is None or task.instance in wanted)
    ]


def check_role_quota(state: SchedulerState, spec: JobSpec, instances: int) -> None:
    quota = state.quotas.get(spec.key.role)
    limit = None if quota is None else Aggregate(quota.cpu, quota.ram_mb, quota.disk_mb)
    used = state.cluster.quota_use.of_role(spec.key.role, excluding=spec.key)
    check_quota(spec, instances, used, limit)


def _known(state: SchedulerState, key: JobKey) -> None:
    if key not in state.jobs and key not in state.cron.records and not state.cluster.job_tasks(key):
        raise JobNotFoundError(key)


def _check_spec(state: SchedulerState, spec: JobSpec) -> None:
    """The same rules the client applies, and the cluster's limits: a request that did not
    come through the client (or came through an older one) gets no further."""
    settings = state.settings
    issues = validate_spec(spec, settings.max_instances_per_job, settings.allowed_job_environments)
    if issues:
        raise ConfigError.of(issues)


def check_new_spec(state: SchedulerState, spec: JobSpec) -> None:
    """A config for a new job (or cron job): valid, and for this cluster."""
    _check_spec(state, spec)
    key = spec.key
    if key.cluster != state.cluster_name:
        raise InvalidParameterError(
            f"job {key} names cluster {key.cluster!r}, but this scheduler runs cluster "
            f"{state.cluster_name!r}"
        )


def refuse_cron(state: SchedulerState, key: JobKey, what: str) -> None:
    if key in state.cron.records:
        raise InvalidParameterError(
            f"cannot {what} {key}: it is a cron job; change its template with "
            f"`daybreak cron schedule {key} FILE`, run it now with `daybreak cron start {key}`"
        )


def create_job(state: SchedulerState, command: CreateJob, now: int, ready: Ready) -> None:
    spec = command.spec
    key = spec.key
    check_new_spec(state, spec)
    if spec.is_cron:
        raise InvalidParameterError(
            f"job {key} has a cron schedule: schedule it with "
            f"`daybreak cron schedule {key} FILE` (`job create` would run it now)"
        )
    refuse_cron(state, key, "create")
    state.updates.refuse_while_updating(key, "create")
    if active_tasks(state, key):
        raise JobExistsError(key)
    check_role_quota(state, spec, spec.instances)
    state.carry(state.cluster.add_instances(spec, range(spec.instances), now), ready)
    state.jobs[key] = spec
    ready.writes.jobs[str(key)] = spec
    ready.log("job_created", job=key, instances=spec.instances)
    ready.wake(now)


def kill_job(state: SchedulerState, command: KillJob, now: int, ready: Ready) -> None:
    key = command.key
    _known(state, key)
    state.updates.refuse_while_updating(key, "kill instances of")
    tasks = active_tasks(state, key, command.instances)
    effects = state.cluster.kill_tasks(
        [task.task_id for task in tasks], now, command.message or "Killed by request"
    )
    state.carry(effects, ready)
    if command.instances is None or not active_tasks(state, key):
        # Nothing of the job is meant to run any more: only its history remains.
        state.jobs.pop(key, None)
        ready.writes.jobs[str(key)] = None
    ready.log("job_killed", job=key, tasks=len(tasks))
    ready.reply = [task.task_id for task in tasks]
    ready.wake(now)


def restart_instances(
    state: SchedulerState, command: RestartInstances, now: int, ready: Ready
) -> None:
    """Kill placed instances so that each comes back as a new task with the same config."""
    key = command.key
    if key not in state.jobs:
        raise JobNotFoundError(key)
    state.updates.refuse_while_updating(key, "restart")
    tasks = [t for t in active_tasks(state, key, command.instances) if t.state in PLACED_STATES]
    effects = state.cluster.restart_tasks(
        [task.task_id for task in tasks], now, command.message or "Restarted by request"
    )
    state.carry(effects, ready)
    ready.log("job_restarted", job=key, tasks=len(tasks))
    ready.reply = [task.task_id for task in tasks]
    ready.wake(now)


def add_instances(state: SchedulerState, command: AddInstances, now: int, ready: Ready) -> None:
    """Grow a job by `count` instances of its config, numbered after the highest."""
    key, count = command.key, command.count
    refuse_cron(state, key, "add instances to")
    spec = state.jobs.get(key)
    if spec is None:
        raise JobNotFoundError(key)
    if count < 1:
        raise InvalidParameterError(f"cannot add {count} instances; add at least 1")
    state.updates.refuse_while_updating(key, "add instances to")
    highest = max((t.instance for t in active_tasks(state, key)), default=-1)
    first = max(spec.instances, highest + 1)
    grown = msgspec.structs.replace(spec, instances=first + count)
    _check_spec(state, grown)
    check_role_quota(state, grown, grown.instances)
    added = list(range(first, first + count))
    state.carry(state.cluster.add_instances(grown, added, now), ready)
    state.jobs[key] = grown
    ready.writes.jobs[str(key)] = grown
    ready.log("instances_added", job=key, instances=added)
    ready.reply = added
    ready.wake(now)


def start_update(state: SchedulerState, command: StartUpdate, now: int, ready: Ready) -> None:
    """Roll the job to the new config (on the instances of `scope`, or all). The reply is the
    update, None if it would change nothing, or the plan alone for a dry run."""
    spec, scope = command.spec, command.scope
    _known(state, spec.key)
    refuse_cron(state, spec.key, "update")
    _check_spec(state, spec)
    planned = state.updates.plan(spec, state.cluster.job_tasks(spec.key), scope)
    if command.dry_run or planned is None:
        ready.reply = None if planned is None else planned[0]
        return
    plan, configs = planned
    check_role_quota(state, spec, max(spec.instances, len(active_tasks(state, spec.key))))
    update = state.updates.begin(
        spec=spec, plan=plan, configs=configs, scope=scope, user=command.user,
        message=command.message, now=now,
    )  # fmt: skip
    ready.writes.updates[update.update_id] = update
    ready.log("update_started", job=spec.key, update=update.update_id)
    ready.reply = update
    ready.wake(now)


Change = Callable[[UpdatePlan, UpdateProgress], UpdateProgress]


def _change(operation: UpdateAction, message: str | None, now: int) -> Change:
    changes: dict[UpdateAction, Change] = {
        UpdateAction.PAUSE: lambda _plan, progress: updater.pause(progress, message),
        UpdateAction.RESUME: lambda plan, progress: updater.resume(plan, progress, now, message),
        UpdateAction.ABORT: lambda _plan, progress: updater.abort(progress, message),
        UpdateAction.ROLLBACK: lambda _plan, progress: updater.rollback(progress, message),
        UpdateAction.PULSE: lambda _plan, progress: updater.pulse(progress, now),
    }
    return changes[operation]


def operate_update(state: SchedulerState, command: OperateUpdate, now: int, ready: Ready) -> None:
    """A person's operation on the job's active update (pause, resume, abort, ...)."""
    change = _change(command.action, command.message, now)
    update = state.updates.operate(command.key, change, command.user, command.message, now)
    ready.writes.updates.update(state.updates.changes_for(update))
    ready.log("update_operated", job=command.key, update=update.update_id,
              action=command.action, status=update.status)  # fmt: skip
    ready.reply = update
    ready.wake(now)


def set_quota(state: SchedulerState, command: SetQuota, now: int, ready: Ready) -> None:
    quota = command.quota
    problem = name_problem("role", command.role)
    if problem is not None:
        raise InvalidParameterError(problem)
    if min(quota.cpu, quota.ram_mb, quota.disk_mb) < 0:
        raise InvalidParameterError("a quota cannot be negative")
    state.quotas[command.role] = quota
    ready.writes.quotas[command.role] = quota
    ready.log("quota_set", role=command.role, quota=quota)
