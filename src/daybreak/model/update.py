"""Job updates as stored and served: the plan, its progress and its history.

The decisions about them are `daybreak.core.updater`'s and `daybreak.core.update_status`'s;
these are the records those decisions produce, shared with the store, the API and the CLI.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from daybreak.model.jobspec import JobKey, JobSpec, SlaPolicy, UpdateSettings

# Identifies an instance's config: a digest of the instance's JobSpec.
ConfigId = str


class UpdateStatus(StrEnum):
    ROLLING_FORWARD = "ROLLING_FORWARD"
    ROLLING_BACK = "ROLLING_BACK"
    ROLL_FORWARD_PAUSED = "ROLL_FORWARD_PAUSED"
    ROLL_BACK_PAUSED = "ROLL_BACK_PAUSED"
    ROLLED_FORWARD = "ROLLED_FORWARD"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"
    ERROR = "ERROR"
    FAILED = "FAILED"
    ROLL_FORWARD_AWAITING_PULSE = "ROLL_FORWARD_AWAITING_PULSE"
    ROLL_BACK_AWAITING_PULSE = "ROLL_BACK_AWAITING_PULSE"


# Rolling, paused or awaiting a pulse: the statuses of a job's one update that is not over.
ACTIVE_UPDATE_STATUSES = frozenset({
    UpdateStatus.ROLLING_FORWARD, UpdateStatus.ROLLING_BACK,
    UpdateStatus.ROLL_FORWARD_PAUSED, UpdateStatus.ROLL_BACK_PAUSED,
    UpdateStatus.ROLL_FORWARD_AWAITING_PULSE, UpdateStatus.ROLL_BACK_AWAITING_PULSE,
})  # fmt: skip


class InstanceStatus(StrEnum):
    IDLE = "IDLE"
    WORKING = "WORKING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class InstanceAction(StrEnum):
    INSTANCE_UPDATING = "INSTANCE_UPDATING"
    INSTANCE_UPDATED = "INSTANCE_UPDATED"
    INSTANCE_UPDATE_FAILED = "INSTANCE_UPDATE_FAILED"
    INSTANCE_ROLLING_BACK = "INSTANCE_ROLLING_BACK"
    INSTANCE_ROLLED_BACK = "INSTANCE_ROLLED_BACK"
    INSTANCE_ROLLBACK_FAILED = "INSTANCE_ROLLBACK_FAILED"


class UpdatePlan(msgspec.Struct, frozen=True, kw_only=True):
    """What the update changes: instance -> config before, and after (absent: no instance)."""

    initial: dict[int, ConfigId]
    desired: dict[int, ConfigId]
    settings: UpdateSettings
    # With `settings.sla_aware`: the policy no kill of the update may break (the new config's
    # on the way forward, the old one's on the way back).
    sla_policy: SlaPolicy | None = None
    rollback_sla_policy: SlaPolicy | None = None

    def instances(self) -> list[int]:
        """The instances the update touches, in Aurora's order for rolling forward."""
        touched = sorted(
            i for i in self.initial.keys() | self.desired.keys()
            if self.initial.get(i) != self.desired.get(i)
        )  # fmt: skip
        create = [i for i in touched if i not in self.initial]
        remove = [i for i in touched if i not in self.desired]
        replace = [i for i in touched if i in self.initial and i in self.desired]
        return create + replace + remove


class InstanceProgress(msgspec.Struct, frozen=True, kw_only=True):
    status: InstanceStatus = InstanceStatus.IDLE
    failures: int = 0
    # Ends of tasks already counted as failures, so that one end counts once.
    counted: tuple[str, ...] = ()


class UpdateProgress(msgspec.Struct, frozen=True, kw_only=True):
    status: UpdateStatus
    instances: dict[int, InstanceProgress]
    groups_started: int = 0
    # The group count when the update last paused itself: after a resume, that group starts.
    autopaused_at: int | None = None
    last_pulse_ms: int | None = None
    message: str | None = None


class UpdateEvent(msgspec.Struct, frozen=True, kw_only=True):
    timestamp_ms: int
    status: UpdateStatus
    user: str | None = None
    message: str | None = None


class InstanceUpdateEvent(msgspec.Struct, frozen=True, kw_only=True):
    timestamp_ms: int
    instance: int
    action: InstanceAction


class JobUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One update of a job, whole: what the store keeps and `update info` shows."""

    update_id: str
    job: JobKey
    user: str | None = None
    created_ms: int
    modified_ms: int
    plan: UpdatePlan
    progress: UpdateProgress
    # The configs the plan's ids stand for: the job's from before, and the new one.
    configs: dict[ConfigId, JobSpec]
    # The instances the update was limited to (`update start KEY/0-1`), or None for all.
    scope: tuple[int, ...] | None = None
    events: tuple[UpdateEvent, ...] = ()
    instance_events: tuple[InstanceUpdateEvent, ...] = ()

    @property
    def status(self) -> UpdateStatus:
        return self.progress.status

    def untouched(self) -> set[int]:
        """Instances counted done that the update never acted on: already as wanted (the
        instances a rollback never had to undo, say)."""
        acted = {event.instance for event in self.instance_events}
        return {
            instance
            for instance, progress in self.progress.instances.items()
            if progress.status is InstanceStatus.SUCCEEDED and instance not in acted
        }


class UpdateSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of `update list`, and what an update operation answers."""

    update_id: str
    job: JobKey
    status: UpdateStatus
    user: str | None = None
    created_ms: int
    modified_ms: int
    message: str | None = None
    # Instances of the update by their status in the current direction; those it never had
    # to change (already as wanted) are counted apart, not as done.
    instances: dict[InstanceStatus, int] = msgspec.field(default_factory=dict)
    untouched: int = 0

    @classmethod
    def of(cls, update: JobUpdate) -> UpdateSummary:
        counts: dict[InstanceStatus, int] = {}
        untouched = update.untouched()
        for instance, progress in update.progress.instances.items():
            if instance not in untouched:
                counts[progress.status] = counts.get(progress.status, 0) + 1
        return cls(
            update_id=update.update_id,
            job=update.job,
            status=update.status,
            user=update.user,
            created_ms=update.created_ms,
            modified_ms=update.modified_ms,
            message=update.progress.message,
            instances=counts,
            untouched=len(untouched),
        )


class UpdateList(msgspec.Struct, frozen=True, kw_only=True):
    updates: tuple[UpdateSummary, ...]


class UpdateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    spec: JobSpec
    # Only these instances (a canary), or None for the whole job.
    instances: tuple[int, ...] | None = None
    message: str | None = None


class InstanceChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What an update does to each instance, in the order it does it."""

    add: tuple[int, ...] = ()
    update: tuple[int, ...] = ()
    remove: tuple[int, ...] = ()

    @classmethod
    def of(cls, plan: UpdatePlan) -> InstanceChanges:
        touched = plan.instances()
        return cls(
            add=tuple(i for i in touched if i not in plan.initial),
            update=tuple(i for i in touched if i in plan.initial and i in plan.desired),
            remove=tuple(i for i in touched if i not in plan.desired),
        )


class UpdateStarted(msgspec.Struct, frozen=True, kw_only=True):
    # None when the new config changes nothing, or for a dry run: no update was made.
    update: UpdateSummary | None
    message: str
    changes: InstanceChanges = InstanceChanges()


class UpdateOperation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    message: str | None = None
