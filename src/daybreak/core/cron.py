"""Cron jobs, as Aurora ran them: a template that starts a run of the whole job when its schedule
says so, decided on the core's clock.

Rules this module owns:

- A run starts all of the template's instances. If the previous run still has active tasks, the
  collision policy decides: KILL_EXISTING kills them and starts the new run once they are gone
  (checked with Aurora's backoff, 5 s doubling to 1 min; triggers meanwhile are ignored);
  CANCEL_NEW skips the new run.
- Each trigger is handled once. The trigger a run answers is written with the run's tasks, in
  one transaction, so a scheduler that takes over never runs it again. A trigger that fell while
  no scheduler led runs late on takeover if it is less than `cron_start_deadline_ms` old (only
  the latest, once: Kubernetes' `startingDeadlineSeconds`); an older one is recorded as skipped.
- Times are the schedule's in the scheduler's time zone (`Settings.cron_zone`): a time that a
  daylight-saving jump skips runs at the first minute after it, and a time that it repeats runs
  once (`cronsim`'s rules, Debian cron's).
- A run ends when the job has no active task: SUCCEEDED if every instance finished, KILLED if
  one was killed, FAILED otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from itertools import islice
from typing import NamedTuple, Protocol

import msgspec
from cronsim import CronSim, CronSimError

from daybreak.core import jobs
from daybreak.core.commands import DescheduleCron, ScheduleCron, StartCron
from daybreak.core.jobs import check_new_spec, check_role_quota
from daybreak.core.ready import Ready
from daybreak.core.settings import Settings
from daybreak.errors import ConfigError, DaybreakError, InvalidParameterError
from daybreak.model.cron import CronCause, CronJob, CronRun, CronRunStatus
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TaskState
from daybreak.model.tiers import check_tier

Run = CronRunStatus


class Due(NamedTuple):
    """A run asked for: by the schedule at `at_ms`, or by a person then."""

    at_ms: int
    cause: CronCause

    def handled(self, record: CronJob) -> CronJob:
        """The record with this trigger handled: the schedule's next one comes after it (a
        manual start leaves the schedule be)."""
        if self.cause == "manual" or self.at_ms <= record.last_trigger_ms:
            return record
        return msgspec.structs.replace(record, last_trigger_ms=self.at_ms)


class SchedulerState(jobs.SchedulerState, Protocol):
    """What cron reads and changes of the scheduler's state (`daybreak.core.state`): what the
    job rules do, and the cron jobs whole."""

    @property
    def cron(self) -> CronJobs: ...


class NotCronError(DaybreakError):
    def __init__(self, key: JobKey) -> None:
        super().__init__(
            f"no cron job {key}: `daybreak cron schedule {key} FILE` schedules one, and "
            f"`daybreak job list {key.cluster}` shows the jobs"
        )


# -- when a schedule fires ---------------------------------------------------------------------


def _at(ms: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, zone)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def triggers_after(expression: str, after_ms: int, zone: tzinfo) -> Iterator[int]:
    """The schedule's times strictly after `after_ms`, in order, forever."""
    return (_ms(moment) for moment in CronSim(expression, _at(after_ms, zone)))


def next_trigger_ms(expression: str, after_ms: int, zone: tzinfo) -> int:
    return next(triggers_after(expression, after_ms, zone))


def latest_trigger_ms(expression: str, at_ms: int, zone: tzinfo) -> int:
    """The schedule's last time at or before `at_ms`."""
    return _ms(next(CronSim(expression, _at(at_ms + 1, zone), reverse=True)))


def next_run_ms(record: CronJob, zone: tzinfo) -> int:
    """When the record's next run is due: the schedule's first time after the last trigger
    handled (earlier ones were run or passed over)."""
    expression = record.spec.cron_schedule
    assert expression is not None  # a cron job's template has a schedule
    return next_trigger_ms(expression, record.last_trigger_ms, zone)


def upcoming_ms(expression: str, after_ms: int, zone: tzinfo, count: int) -> tuple[int, ...]:
    return tuple(islice(triggers_after(expression, after_ms, zone), count))


def explain(expression: str) -> str:
    """The schedule in words: "At 02:15 on Monday through Friday"."""
    return CronSim(expression, datetime(2000, 1, 1)).explain()


def check_schedule(expression: str, zone: tzinfo) -> None:
    """The schedule must fire, ever: `0 0 30 2 *` (February 30th) parses but never does."""
    try:
        next_trigger_ms(expression, 0, zone)
    except CronSimError as error:
        problem = str(error)
        if problem == "Bad day-of-month":  # cronsim's word for a day no month named has
            problem = "it never runs: no month it names has that day"
        raise ConfigError(f"{expression!r}: {problem}", "Job.cron_schedule") from None


# -- the cron jobs -----------------------------------------------------------------------------


class CronJobs:
    """The cron jobs and what is due when: `records` are as stored; the rest is derived."""

    def __init__(self) -> None:
        self.records: dict[JobKey, CronJob] = {}
        self.next_ms: dict[JobKey, int] = {}
        # A WAITING run's next look at whether the previous run is gone, and the wait after.
        self.retry: dict[JobKey, tuple[int, int]] = {}
        # When this scheduler took the state: triggers before it came while none led.
        self.loaded_ms = 0

    def load(self, records: Iterable[CronJob], now: int, settings: Settings) -> None:
        self.records, self.next_ms, self.retry = {}, {}, {}
        self.loaded_ms = now
        for record in records:
            self.put(record, settings)
            if record.runs and record.runs[-1].status is Run.WAITING:
                self.retry[record.spec.key] = (now, settings.cron_start_initial_backoff_ms)

    def put(self, record: CronJob, settings: Settings) -> None:
        key = record.spec.key
        self.records[key] = record
        self.next_ms[key] = next_run_ms(record, settings.cron_zone)

    def forget(self, key: JobKey) -> None:
        self.records.pop(key, None)
        self.next_ms.pop(key, None)
        self.retry.pop(key, None)

    def due(self, now: int) -> list[JobKey]:
        """Cron jobs with something to do now: a trigger due, a run waiting or running."""
        return sorted(
            (
                key
                for key, record in self.records.items()
                if self.next_ms[key] <= now
                or (record.runs and record.runs[-1].status in (Run.WAITING, Run.RUNNING))
            ),
            key=str,
        )


# -- what people ask ---------------------------------------------------------------------------


def schedule_cron(state: SchedulerState, command: ScheduleCron, now: int, ready: Ready) -> None:
    """Create or replace a cron job's template; runs under way are left alone."""
    spec = command.spec
    key = spec.key
    if spec.cron_schedule is None:
        raise InvalidParameterError(
            f"job {key} has no cron_schedule: `daybreak job create` runs it now"
        )
    check_new_spec(state, spec)
    check_tier(spec)
    check_schedule(spec.cron_schedule, state.settings.cron_zone)
    if key in state.jobs:
        raise InvalidParameterError(
            f"job {key} is running as a job, not a cron job: kill it first "
            f"(`daybreak job killall {key}`)"
        )
    state.updates.refuse_while_updating(key, "schedule")
    check_role_quota(state, spec, spec.instances)
    known = state.cron.records.get(key)
    record = CronJob(
        spec=spec,
        scheduled_ms=now,
        # Triggers before now belonged to the old schedule (or none): none is run late.
        last_trigger_ms=now if known is None else max(known.last_trigger_ms, now),
        runs=() if known is None else known.runs,
    )
    state.cron.put(record, state.settings)
    ready.writes.cron[str(key)] = record
    ready.log("cron_scheduled", job=key, schedule=spec.cron_schedule,
              replaced=known is not None)  # fmt: skip
    ready.reply = record
    ready.wake(now)


def deschedule_cron(state: SchedulerState, command: DescheduleCron, now: int, ready: Ready) -> None:
    """Remove the template: no more runs start; a run under way continues."""
    key = command.key
    record = state.cron.records.get(key)
    if record is None:
        raise NotCronError(key)
    state.cron.forget(key)
    ready.writes.cron[str(key)] = None
    ready.log("cron_descheduled", job=key)
    ready.reply = record


def start_cron(state: SchedulerState, command: StartCron, now: int, ready: Ready) -> None:
    """Run the cron job now, as its schedule would (the collision policy applies)."""
    key = command.key
    record = state.cron.records.get(key)
    if record is None:
        raise NotCronError(key)
    if record.runs and record.runs[-1].status is Run.WAITING:
        ready.reply = record  # a run is already on its way
        return
    record = _trigger(state, record, Due(now, "manual"), now, ready)
    _save(state, record, ready)
    ready.reply = record
    ready.wake(now)


# -- time --------------------------------------------------------------------------------------


def cron_tick(state: SchedulerState, now: int, ready: Ready) -> None:
    """End the runs that are over, start those that waited, and fire the triggers due."""
    cron = state.cron
    for key in cron.due(now):
        record = cron.records[key]
        changed = _conclude(state, record, now)
        # Triggers first: one that fell while a run waited is absorbed by it, rather than
        # killing that run the moment it starts.
        if cron.next_ms[key] <= now:
            changed = _fire_due(state, changed, now, ready)
        changed = _start_waiting(state, changed, now, ready)
        if changed is not record:
            _save(state, changed, ready)


def _save(state: SchedulerState, record: CronJob, ready: Ready) -> None:
    state.cron.put(record, state.settings)
    ready.writes.cron[str(record.spec.key)] = record


def _with_run(record: CronJob, run: CronRun, settings: Settings, **changes: object) -> CronJob:
    runs = (*record.runs, run)[-settings.cron_runs_kept :]
    return msgspec.structs.replace(record, runs=runs, **changes)


def _fire_due(state: SchedulerState, record: CronJob, now: int, ready: Ready) -> CronJob:
    """Handle the latest trigger due; any before it are passed over with it."""
    settings = state.settings
    expression = record.spec.cron_schedule
    assert expression is not None
    trigger = latest_trigger_ms(expression, now, settings.cron_zone)
    missed = trigger < state.cron.loaded_ms
    key = record.spec.key
    if now - trigger > settings.cron_start_deadline_ms:
        while_ = " while no scheduler was leading" if missed else ""
        skipped = CronRun(
            trigger_ms=trigger, cause="missed", status=Run.SKIPPED, ended_ms=now,
            message=(
                f"missed{while_}: due {(now - trigger) // 1000:,} s before it could run, "
                f"past the start deadline ({settings.cron_start_deadline_ms // 1000:,} s)"
            ),
        )  # fmt: skip
        ready.log("cron_missed", warning=True, job=key, trigger_ms=trigger)
        return _with_run(record, skipped, settings, last_trigger_ms=trigger)
    if record.runs and record.runs[-1].status is Run.WAITING:
        # Aurora's rule: a run waiting for the previous one to be killed absorbs triggers.
        ready.log("cron_trigger_ignored", job=key, trigger_ms=trigger,
                  reason="a run is waiting for the previous one to be killed")  # fmt: skip
        return msgspec.structs.replace(record, last_trigger_ms=trigger)
    return _trigger(state, record, Due(trigger, "missed" if missed else "schedule"), now, ready)


def _trigger(state: SchedulerState, record: CronJob, due: Due, now: int, ready: Ready) -> CronJob:
    """A run is due: start it, or apply the collision policy to the run still active."""
    settings = state.settings
    key = record.spec.key
    record = due.handled(record)
    active = jobs.active_tasks(state, key)
    if not active:
        return _start(state, record, due, now, ready)
    if record.spec.cron_collision_policy == "CANCEL_NEW":
        skipped = CronRun(
            trigger_ms=due.at_ms, cause=due.cause, status=Run.SKIPPED, ended_ms=now,
            message=f"the previous run was still active ({_tasks(len(active))}; CANCEL_NEW)",
        )  # fmt: skip
        ready.log("cron_skipped", job=key, trigger_ms=due.at_ms, policy="CANCEL_NEW")
        return _with_run(record, skipped, settings)
    message = "Killed for the cron job's next run (KILL_EXISTING)"
    state.carry(state.cluster.kill_tasks([task.task_id for task in active], now, message), ready)
    waiting = CronRun(
        trigger_ms=due.at_ms, cause=due.cause, status=Run.WAITING,
        message=f"waiting for the previous run's {_tasks(len(active))} to be killed",
    )  # fmt: skip
    initial = settings.cron_start_initial_backoff_ms
    state.cron.retry[key] = (now + initial, initial)
    ready.log("cron_killing_previous", job=key, trigger_ms=due.at_ms, tasks=len(active))
    return _with_run(record, waiting, settings)


def _tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def _launch(state: SchedulerState, spec: JobSpec, due: Due, now: int, ready: Ready) -> CronRun:
    """Every instance of the template, PENDING now: the run, RUNNING."""
    state.carry(state.cluster.add_instances(spec, range(spec.instances), now), ready)
    ready.log("cron_run_started", job=spec.key, trigger_ms=due.at_ms, cause=due.cause,
              instances=spec.instances)  # fmt: skip
    return CronRun(trigger_ms=due.at_ms, cause=due.cause, status=Run.RUNNING, started_ms=now)


def _start(state: SchedulerState, record: CronJob, due: Due, now: int, ready: Ready) -> CronJob:
    return _with_run(record, _launch(state, record.spec, due, now, ready), state.settings)


def _start_waiting(state: SchedulerState, record: CronJob, now: int, ready: Ready) -> CronJob:
    """A KILL_EXISTING run starts once the previous run's tasks are gone."""
    key = record.spec.key
    if not record.runs or record.runs[-1].status is not Run.WAITING:
        return record
    at, backoff = state.cron.retry.get(key, (now, state.settings.cron_start_initial_backoff_ms))
    if now < at:
        return record
    if jobs.active_tasks(state, key):
        backoff = min(2 * backoff, state.settings.cron_start_max_backoff_ms)
        state.cron.retry[key] = (now + backoff, backoff)
        return record
    state.cron.retry.pop(key, None)
    waiting = record.runs[-1]
    started = _launch(state, record.spec, Due(waiting.trigger_ms, waiting.cause), now, ready)
    return msgspec.structs.replace(record, runs=(*record.runs[:-1], started))


def _conclude(state: SchedulerState, record: CronJob, now: int) -> CronJob:
    """A running run is over when the job has no active task: say how it ended."""
    key = record.spec.key
    running = [(index, run) for index, run in enumerate(record.runs) if run.status is Run.RUNNING]
    if not running or jobs.active_tasks(state, key):
        return record
    index, run = running[-1]
    assert run.started_ms is not None
    status, message = _outcome(state.cluster.job_tasks(key), run.started_ms)
    ended = msgspec.structs.replace(run, status=status, ended_ms=now, message=message)
    runs = list(record.runs)
    runs[index] = ended
    return msgspec.structs.replace(record, runs=tuple(runs))


def _outcome(tasks: Iterable[ScheduledTask], started_ms: int) -> tuple[Run, str]:
    """How a run ended, from the last task of each instance it created."""
    last: dict[int, ScheduledTask] = {}
    for task in tasks:
        if task.events and task.events[0].timestamp_ms >= started_ms:
            known = last.get(task.instance)
            if known is None or task.events[0].timestamp_ms >= known.events[0].timestamp_ms:
                last[task.instance] = task
    counts: dict[TaskState, int] = {}
    for task in last.values():
        counts[task.state] = counts.get(task.state, 0) + 1
    if not counts:
        return Run.FAILED, "its tasks are no longer in the history"
    said = ", ".join(f"{count} {state.name}" for state, count in sorted(counts.items()))
    if set(counts) == {TaskState.FINISHED}:
        return Run.SUCCEEDED, said
    if TaskState.KILLED in counts:
        return Run.KILLED, said
    return Run.FAILED, said
