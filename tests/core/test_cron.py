"""Cron jobs in the core, on a fake clock: when they fire, each collision policy, time zones and
daylight-saving jumps, triggers missed while no scheduler led, and a takeover in the middle."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daybreak.core.commands import (
    AgentHeartbeat,
    AgentHello,
    AgentStatus,
    CreateJob,
    DescheduleCron,
    KillJob,
    ScheduleCron,
    StartCron,
    StartUpdate,
    Tick,
)
from daybreak.core.cron import NotCronError, check_schedule, next_trigger_ms, triggers_after
from daybreak.core.settings import Settings
from daybreak.core.state import SchedulerState
from daybreak.errors import ConfigError, InvalidParameterError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.cron import CronJob, CronRunStatus, CronSyntaxError, parse_cron
from daybreak.model.jobspec import CronCollisionPolicy, JobSpec, Resources
from daybreak.model.records import Changes, Snapshot
from daybreak.model.task_state import ACTIVE_STATES, TaskState
from tests.core.builders import job_spec

S = TaskState
Run = CronRunStatus
MINUTE = 60_000
HOUR = 60 * MINUTE


def ms(text: str, zone: str = "UTC") -> int:
    """'2026-03-01 02:00' in `zone`, as epoch milliseconds."""
    moment = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))
    return int(moment.timestamp() * 1000)


def cron_spec(
    schedule: str = "0 * * * *",
    policy: CronCollisionPolicy = "KILL_EXISTING",
    instances: int = 2,
    max_task_failures: int = 1,
) -> JobSpec:
    spec = job_spec("nightly", instances=instances, cpu=0.1, ram_mb=16, disk_mb=16,
                    max_task_failures=max_task_failures)  # fmt: skip
    return msgspec.structs.replace(spec, cron_schedule=schedule, cron_collision_policy=policy)


class World:
    """A scheduler state, one agent that runs whatever it is sent, and every write kept."""

    def __init__(self, settings: Settings | None = None, snapshot: Snapshot | None = None,
                 now: int = 0) -> None:  # fmt: skip
        self.state = SchedulerState("west", settings=settings)
        self.stored = Snapshot()
        if snapshot is not None:
            self.state.load(snapshot, now)
            self.stored = snapshot
        known = self.stored.agents.get("a1")
        self.seq = 0 if known is None else known.applied_seq
        # The agent still runs what the stored state placed on it.
        inventory = {
            task.task_id: task.state
            for task in self.stored.tasks
            if task.agent_id == "a1" and task.state in ACTIVE_STATES
        }
        self.handle(
            AgentHello(
                protocol.Hello(
                    agent_id="a1", hostname="h1", attributes={},
                    resources=Resources(cpu=64, ram_mb=65536, disk_mb=65536),
                    ports=PortRange(first=31000, last=31999), inventory=inventory,
                ),
                connection=1,
            ),
            now,
        )  # fmt: skip

    def handle(self, command: object, now: int) -> object:
        ready = self.state.handle(command, now)  # type: ignore[arg-type]
        self._persist(ready.writes)
        for _agent, message in ready.sends:
            # The agent starts at once what it is sent, and says so.
            if isinstance(message, protocol.Launch):
                self.report(message.task_id, S.RUNNING, now)
            elif isinstance(message, protocol.Kill):
                self.report(message.task_id, S.KILLED, now)
        return ready.reply

    def _persist(self, writes: Changes) -> None:
        everything = Changes.everything_in(self.stored)
        everything.merge(writes)
        self.stored = Snapshot(
            tasks=[task for task in everything.tasks.values() if task is not None],
            jobs={k: v for k, v in everything.jobs.items() if v is not None},
            agents={k: v for k, v in everything.agents.items() if v is not None},
            quotas={k: v for k, v in everything.quotas.items() if v is not None},
            updates={k: v for k, v in everything.updates.items() if v is not None},
            cron={k: v for k, v in everything.cron.items() if v is not None},
        )

    def report(self, task_id: str, state: TaskState, now: int) -> None:
        self.seq += 1
        self.handle(AgentHeartbeat("a1"), now)
        update = protocol.StatusUpdate(seq=self.seq, task_id=task_id, state=state, timestamp_ms=now)
        self.handle(AgentStatus("a1", update), now)

    def tick(self, now: int) -> None:
        self.handle(AgentHeartbeat("a1"), now)  # the agent is there, however far time jumps
        self.handle(Tick(), now)

    def active(self) -> list[str]:
        return sorted(
            t.task_id for t in self.state.cluster.tasks.values() if t.state in ACTIVE_STATES
        )

    def finish_all(self, now: int, state: TaskState = S.FINISHED) -> None:
        for task_id in self.active():
            self.report(task_id, state, now)

    def record(self, spec: JobSpec) -> CronJob:
        return self.state.cron.records[spec.key]

    def statuses(self, spec: JobSpec) -> list[tuple[int, str, Run]]:
        return [(run.trigger_ms, run.cause, run.status) for run in self.record(spec).runs]


def test_a_cron_job_runs_only_when_its_schedule_says_and_each_run_ends_with_its_outcome() -> None:
    world, spec = World(), cron_spec("30 2 * * *")
    start = ms("2026-06-01 00:00")
    world.handle(ScheduleCron(spec), start)
    world.tick(start + HOUR)
    assert world.active() == []  # scheduled, not run
    at = ms("2026-06-01 02:30")
    world.tick(at - 1)
    assert world.active() == []
    world.tick(at)
    assert len(world.active()) == 2
    assert world.statuses(spec) == [(at, "schedule", Run.RUNNING)]
    world.finish_all(at + MINUTE)
    world.tick(at + MINUTE)
    [run] = world.record(spec).runs
    assert (run.status, run.message, run.ended_ms) == (Run.SUCCEEDED, "2 FINISHED", at + MINUTE)
    # The next day, once.
    tomorrow = ms("2026-06-02 02:30")
    world.tick(tomorrow + 500)
    world.tick(tomorrow + 1500)
    assert len(world.active()) == 2
    assert [status for *_, status in world.statuses(spec)] == [Run.SUCCEEDED, Run.RUNNING]


def test_a_year_of_hourly_runs_on_a_fake_clock() -> None:
    world, spec = World(), cron_spec("0 * * * *", instances=1)
    now = ms("2026-01-01 00:00")
    world.handle(ScheduleCron(spec), now)
    runs = 0
    zone = world.state.settings.cron_zone
    end = ms("2027-01-01 00:00")
    while (now := next_trigger_ms("0 * * * *", now, zone)) <= end:
        world.tick(now)
        runs += 1
        world.finish_all(now + 1)
        world.tick(now + 2)
        assert world.record(spec).runs[-1].status is Run.SUCCEEDED
    assert runs == 365 * 24
    assert len(world.state.cron.records[spec.key].runs) == world.state.settings.cron_runs_kept


def test_kill_existing_kills_the_previous_run_and_starts_once_it_is_gone() -> None:
    world, spec = World(), cron_spec("*/10 * * * *", "KILL_EXISTING")
    world.handle(ScheduleCron(spec), 0)
    world.tick(10 * MINUTE)
    first = world.active()
    assert len(first) == 2
    # The next trigger finds the first run still running: it is killed (the agent kills at
    # once here), and the new run waits for Aurora's 5 s backoff before it looks again.
    world.tick(20 * MINUTE)
    assert world.active() == []
    assert world.statuses(spec)[-1] == (20 * MINUTE, "schedule", Run.WAITING)
    world.tick(20 * MINUTE + 4_999)
    assert world.active() == []
    world.tick(20 * MINUTE + 5_000)
    second = world.active()
    assert len(second) == 2 and not set(second) & set(first)
    assert [status for *_, status in world.statuses(spec)] == [Run.KILLED, Run.RUNNING]


def test_kill_existing_backs_off_while_the_previous_run_lingers_and_ignores_triggers() -> None:
    world, spec = World(), cron_spec("* * * * *", "KILL_EXISTING", instances=1)
    world.handle(ScheduleCron(spec), 0)
    world.tick(MINUTE)
    [old] = world.active()
    world.state.handle(Tick(), 2 * MINUTE)  # killed, but the agent does not answer yet
    assert world.state.cluster.tasks[old].state is S.KILLING
    looks = []
    for second in range(1, 200):
        now = 2 * MINUTE + second * 1000
        before = world.state.cron.retry.get(spec.key)
        world.state.handle(AgentHeartbeat("a1"), now)
        world.state.handle(Tick(), now)
        if world.state.cron.retry.get(spec.key) != before:
            looks.append(second)
    # Looked at 5 s, then 10, 20, 40 s later, then every minute; the triggers at 3 and 4
    # minutes did not start more runs.
    assert looks[:6] == [5, 15, 35, 75, 135, 195]
    assert [status for *_, status in world.statuses(spec)] == [Run.RUNNING, Run.WAITING]
    world.report(old, S.KILLED, 2 * MINUTE + 196_000)
    world.tick(2 * MINUTE + 255_000)
    assert [status for *_, status in world.statuses(spec)] == [Run.KILLED, Run.RUNNING]
    assert world.statuses(spec)[-1][0] == 2 * MINUTE  # the trigger the waiting run answers


def test_cancel_new_skips_a_run_while_the_previous_is_active() -> None:
    world, spec = World(), cron_spec("*/10 * * * *", "CANCEL_NEW")
    world.handle(ScheduleCron(spec), 0)
    world.tick(10 * MINUTE)
    running = world.active()
    world.tick(20 * MINUTE)
    assert world.active() == running
    run = world.record(spec).runs[-1]
    assert run.status is Run.SKIPPED
    assert run.message == "the previous run was still active (2 tasks; CANCEL_NEW)"
    world.finish_all(25 * MINUTE)
    world.tick(30 * MINUTE)
    assert [status for *_, status in world.statuses(spec)] == [
        Run.SUCCEEDED, Run.SKIPPED, Run.RUNNING
    ]  # fmt: skip


def test_failed_instances_are_retried_up_to_max_task_failures_and_the_run_fails() -> None:
    world, spec = World(), cron_spec("0 3 * * *", instances=1, max_task_failures=3)
    world.handle(ScheduleCron(spec), 0)
    at = ms("1970-01-01 03:00")
    world.tick(at)
    for attempt in range(3):
        world.finish_all(at + attempt * 1000 + 1, S.FAILED)
        world.tick(at + attempt * 1000 + 2)
        # Rescheduled without a flapping penalty: these runs lasted no time, so they are
        # penalized; let the penalty pass.
        world.tick(at + attempt * 1000 + 10 * MINUTE)
    assert world.active() == []
    run = world.record(spec).runs[-1]
    assert (run.status, run.message) == (Run.FAILED, "1 FAILED")
    assert len(world.state.cluster.job_tasks(spec.key)) == 3


def test_until_success_with_max_task_failures_minus_one() -> None:
    world, spec = World(), cron_spec("0 3 * * *", instances=1, max_task_failures=-1)
    world.handle(ScheduleCron(spec), 0)
    now = ms("1970-01-01 03:00")
    world.tick(now)
    for _ in range(6):
        world.finish_all(now, S.FAILED)
        now += HOUR  # past any flapping penalty
        world.tick(now)
    assert len(world.active()) == 1
    world.finish_all(now)
    world.tick(now + 1)
    run = world.record(spec).runs[-1]
    assert (run.status, run.message) == (Run.SUCCEEDED, "1 FINISHED")


def test_a_person_killing_a_run_ends_it_as_killed_and_the_template_stays() -> None:
    world, spec = World(), cron_spec("0 * * * *")
    world.handle(ScheduleCron(spec), 0)
    world.tick(HOUR)
    world.handle(KillJob(spec.key, None), HOUR + 1)
    world.tick(HOUR + 2)
    assert world.record(spec).runs[-1].status is Run.KILLED
    world.tick(2 * HOUR)
    assert len(world.active()) == 2


def test_cron_start_runs_now_under_the_collision_policy_and_leaves_the_schedule_be() -> None:
    world, spec = World(), cron_spec("0 * * * *", "CANCEL_NEW")
    world.handle(ScheduleCron(spec), 0)
    record = world.handle(StartCron(spec.key), 10 * MINUTE)
    assert isinstance(record, CronJob) and record.runs[-1].cause == "manual"
    world.tick(10 * MINUTE)
    assert len(world.active()) == 2
    record = world.handle(StartCron(spec.key), 11 * MINUTE)
    assert isinstance(record, CronJob) and record.runs[-1].status is Run.SKIPPED
    world.finish_all(12 * MINUTE)
    world.tick(HOUR)  # the schedule's own trigger still comes
    assert world.statuses(spec)[-1] == (HOUR, "schedule", Run.RUNNING)


def test_schedule_deschedule_and_the_rules_of_cron_and_jobs() -> None:
    world, spec = World(), cron_spec("0 * * * *")
    with pytest.raises(InvalidParameterError, match="has a cron schedule: schedule it with"):
        world.handle(CreateJob(spec), 0)
    plain = msgspec.structs.replace(spec, cron_schedule=None)
    with pytest.raises(InvalidParameterError, match="has no cron_schedule"):
        world.handle(ScheduleCron(plain), 0)
    with pytest.raises(ConfigError, match="'0 0 30 2 \\*': it never runs: no month it names"):
        world.handle(ScheduleCron(msgspec.structs.replace(spec, cron_schedule="0 0 30 2 *")), 0)
    with pytest.raises(NotCronError, match="no cron job west/www/prod/nightly"):
        world.handle(StartCron(spec.key), 0)
    world.handle(ScheduleCron(spec), 0)
    with pytest.raises(InvalidParameterError, match="it is a cron job"):
        world.handle(CreateJob(plain), 0)
    with pytest.raises(InvalidParameterError, match="it is a cron job"):
        world.handle(StartUpdate(plain, None), 0)
    world.tick(HOUR)
    running = world.active()
    # Replaced: the run under way is untouched, the next run takes the new template.
    world.handle(ScheduleCron(msgspec.structs.replace(spec, instances=3)), HOUR + 1)
    assert world.active() == running
    world.handle(DescheduleCron(spec.key), HOUR + 2)
    assert world.active() == running  # current runs continue
    world.tick(2 * HOUR)
    assert world.active() == running and spec.key not in world.state.cron.records
    assert world.stored.cron == {}
    with pytest.raises(NotCronError):
        world.handle(DescheduleCron(spec.key), 2 * HOUR)
    # A job running under the key is not turned into a cron job behind its back.
    world.finish_all(2 * HOUR)
    world.handle(CreateJob(plain), 2 * HOUR)
    with pytest.raises(InvalidParameterError, match="running as a job, not a cron job"):
        world.handle(ScheduleCron(spec), 2 * HOUR)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # 02:30 does not exist on 2026-03-29 in Berlin: the run is at 03:00, once.
        ("30 2 * * *", ["2026-03-28 02:30", "2026-03-29 03:00", "2026-03-30 02:30"]),
        # Hourly: the skipped hour has no run; nothing runs twice.
        ("0 * * * *", ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 03:00"]),
    ],
)
def test_spring_forward_in_the_schedulers_time_zone(schedule: str, expected: list[str]) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    world, spec = World(Settings(cron_zone=berlin)), cron_spec(schedule, instances=1)
    start = (
        ms("2026-03-27 23:59", "Europe/Berlin")
        if ":30" in expected[0]
        else ms("2026-03-28 23:59", "Europe/Berlin")
    )
    world.handle(ScheduleCron(spec), start)
    now = start
    while len(world.record(spec).runs) < 3:
        now += MINUTE
        world.tick(now)
        world.finish_all(now)
    fired = [
        datetime.fromtimestamp(run.trigger_ms / 1000, berlin).strftime("%Y-%m-%d %H:%M")
        for run in world.record(spec).runs
    ]
    assert fired == expected


def test_fall_back_runs_a_fixed_time_once_in_the_repeated_hour() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    world, spec = World(Settings(cron_zone=berlin)), cron_spec("30 2 * * *", instances=1)
    start = ms("2026-10-24 12:00", "Europe/Berlin")
    world.handle(ScheduleCron(spec), start)
    for minute in range(0, 48 * 60):
        now = start + minute * MINUTE
        world.tick(now)
        world.finish_all(now)
    utc_times = [
        datetime.fromtimestamp(run.trigger_ms / 1000, UTC).strftime("%m-%d %H:%M")
        for run in world.record(spec).runs
    ]
    # 02:30 CEST on the 25th (00:30 UTC), not again at 02:30 CET; then 02:30 CET on the 26th.
    assert utc_times == ["10-25 00:30", "10-26 01:30"]


def test_a_trigger_missed_while_no_scheduler_led_runs_once_on_takeover() -> None:
    world, spec = World(), cron_spec("0 * * * *")
    world.handle(ScheduleCron(spec), 0)
    # The leader stops at 00:59; a new one takes over at 01:04 from what was stored.
    stored = world.stored
    takeover = HOUR + 4 * MINUTE
    second = World(snapshot=stored, now=takeover)
    second.tick(takeover)
    assert len(second.active()) == 2
    assert second.statuses(spec) == [(HOUR, "missed", Run.RUNNING)]
    # And a third, taking over from what the second stored, does not run it again.
    third = World(snapshot=second.stored, now=takeover + 1000)
    third.tick(takeover + 1000)
    assert third.statuses(spec) == [(HOUR, "missed", Run.RUNNING)]
    assert [t for t in third.state.cluster.tasks.values() if t.state is S.PENDING] == []
    assert len(third.state.cluster.tasks) == 2


def test_only_the_latest_missed_trigger_runs_and_none_past_the_deadline() -> None:
    world, spec = World(), cron_spec("*/5 * * * *")
    world.handle(ScheduleCron(spec), 0)
    # Down from 00:00 to 00:33: triggers at 5, 10, ..., 30 were missed; 30 is 3 min old.
    late = World(snapshot=world.stored, now=33 * MINUTE)
    late.tick(33 * MINUTE)
    assert late.statuses(spec) == [(30 * MINUTE, "missed", Run.RUNNING)]
    assert len(late.active()) == 2
    # Down for three hours: the latest trigger is 12 min old, past the 10 min deadline.
    world2, spec2 = World(), cron_spec("0 * * * *")
    world2.handle(ScheduleCron(spec2), 0)
    later = World(snapshot=world2.stored, now=3 * HOUR + 12 * MINUTE)
    later.tick(3 * HOUR + 12 * MINUTE)
    assert later.active() == []
    [skipped] = later.record(spec2).runs
    assert (skipped.trigger_ms, skipped.status) == (3 * HOUR, Run.SKIPPED)
    assert skipped.message is not None and "while no scheduler was leading" in skipped.message
    later.tick(4 * HOUR)
    assert later.statuses(spec2)[-1] == (4 * HOUR, "schedule", Run.RUNNING)


def test_a_takeover_while_kill_existing_waits_starts_the_waiting_run() -> None:
    world, spec = World(), cron_spec("*/10 * * * *", "KILL_EXISTING", instances=1)
    world.handle(ScheduleCron(spec), 0)
    world.tick(10 * MINUTE)
    [old] = world.active()
    # The kill goes out, and the leader dies before the agent answers.
    world.state.handle(Tick(), 20 * MINUTE)
    snapshot = world.state.snapshot()
    assert snapshot.cron[str(spec.key)].runs[-1].status is Run.WAITING
    second = World(snapshot=snapshot, now=21 * MINUTE)
    second.report(old, S.KILLED, 21 * MINUTE)
    second.tick(21 * MINUTE)
    assert [status for *_, status in second.statuses(spec)] == [Run.KILLED, Run.RUNNING]
    assert second.statuses(spec)[-1][:2] == (20 * MINUTE, "schedule")


FIELD_TEXT = {
    "minute": st.sampled_from(["*", "0", "5", "59", "*/7", "10-20", "1-50/9", "0,30", "5/20"]),
    "hour": st.sampled_from(["*", "0", "23", "*/5", "8-17", "2,14"]),
    "dom": st.sampled_from(["*", "1", "31", "29", "1-15/2", "10,20"]),
    "month": st.sampled_from(["*", "2", "JAN-MAR", "*/4", "dec", "FEB,AUG"]),
    "dow": st.sampled_from(["*", "0", "7", "MON-FRI", "sat,SUN", "*/2", "1-5/2"]),
}


@given(st.fixed_dictionaries(FIELD_TEXT), st.integers(0, 4_000_000_000_000))
@settings(max_examples=300, deadline=None)
def test_what_the_config_check_accepts_cronsim_runs_as_the_check_read_it(
    fields: dict[str, str], start_ms: int
) -> None:
    expression = " ".join(fields.values())
    try:
        schedule = parse_cron(expression)
    except CronSyntaxError:
        return
    real_dates = [
        (month, day)
        for month in schedule.months
        for day in schedule.days_of_month
        if day <= calendar.monthrange(2024, month)[1]
    ]
    try:
        check_schedule(expression, UTC)
    except ConfigError as error:
        # Parses, but names no day that exists (the 31st of February): refused at schedule.
        assert not real_dates and "no month it names has that day" in str(error)
        return
    assert real_dates
    for at in islice(triggers_after(expression, start_ms, UTC), 20):
        moment = datetime.fromtimestamp(at / 1000, UTC)
        assert moment.minute in schedule.minutes and moment.hour in schedule.hours
        assert moment.month in schedule.months
        assert moment.day in schedule.days_of_month
        assert moment.isoweekday() % 7 in schedule.days_of_week
        assert at > start_ms
