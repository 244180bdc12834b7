"""What an update changes and how long it has left, for its page and the CLI: the config diff
from each config the job ran to the one it updates to, and an estimate of the time left from
the instances it has finished so far (or, before any has, its watch time)."""

from __future__ import annotations

import difflib
import math
import statistics

import msgspec

from daybreak.model.jobspec import JobSpec, VariableBatchStrategy
from daybreak.model.update import (
    ACTIVE_UPDATE_STATUSES,
    ConfigId,
    InstanceAction,
    InstanceStatus,
    JobUpdate,
    UpdateStatus,
)

PAUSED = frozenset({
    UpdateStatus.ROLL_FORWARD_PAUSED, UpdateStatus.ROLL_BACK_PAUSED,
    UpdateStatus.ROLL_FORWARD_AWAITING_PULSE, UpdateStatus.ROLL_BACK_AWAITING_PULSE,
})  # fmt: skip
STARTED = (InstanceAction.INSTANCE_UPDATING, InstanceAction.INSTANCE_ROLLING_BACK)
FINISHED = (InstanceAction.INSTANCE_UPDATED, InstanceAction.INSTANCE_ROLLED_BACK)


def spec_lines(spec: JobSpec | None) -> list[str]:
    """A config as the lines a diff compares: its JSON, two-space indented, keys in order."""
    if spec is None:
        return []
    return msgspec.json.format(msgspec.json.encode(spec), indent=2).decode().splitlines()


def spec_diff(old: JobSpec | None, new: JobSpec | None, old_name: str, new_name: str) -> list[str]:
    """The unified diff from `old` to `new`; empty when they are the same."""
    return list(difflib.unified_diff(spec_lines(old), spec_lines(new), old_name, new_name,
                                     lineterm=""))  # fmt: skip


class ConfigChange(msgspec.Struct, frozen=True, kw_only=True):
    """Instances that go from one config to another (either may be None: added or removed)."""

    instances: tuple[int, ...]
    before: ConfigId | None
    after: ConfigId | None
    diff: tuple[str, ...] = ()


def config_changes(update: JobUpdate) -> list[ConfigChange]:
    """The update's changes, grouped by (config before, config after), largest first."""
    plan = update.plan
    groups: dict[tuple[ConfigId | None, ConfigId | None], list[int]] = {}
    for instance in plan.instances():
        pair = (plan.initial.get(instance), plan.desired.get(instance))
        groups.setdefault(pair, []).append(instance)
    changes = []
    for (before, after), instances in groups.items():
        diff: tuple[str, ...] = ()
        if before is not None and after is not None:
            diff = tuple(spec_diff(update.configs.get(before), update.configs.get(after),
                                   f"config {before}", f"config {after}"))  # fmt: skip
        changes.append(ConfigChange(instances=tuple(sorted(instances)), before=before,
                                    after=after, diff=diff))  # fmt: skip
    return sorted(changes, key=lambda change: (-len(change.instances), change.instances))


class TimeLeft(msgspec.Struct, frozen=True, kw_only=True):
    remaining: int  # instances not done yet
    per_instance_ms: int  # how long one takes, as seen so far (or the watch time)
    parallel: int  # how many the strategy works on at once
    left_ms: int
    measured: bool  # from instances done; False: only the watch time, so at least this
    done: int


def time_left(update: JobUpdate, now: int) -> TimeLeft | None:
    """How long the update may still take, while it rolls (None when over or paused)."""
    if update.status not in ACTIVE_UPDATE_STATUSES or update.status in PAUSED:
        return None
    started: dict[int, int] = {}
    took: list[int] = []
    for event in update.instance_events:
        if event.action in STARTED:
            started[event.instance] = event.timestamp_ms
        elif event.action in FINISHED and event.instance in started:
            took.append(event.timestamp_ms - started.pop(event.instance))
    statuses = update.progress.instances
    untouched = update.untouched()
    waiting = [i for i in update.plan.instances()
               if statuses.get(i) is None or statuses[i].status is InstanceStatus.IDLE]  # fmt: skip
    working = [i for i, p in statuses.items()
               if p.status is InstanceStatus.WORKING and i not in untouched]  # fmt: skip
    watch_ms = update.plan.settings.watch_secs * 1000
    per_instance_ms = round(statistics.median(took)) if took else watch_ms
    parallel = _parallel(update)
    in_flight_ms = max((per_instance_ms - (now - started.get(i, now)) for i in working), default=0)
    left_ms = max(0, in_flight_ms) + math.ceil(len(waiting) / parallel) * per_instance_ms
    return TimeLeft(remaining=len(waiting) + len(working), per_instance_ms=per_instance_ms,
                    parallel=parallel, left_ms=left_ms, measured=bool(took),
                    done=len(took))  # fmt: skip


def _parallel(update: JobUpdate) -> int:
    strategy = update.plan.settings.strategy
    if isinstance(strategy, VariableBatchStrategy):
        sizes = strategy.batch_sizes
        return max(1, sizes[min(update.progress.groups_started, len(sizes) - 1)])
    return max(1, strategy.batch_size)
