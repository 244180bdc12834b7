"""Cron schedules in the five-field crontab syntax Aurora accepted.

`minute hour day-of-month month day-of-week`, each field `*`, a value, a range `a-b`, a step
`*/n` or `a-b/n`, or a comma-separated list of those; months and weekdays also by name
(`JAN`, `MON`). Day-of-week 7 is Sunday, like 0. As in Aurora, a schedule may restrict the day
of the month or the day of the week, not both: crontab would fire on either ("the 15th or any
Thursday"), which is rarely what its writer meant. This module checks that subset and says
where a schedule is wrong; the times it fires are `daybreak.core.cron`'s (on `cronsim`).

The records a cron job leaves in the store live here too: its template and its recent runs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NamedTuple

import msgspec

from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.units import is_number

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_start: int = 0


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("day of week", 0, 7, WEEKDAYS, 0),
)


class CronSyntaxError(ValueError):
    """A cron expression that does not parse; the message names the field and the fix."""


class CronSchedule(NamedTuple):
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday
    # Crontab rule: when both day fields are restricted, a day matching either one fires.
    day_of_month_restricted: bool
    day_of_week_restricted: bool


def _value(text: str, field: _Field) -> int:
    upper = text.upper()
    if upper in field.names:
        return field.names.index(upper) + field.names_start
    if not is_number(text):
        raise CronSyntaxError(f"{field.name}: {text!r} is not a number")
    number = int(text)
    if not field.low <= number <= field.high:
        raise CronSyntaxError(f"{field.name}: {number} is outside {field.low}-{field.high}")
    return number


def _parse_part(part: str, field: _Field) -> set[int]:
    base, _, step_text = part.partition("/")
    step = 1
    if step_text:
        if not is_number(step_text) or int(step_text) == 0:
            raise CronSyntaxError(f"{field.name}: step {step_text!r} must be a positive number")
        step = int(step_text)
    if base == "*":
        low, high = field.low, field.high
    elif "-" in base:
        start, _, end = base.partition("-")
        low, high = _value(start, field), _value(end, field)
        if low > high:
            raise CronSyntaxError(f"{field.name}: range {base!r} runs backwards")
    else:
        low = _value(base, field)
        high = field.high if step_text else low
    return set(range(low, high + 1, step))


def parse_cron(expression: str) -> CronSchedule:
    parts = expression.split()
    if len(parts) != len(FIELDS):
        raise CronSyntaxError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    values: list[frozenset[int]] = []
    for text, field in zip(parts, FIELDS, strict=True):
        chosen: set[int] = set()
        for part in text.split(","):
            if not part:
                raise CronSyntaxError(f"{field.name}: empty list element in {text!r}")
            chosen |= _parse_part(part, field)
        values.append(frozenset(chosen))
    weekdays = frozenset(day % 7 for day in values[4])
    if parts[2] != "*" and parts[4] != "*":
        raise CronSyntaxError(
            f"day of month ({parts[2]}) and day of week ({parts[4]}) are both restricted: "
            "cron would run on either, not on days that are both; set one of them to '*'"
        )
    return CronSchedule(
        values[0],
        values[1],
        values[2],
        values[3],
        weekdays,
        day_of_month_restricted=parts[2] != "*",
        day_of_week_restricted=parts[4] != "*",
    )


# What a cron job leaves in the store.


class CronRunStatus(StrEnum):
    WAITING = "WAITING"  # KILL_EXISTING: the previous run is being killed first
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"  # every instance finished
    FAILED = "FAILED"  # an instance failed (past its max_task_failures) or was lost
    KILLED = "KILLED"  # an instance was killed (by a person, or by the next run)
    SKIPPED = "SKIPPED"  # not run: CANCEL_NEW, or a trigger missed past the deadline


ENDED_RUN_STATUSES = frozenset(
    {CronRunStatus.SUCCEEDED, CronRunStatus.FAILED, CronRunStatus.KILLED, CronRunStatus.SKIPPED}
)

# schedule: the cron schedule's own time; manual: `cron start`; missed: a trigger that came
# while no scheduler led, run late on takeover.
CronCause = Literal["schedule", "manual", "missed"]


class CronRun(msgspec.Struct, frozen=True, kw_only=True):
    trigger_ms: int  # the time it was due (the schedule's), or asked for (a manual start)
    cause: CronCause
    status: CronRunStatus
    started_ms: int | None = None  # when its tasks were created
    ended_ms: int | None = None
    message: str | None = None  # why it was skipped, or how its instances ended


class CronJob(msgspec.Struct, frozen=True, kw_only=True):
    """A cron job: the template each run starts from, and what happened to its runs."""

    spec: JobSpec
    scheduled_ms: int  # when the template was last scheduled or replaced
    # The latest trigger handled (run, or skipped): the next one is the first after it. It is
    # written with the tasks a trigger creates, so that a takeover never runs one twice.
    last_trigger_ms: int
    runs: tuple[CronRun, ...] = ()  # oldest first, the latest few


# As the API serves them.


class CronJobInfo(msgspec.Struct, frozen=True, kw_only=True):
    key: JobKey
    schedule: str
    explanation: str  # the schedule in words: "At 02:15 on Monday through Friday"
    time_zone: str  # the scheduler's, which the schedule is read in
    collision_policy: str
    instances: int
    scheduled_ms: int
    next_runs_ms: tuple[int, ...]
    runs: tuple[CronRun, ...]  # oldest first
    spec: JobSpec


class CronList(msgspec.Struct, frozen=True, kw_only=True):
    cron_jobs: tuple[CronJobInfo, ...]
