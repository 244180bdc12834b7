"""Rolling a job from one set of configs to another, batch by batch (Aurora's updater).

An update is a plan (each instance's config before and after) and a progress record. `evaluate`
looks at the instances' tasks now and returns the new progress with what the shell must do:
old tasks to kill, new tasks to add, events to record, and when to look again. It is pure:
the shell calls it after every task change of the job, after a person's operation, and at the
time it asked for.

Rules, as Aurora had them:
- Instances are taken in order: ones to create, then to replace, then to remove, each by id;
  a rollback takes them in the reverse order.
- Queue keeps up to `batch_size` instances in flight; Batch starts a group only once the last
  one is done; VariableBatch is Batch with a size per group, the last size repeating. With
  `autopause_after_batch`, rolling forward pauses before every group after the first.
- An instance is done when its task with the target config has been RUNNING for `watch_secs`
  (the agent says RUNNING only once health checks pass). Every end of such a task counts as a
  failure of the instance; past `max_per_shard_failures` the instance has failed, and past
  `max_total_failures` failed instances the update has failed: it rolls back if
  `rollback_on_failure`, else it ends FAILED. A rollback that fails ends FAILED.
- With `pulse_interval_secs`, the update starts awaiting a pulse and stops to await one whenever
  the last pulse is older than the interval.
- With `sla_aware`, an old task is killed only if the job's SLA policy still holds without it:
  enough instances (a count, or a percentage of the job) RUNNING for the policy's duration.
  Otherwise the instance waits and is tried again at the next evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from daybreak.core.update_status import (
    FORWARD_STATUSES,
    ROLLING_STATUSES,
    aborted,
    check_transition,
    paused,
    pulsed,
    resumed,
    rolled_back,
)
from daybreak.model.jobspec import (
    BatchStrategy,
    CountSlaPolicy,
    PercentageSlaPolicy,
    QueueStrategy,
    SlaPolicy,
    VariableBatchStrategy,
)
from daybreak.model.task_state import BEING_KILLED_STATES, TaskState
from daybreak.model.update import (
    ConfigId,
    InstanceAction,
    InstanceProgress,
    InstanceStatus,
    UpdatePlan,
    UpdateProgress,
    UpdateStatus,
)

U = UpdateStatus
PULSE_TIMEOUT_MESSAGE = "Pulses from external service have timed out."
AUTO_PAUSE_MESSAGE = "Update auto paused"


# (working, succeeded, failed) actions by direction.
FORWARD_ACTIONS = (
    InstanceAction.INSTANCE_UPDATING,
    InstanceAction.INSTANCE_UPDATED,
    InstanceAction.INSTANCE_UPDATE_FAILED,
)
BACKWARD_ACTIONS = (
    InstanceAction.INSTANCE_ROLLING_BACK,
    InstanceAction.INSTANCE_ROLLED_BACK,
    InstanceAction.INSTANCE_ROLLBACK_FAILED,
)


@dataclass(frozen=True, slots=True)
class TaskRun:
    """One task of an instance, as the updater needs to see it."""

    task_id: str
    config: ConfigId
    state: TaskState
    running_since_ms: int | None = None  # when it last entered RUNNING


@dataclass(frozen=True, slots=True)
class InstanceView:
    active: TaskRun | None = None  # the instance's task that has not ended, if any
    ended: tuple[TaskRun, ...] = ()  # its ended tasks still in the history


@dataclass(frozen=True, slots=True)
class AddTask:
    instance: int
    config: ConfigId


@dataclass(frozen=True, slots=True)
class KillOldTask:
    instance: int
    task_id: str


@dataclass(frozen=True, slots=True)
class InstanceEvent:
    instance: int
    action: InstanceAction


@dataclass
class Evaluation:
    progress: UpdateProgress
    adds: list[AddTask] = field(default_factory=list)
    kills: list[KillOldTask] = field(default_factory=list)
    events: list[InstanceEvent] = field(default_factory=list)
    wake_at_ms: int | None = None

    def wake(self, at_ms: int) -> None:
        self.wake_at_ms = at_ms if self.wake_at_ms is None else min(self.wake_at_ms, at_ms)


def start(plan: UpdatePlan) -> UpdateProgress:
    """A new update's progress: rolling forward, or awaiting the first pulse."""
    status = (
        U.ROLL_FORWARD_AWAITING_PULSE if plan.settings.pulse_interval_secs else U.ROLLING_FORWARD
    )
    return UpdateProgress(
        status=status, instances=dict.fromkeys(plan.instances(), InstanceProgress())
    )


def pause(progress: UpdateProgress, message: str | None = None) -> UpdateProgress:
    return _moved(progress, paused(progress.status), message)


def resume(
    plan: UpdatePlan, progress: UpdateProgress, now: int, message: str | None = None
) -> UpdateProgress:
    target = resumed(progress.status, pulse_expired(plan, progress, now))
    return _moved(progress, target, message)


def abort(progress: UpdateProgress, message: str | None = None) -> UpdateProgress:
    return _moved(progress, aborted(progress.status), message)


def rollback(progress: UpdateProgress, message: str | None = None) -> UpdateProgress:
    rolled_back(progress.status)  # says why when the update cannot be rolled back
    return begin_rollback(progress, message)


def pulse(progress: UpdateProgress, now: int) -> UpdateProgress:
    """A pulse from the coordinating service: the update may go on until the interval passes."""
    status = pulsed(progress.status)
    return msgspec.structs.replace(progress, status=status, last_pulse_ms=now, message=None)


def pulse_expired(plan: UpdatePlan, progress: UpdateProgress, now: int) -> bool:
    interval = plan.settings.pulse_interval_secs
    if not interval:
        return False
    return progress.last_pulse_ms is None or now - progress.last_pulse_ms >= interval * 1000


_NOTHING_TO_UNDO = InstanceProgress(status=InstanceStatus.SUCCEEDED)


def begin_rollback(progress: UpdateProgress, message: str | None) -> UpdateProgress:
    """Turn the update around: every instance it touched goes back to its initial config."""
    touched = {
        i: InstanceProgress() if p.status is not InstanceStatus.IDLE else _NOTHING_TO_UNDO
        for i, p in progress.instances.items()
    }
    return msgspec.structs.replace(
        progress,
        status=check_transition(progress.status, U.ROLLING_BACK),
        instances=touched,
        groups_started=0,
        message=message,
    )


def evaluate(
    plan: UpdatePlan, progress: UpdateProgress, views: Mapping[int, InstanceView], now: int
) -> Evaluation:
    """Move the update on as far as the instances' tasks allow now."""
    result = Evaluation(progress)
    if progress.status not in ROLLING_STATUSES:
        return result
    if plan.settings.pulse_interval_secs:
        if pulse_expired(plan, progress, now):
            target = (
                U.ROLL_FORWARD_AWAITING_PULSE
                if progress.status in FORWARD_STATUSES
                else U.ROLL_BACK_AWAITING_PULSE
            )
            result.progress = _moved(progress, target, PULSE_TIMEOUT_MESSAGE)
            return result
        assert progress.last_pulse_ms is not None
        result.wake(progress.last_pulse_ms + plan.settings.pulse_interval_secs * 1000)
    _Pass(plan, views, now, result).run()
    return result


def _moved(progress: UpdateProgress, status: UpdateStatus, message: str | None) -> UpdateProgress:
    return msgspec.structs.replace(
        progress, status=check_transition(progress.status, status), message=message
    )


class _Pass:
    """One evaluation: settle the instances in flight, then start the next ones."""

    def __init__(
        self, plan: UpdatePlan, views: Mapping[int, InstanceView], now: int, result: Evaluation
    ) -> None:
        self.plan = plan
        self.settings = plan.settings
        self.views = views
        self.now = now
        self.result = result
        self.forward = result.progress.status is U.ROLLING_FORWARD
        self.targets = plan.desired if self.forward else plan.initial
        self.actions = FORWARD_ACTIONS if self.forward else BACKWARD_ACTIONS
        self.instances = dict(result.progress.instances)
        order = plan.instances()
        self.order = order if self.forward else order[::-1]
        policy = plan.sla_policy if self.forward else plan.rollback_sla_policy
        self.sla = (
            _SlaBudget(policy, plan, views, now) if self.settings.sla_aware and policy else None
        )

    def run(self) -> None:
        progress = self.result.progress
        for instance in self.order:
            if self.instances[instance].status is InstanceStatus.WORKING:
                self._settle(instance)
        failed = [i for i in self.order if self.instances[i].status is InstanceStatus.FAILED]
        if len(failed) > self.settings.max_total_failures:
            self._fail(failed[-1])
            return
        groups_started, paused = self._start_next(progress.groups_started)
        progress = msgspec.structs.replace(
            progress, instances=self.instances, groups_started=groups_started
        )
        if paused:
            progress = _moved(progress, U.ROLL_FORWARD_PAUSED, AUTO_PAUSE_MESSAGE)
            progress = msgspec.structs.replace(progress, autopaused_at=groups_started)
        elif all(p.status in (InstanceStatus.SUCCEEDED, InstanceStatus.FAILED)
                 for p in self.instances.values()):  # fmt: skip
            done = U.ROLLED_FORWARD if self.forward else U.ROLLED_BACK
            progress = _moved(progress, done, progress.message)  # a rollback keeps its reason
        self.result.progress = progress

    def _fail(self, latest: int) -> None:
        progress = msgspec.structs.replace(self.result.progress, instances=self.instances)
        message = f"Latest failure: instance {latest} exited."
        if self.forward and self.settings.rollback_on_failure:
            # The way back starts at once, from the same tasks: what the way forward asked
            # for in this evaluation has not been done and no longer should be.
            self.result.progress = begin_rollback(progress, message)
            self.result.adds.clear()
            self.result.kills.clear()
            _Pass(self.plan, self.views, self.now, self.result).run()
        else:
            self.result.progress = _moved(progress, U.FAILED, message)

    # Which instances go next.

    def _start_next(self, groups_started: int) -> tuple[int, bool]:
        """Start the next instances the strategy allows; returns the groups started so far
        and whether the update pauses before the next group instead."""
        idle = [i for i in self.order if self.instances[i].status is InstanceStatus.IDLE]
        working = sum(p.status is InstanceStatus.WORKING for p in self.instances.values())
        strategy = self.settings.strategy
        while idle:
            if isinstance(strategy, QueueStrategy):
                room = strategy.batch_size - working
                if room <= 0:
                    break
                group = idle[:room]
            else:
                if working:
                    break
                if self._autopause(strategy, groups_started):
                    return groups_started, True
                group = idle[: _group_size(strategy, groups_started)]
            groups_started += 1
            del idle[: len(group)]
            for instance in group:
                self._begin(instance)
                working += self.instances[instance].status is InstanceStatus.WORKING
        return groups_started, False

    def _autopause(
        self, strategy: BatchStrategy | VariableBatchStrategy, groups_started: int
    ) -> bool:
        return (
            self.forward
            and strategy.autopause_after_batch
            and groups_started > 0
            and groups_started != self.result.progress.autopaused_at
        )

    def _begin(self, instance: int) -> None:
        # Tasks that ended before the instance's turn are not its failures.
        ended = self.views.get(instance, InstanceView()).ended
        self.instances[instance] = InstanceProgress(
            status=InstanceStatus.WORKING, counted=tuple(t.task_id for t in ended)
        )
        self.result.events.append(InstanceEvent(instance, self.actions[0]))
        self._settle(instance)

    # One instance in flight.

    def _settle(self, instance: int) -> None:
        target = self.targets.get(instance)
        view = self.views.get(instance, InstanceView())
        progress = self._count_failures(self.instances[instance], target, view)
        if progress.failures > self.settings.max_per_shard_failures:
            self._finish(instance, progress, InstanceStatus.FAILED)
            return
        active = view.active
        if target is None:
            if active is None:
                self._finish(instance, progress, InstanceStatus.SUCCEEDED)
            else:
                self._kill(instance, active)
        elif active is None:
            self.result.adds.append(AddTask(instance, target))
        elif active.config != target:
            self._kill(instance, active)
        elif active.state is TaskState.RUNNING and active.running_since_ms is not None:
            healthy_at = active.running_since_ms + self.settings.watch_secs * 1000
            if self.now >= healthy_at:
                self._finish(instance, progress, InstanceStatus.SUCCEEDED)
            else:
                self.result.wake(healthy_at)
        if self.instances[instance].status is InstanceStatus.WORKING:  # not finished just now
            self.instances[instance] = progress

    def _count_failures(
        self, progress: InstanceProgress, target: ConfigId | None, view: InstanceView
    ) -> InstanceProgress:
        new = [t.task_id for t in view.ended
               if t.config == target and t.task_id not in progress.counted]  # fmt: skip
        if not new:
            return progress
        return msgspec.structs.replace(
            progress, failures=progress.failures + len(new), counted=(*progress.counted, *new)
        )

    def _kill(self, instance: int, active: TaskRun) -> None:
        if active.state in BEING_KILLED_STATES:
            return
        if self.sla is not None and not self.sla.take(instance):
            self.result.wake(self.now + SLA_RETRY_MS)
            return
        self.result.kills.append(KillOldTask(instance, active.task_id))

    def _finish(self, instance: int, progress: InstanceProgress, status: InstanceStatus) -> None:
        self.instances[instance] = msgspec.structs.replace(progress, status=status)
        action = self.actions[1] if status is InstanceStatus.SUCCEEDED else self.actions[2]
        self.result.events.append(InstanceEvent(instance, action))


def _group_size(strategy: BatchStrategy | VariableBatchStrategy, groups_started: int) -> int:
    if isinstance(strategy, BatchStrategy):
        return strategy.batch_size
    sizes = strategy.batch_sizes
    return sizes[min(groups_started, len(sizes) - 1)]


# How soon an instance held back by the SLA policy is tried again.
SLA_RETRY_MS = 1000


class _SlaBudget:
    """How many more instances this evaluation may take down without breaking the policy."""

    def __init__(
        self, policy: SlaPolicy, plan: UpdatePlan, views: Mapping[int, InstanceView], now: int
    ) -> None:
        duration_ms = _duration_secs(policy) * 1000
        self.healthy = {
            instance
            for instance, view in views.items()
            if view.active is not None
            and view.active.state is TaskState.RUNNING
            and view.active.running_since_ms is not None
            and now - view.active.running_since_ms >= duration_ms
        }
        # The job's instances: those running, and those the update is replacing or adding
        # (which may have no task at this moment).
        serving = {instance for instance, view in views.items() if view.active is not None}
        total = len(serving | plan.initial.keys() | plan.desired.keys())
        if isinstance(policy, CountSlaPolicy):
            self.minimum = policy.count
        elif isinstance(policy, PercentageSlaPolicy):
            self.minimum = math.ceil(total * policy.percentage / 100)
        else:  # a coordinator is asked by the shell, not here
            self.minimum = 0

    def take(self, instance: int) -> bool:
        """Whether `instance` may go down now: the others meet the policy without it (as
        Aurora checked, even when the instance itself is not up yet). If so, it counts as
        down from here on."""
        remaining = self.healthy - {instance}
        if len(remaining) < self.minimum:
            return False
        self.healthy = remaining
        return True


def _duration_secs(policy: SlaPolicy) -> int:
    return policy.duration_secs if isinstance(policy, CountSlaPolicy | PercentageSlaPolicy) else 0
