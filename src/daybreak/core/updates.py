"""Job updates: the updater's decisions (`daybreak.core.updater`) over the cluster's tasks.

An update is started from a new config, evaluated on every scheduling round (each round follows
a task change of an updating job, and runs at least once a second), and changed by people's
operations. Its record is written with the task changes it caused, in the same transaction,
before any kill or launch goes out. Update ids come from the id source the shell injects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import msgspec

from daybreak.core import updater
from daybreak.core.cluster import Cluster
from daybreak.core.effects import Effect
from daybreak.core.update_status import ROLLING_STATUSES
from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model.jobspec import CountSlaPolicy, JobKey, JobSpec, PercentageSlaPolicy
from daybreak.model.records import Changes
from daybreak.model.task import ScheduledTask, running_since_ms
from daybreak.model.task_state import ACTIVE_STATES, TERMINAL_STATES
from daybreak.model.update import (
    ACTIVE_UPDATE_STATUSES,
    ConfigId,
    InstanceUpdateEvent,
    JobUpdate,
    UpdateEvent,
    UpdatePlan,
    UpdateProgress,
    UpdateStatus,
)

# How many ended updates a job keeps (Aurora's -job_update_history_per_job_threshold).
HISTORY_PER_JOB = 10


class JobUpdatingError(DaybreakError):
    """A change refused because the job has an active update."""

    def __init__(self, update: JobUpdate, what: str) -> None:
        super().__init__(
            f"cannot {what} job {update.job} while its update {update.update_id} is "
            f"{update.status}: wait for it (`daybreak update wait {update.job} "
            f"{update.update_id}`) or stop it (`daybreak update abort {update.job}`)"
        )


class NoActiveUpdateError(DaybreakError):
    def __init__(self, key: JobKey) -> None:
        super().__init__(
            f"job {key} has no active update: `daybreak update list {key}` shows its updates"
        )


class UnknownUpdateError(DaybreakError):
    def __init__(self, update_id: str) -> None:
        super().__init__(f"no update {update_id!r}: `daybreak update list CLUSTER` shows them")


def config_id(spec: JobSpec) -> ConfigId:
    """What a task runs, as Aurora's TaskConfig: the job's instance count is not part of it, so
    adding instances (an update to more, `job add`) leaves the others as they are."""
    task_config = msgspec.structs.replace(spec, instances=0)
    return hashlib.sha256(msgspec.json.encode(task_config)).hexdigest()[:16]


class ConfigIds:
    """Config ids of tasks' specs, each distinct spec object digested once."""

    def __init__(self) -> None:
        self._by_object: dict[int, tuple[JobSpec, ConfigId]] = {}

    def __call__(self, spec: JobSpec) -> ConfigId:
        known = self._by_object.get(id(spec))
        if known is None or known[0] is not spec:
            known = self._by_object[id(spec)] = (spec, config_id(spec))
        return known[1]


def instance_views(
    tasks: Iterable[ScheduledTask], ids: Callable[[JobSpec], ConfigId]
) -> dict[int, updater.InstanceView]:
    active: dict[int, updater.TaskRun] = {}
    ended: dict[int, list[updater.TaskRun]] = {}
    for task in tasks:
        running_since = running_since_ms(task)
        view = updater.TaskRun(task.task_id, ids(task.spec), task.state, running_since)
        if task.state in ACTIVE_STATES:
            active[task.instance] = view
        elif task.state in TERMINAL_STATES:
            ended.setdefault(task.instance, []).append(view)
    return {
        instance: updater.InstanceView(active.get(instance), tuple(ended.get(instance, ())))
        for instance in active.keys() | ended.keys()
    }


class JobUpdates:
    """Every update the scheduler knows, and the one active update of each job."""

    def __init__(self, new_update_id: Callable[[], str]) -> None:
        self.new_update_id = new_update_id
        self.records: dict[str, JobUpdate] = {}
        self.active: dict[JobKey, str] = {}
        self.ids = ConfigIds()

    def load(self, records: dict[str, JobUpdate]) -> None:
        self.records = dict(records)
        self.active = {
            update.job: update.update_id
            for update in records.values()
            if update.status in ACTIVE_UPDATE_STATUSES
        }

    def active_for(self, key: JobKey) -> JobUpdate | None:
        update_id = self.active.get(key)
        return None if update_id is None else self.records[update_id]

    def refuse_while_updating(self, key: JobKey, what: str) -> None:
        update = self.active_for(key)
        if update is not None:
            raise JobUpdatingError(update, what)

    def get(self, update_id: str) -> JobUpdate:
        update = self.records.get(update_id)
        if update is None:
            raise UnknownUpdateError(update_id)
        return update

    def of_job(self, key: JobKey) -> list[JobUpdate]:
        """The job's updates, newest first."""
        found = [u for u in self.records.values() if u.job == key]
        return sorted(found, key=lambda u: u.created_ms, reverse=True)

    # Starting.

    def plan(
        self, spec: JobSpec, tasks: Iterable[ScheduledTask], scope: Iterable[int] | None
    ) -> tuple[UpdatePlan, dict[ConfigId, JobSpec]] | None:
        """What updating the job's `tasks` to `spec` changes, or None if nothing."""
        if not spec.service:
            raise InvalidParameterError(
                f"job {spec.key} is not a service: updates are for services; kill the job "
                "and create it again to change it"
            )
        if spec.is_cron:
            raise InvalidParameterError(
                f"job {spec.key} is a cron job: its next run takes the config it is scheduled with"
            )
        if spec.update.sla_aware and not isinstance(
            spec.sla_policy, CountSlaPolicy | PercentageSlaPolicy
        ):
            raise InvalidParameterError(
                f"job {spec.key} asks for an SLA-aware update (update_config sla_aware) but has "
                f"{'no sla_policy' if spec.sla_policy is None else 'a coordinator sla_policy'}: "
                "give it a CountSlaPolicy or PercentageSlaPolicy"
            )
        current = {t.instance: t for t in tasks if t.state in ACTIVE_STATES}
        wanted = None if scope is None else set(scope)
        if wanted is not None:
            outside = sorted(wanted - current.keys() - set(range(spec.instances)))
            if outside:
                raise InvalidParameterError(
                    f"instances {outside} are neither in job {spec.key} nor in the new config "
                    f"(which has {spec.instances} instances)"
                )
        new_id = config_id(spec)
        configs = {new_id: spec}
        initial: dict[int, ConfigId] = {}
        for instance, task in current.items():
            if wanted is None or instance in wanted:
                initial[instance] = self.ids(task.spec)
                configs.setdefault(initial[instance], task.spec)
        desired = {
            instance: new_id
            for instance in range(spec.instances)
            if wanted is None or instance in wanted
        }
        if initial == desired:
            return None
        before = next((task.spec.sla_policy for task in current.values()), None)
        plan = UpdatePlan(
            initial=initial,
            desired=desired,
            settings=spec.update,
            sla_policy=spec.sla_policy,
            rollback_sla_policy=before or spec.sla_policy,
        )
        return plan, configs

    def begin(
        self,
        *,
        spec: JobSpec,
        plan: UpdatePlan,
        configs: dict[ConfigId, JobSpec],
        scope: Iterable[int] | None,
        user: str | None,
        message: str | None,
        now: int,
    ) -> JobUpdate:
        self.refuse_while_updating(spec.key, "update")
        progress = updater.start(plan)
        update = JobUpdate(
            update_id=self.new_update_id(),
            job=spec.key,
            user=user,
            created_ms=now,
            modified_ms=now,
            plan=plan,
            progress=progress,
            configs=configs,
            scope=None if scope is None else tuple(sorted(set(scope))),
            events=(UpdateEvent(timestamp_ms=now, status=progress.status, user=user,
                                message=message),),
        )  # fmt: skip
        self.records[update.update_id] = update
        self.active[spec.key] = update.update_id
        return update

    # Changing.

    def operate(
        self,
        key: JobKey,
        change: Callable[[UpdatePlan, UpdateProgress], UpdateProgress],
        user: str | None,
        message: str | None,
        now: int,
    ) -> JobUpdate:
        """Apply a person's operation to the job's active update."""
        update = self.active_for(key)
        if update is None:
            raise NoActiveUpdateError(key)
        progress = change(update.plan, update.progress)
        return self._record(update, progress, now, user=user, message=message)

    def _record(
        self,
        update: JobUpdate,
        progress: UpdateProgress,
        now: int,
        *,
        instance_events: Iterable[updater.InstanceEvent] = (),
        user: str | None = None,
        message: str | None = None,
    ) -> JobUpdate:
        events = update.events
        if progress.status is not update.status or message is not None:
            events = (*events, UpdateEvent(timestamp_ms=now, status=progress.status, user=user,
                                           message=message or progress.message))  # fmt: skip
        added = tuple(
            InstanceUpdateEvent(timestamp_ms=now, instance=e.instance, action=e.action)
            for e in instance_events
        )
        changed = msgspec.structs.replace(
            update,
            progress=progress,
            modified_ms=now,
            events=events,
            instance_events=update.instance_events + added,
        )
        self.records[update.update_id] = changed
        if changed.status not in ACTIVE_UPDATE_STATUSES:
            self.active.pop(update.job, None)
        return changed

    # Rolling.

    def evaluate(
        self, cluster: Cluster, jobs: dict[JobKey, JobSpec], now: int
    ) -> tuple[list[Effect], Changes, list[JobUpdate]]:
        """Move every rolling update on as far as its tasks allow. Returns the task effects,
        the records to write, and the updates that ended."""
        effects: list[Effect] = []
        changes = Changes()
        ended: list[JobUpdate] = []
        for update_id in list(self.active.values()):
            update = self.records[update_id]
            if update.status not in ROLLING_STATUSES:
                continue
            views = instance_views(cluster.job_tasks(update.job), self.ids)
            result = updater.evaluate(update.plan, update.progress, views, now)
            if result.kills:
                effects += cluster.kill_tasks(
                    [kill.task_id for kill in result.kills],
                    now,
                    f"Killed for job update {update.update_id}",
                )
            for add in result.adds:
                effects += cluster.add_instances(update.configs[add.config], [add.instance], now)
            if result.progress == update.progress and not result.events:
                continue
            changed = self._record(update, result.progress, now, instance_events=result.events)
            changes.updates.update(self.changes_for(changed))
            if changed.status not in ACTIVE_UPDATE_STATUSES:
                ended.append(changed)
            if (
                changed.status is UpdateStatus.ROLLED_FORWARD
                and changed.scope is None
                and changed.plan.desired
            ):
                # The whole job now runs the new config: it is the job's config from here on.
                spec = changed.configs[next(iter(changed.plan.desired.values()))]
                jobs[changed.job] = spec
                changes.jobs[str(changed.job)] = spec
        return effects, changes, ended

    def changes_for(self, update: JobUpdate) -> dict[str, JobUpdate | None]:
        """What to store after `update` changed: it, and the history an ended one pushes out."""
        changes: dict[str, JobUpdate | None] = {update.update_id: update}
        if update.status not in ACTIVE_UPDATE_STATUSES:
            changes.update(self._prune(update.job))
        return changes

    def _prune(self, key: JobKey) -> dict[str, JobUpdate | None]:
        ended = [u for u in self.of_job(key) if u.status not in ACTIVE_UPDATE_STATUSES]
        pruned: dict[str, JobUpdate | None] = {}
        for old in ended[HISTORY_PER_JOB:]:
            del self.records[old.update_id]
            pruned[old.update_id] = None
        return pruned
