"""The updater driven against a simulated job: instances whose tasks start, become RUNNING
(or fail, for a bad config) one tick after they are added, and die one tick after a kill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from daybreak.core.updater import (
    AUTO_PAUSE_MESSAGE,
    PULSE_TIMEOUT_MESSAGE,
    InstanceView,
    TaskRun,
    evaluate,
    pulse,
    resume,
    rollback,
    start,
)
from daybreak.model.jobspec import (
    BatchStrategy,
    CountSlaPolicy,
    PercentageSlaPolicy,
    QueueStrategy,
    SlaPolicy,
    UpdateSettings,
    UpdateStrategy,
    VariableBatchStrategy,
)
from daybreak.model.task_state import TaskState
from daybreak.model.update import InstanceAction, UpdatePlan, UpdateProgress, UpdateStatus

U = UpdateStatus
S = TaskState
TICK_MS = 1000
A = InstanceAction


@dataclass
class Job:
    """Tasks per instance; a task of a config in `broken` fails instead of running (on the
    instances in `fails_on`, or on all of them)."""

    broken: set[str] = field(default_factory=set)
    fails_on: set[int] | None = None
    active: dict[int, TaskRun] = field(default_factory=dict)
    ended: dict[int, list[TaskRun]] = field(default_factory=dict)
    counter: int = 0
    down_most: int = 0  # the most instances without a RUNNING task at once

    def add(self, instance: int, config: str, now: int) -> None:
        assert instance not in self.active, f"instance {instance} added twice"
        self.counter += 1
        self.active[instance] = TaskRun(f"t{self.counter}", config, S.PENDING)

    def views(self) -> dict[int, InstanceView]:
        instances = self.active.keys() | self.ended.keys()
        return {
            i: InstanceView(self.active.get(i), tuple(self.ended.get(i, ()))) for i in instances
        }

    def tick(self, now: int) -> None:
        """A second passes: kills end tasks, pending tasks start or fail."""
        for instance, task in list(self.active.items()):
            if task.state is S.KILLING:
                self._end(instance, S.KILLED)
            elif task.state is S.PENDING:
                if task.config in self.broken and (
                    self.fails_on is None or instance in self.fails_on
                ):
                    self._end(instance, S.FAILED)
                    self.add(instance, task.config, now)  # a service is rescheduled
                else:
                    self.active[instance] = TaskRun(task.task_id, task.config, S.RUNNING, now)

    def kill(self, task_id: str) -> None:
        for instance, task in self.active.items():
            if task.task_id == task_id:
                self.active[instance] = TaskRun(task.task_id, task.config, S.KILLING)

    def _end(self, instance: int, state: TaskState) -> None:
        task = self.active.pop(instance)
        self.ended.setdefault(instance, []).append(TaskRun(task.task_id, task.config, state))

    def configs(self) -> dict[int, str]:
        return {i: t.config for i, t in self.active.items()}


def job_on(configs: dict[int, str], broken: set[str] | None = None) -> Job:
    job = Job(broken=broken or set())
    for instance, config in configs.items():
        job.counter += 1
        job.active[instance] = TaskRun(f"t{job.counter}", config, S.RUNNING, 0)
    return job


@dataclass
class Run:
    progress: UpdateProgress
    events: list[tuple[int, A]]
    statuses: list[UpdateStatus]
    most_working: int


def roll(job: Job, plan: UpdatePlan, progress: UpdateProgress | None = None, *,
         until: int = 600, now: int = TICK_MS,
         after_each: Callable[[Job, int], None] | None = None) -> Run:  # fmt: skip
    """Evaluate and tick until the update stops rolling (or `until` ticks pass)."""
    progress = progress or start(plan)
    events: list[tuple[int, A]] = []
    statuses = [progress.status]
    most_working = 0
    for _ in range(until):
        result = evaluate(plan, progress, job.views(), now)
        progress = result.progress
        events += [(e.instance, e.action) for e in result.events]
        for kill in result.kills:
            job.kill(kill.task_id)
        for add in result.adds:
            job.add(add.instance, add.config, now)
        working = sum(p.status == "WORKING" for p in progress.instances.values())
        most_working = max(most_working, working)
        # Down: an instance that served before the update, is to serve after, and does not now.
        down = sum(
            i not in job.active or job.active[i].state is not S.RUNNING
            for i in plan.initial.keys() & plan.desired.keys()
        )
        job.down_most = max(job.down_most, down)
        if after_each is not None:
            after_each(job, now)
        if statuses[-1] is not progress.status:
            statuses.append(progress.status)
        if progress.status not in (U.ROLLING_FORWARD, U.ROLLING_BACK):
            break
        now += TICK_MS
        job.tick(now)
    return Run(progress, events, statuses, most_working)


def plan_of(before: dict[int, str], after: dict[int, str], sla: SlaPolicy | None = None,
            **settings: object) -> UpdatePlan:  # fmt: skip
    return UpdatePlan(initial=before, desired=after, settings=UpdateSettings(**settings),  # type: ignore[arg-type]
                      sla_policy=sla, rollback_sla_policy=sla)  # fmt: skip


def same(config: str, instances: range) -> dict[int, str]:
    return dict.fromkeys(instances, config)


def test_a_good_update_rolls_forward_in_batches_of_the_queue() -> None:
    job = job_on(same("v1", range(6)))
    plan = plan_of(same("v1", range(6)), same("v2", range(6)),
                   watch_secs=3, strategy=QueueStrategy(batch_size=2))  # fmt: skip
    run = roll(job, plan)
    assert run.statuses == [U.ROLLING_FORWARD, U.ROLLED_FORWARD]
    assert job.configs() == same("v2", range(6))
    assert run.most_working == 2
    assert job.down_most <= 2
    updated = [i for i, action in run.events if action is A.INSTANCE_UPDATED]
    assert sorted(updated) == list(range(6))
    assert [i for i, a in run.events if a is A.INSTANCE_UPDATING] == list(range(6))


def test_a_version_that_fails_rolls_back_in_reverse_order() -> None:
    job = job_on(same("v1", range(6)), broken={"v2"})
    job.fails_on = {2, 3}
    plan = plan_of(same("v1", range(6)), same("v2", range(6)), watch_secs=1,
                   max_per_shard_failures=1, max_total_failures=1,
                   strategy=BatchStrategy(batch_size=2))  # fmt: skip
    run = roll(job, plan)
    assert run.statuses == [U.ROLLING_FORWARD, U.ROLLING_BACK, U.ROLLED_BACK]
    assert run.progress.message == "Latest failure: instance 3 exited."
    assert job.configs() == same("v1", range(6))
    rolled_back = [i for i, a in run.events if a is A.INSTANCE_ROLLING_BACK]
    assert rolled_back == [3, 2, 1, 0]  # the second batch first, each batch from its top
    assert not any(i >= 4 for i, _ in run.events)  # never touched, nothing to undo


def test_without_rollback_a_failing_update_ends_failed_where_it_stopped() -> None:
    job = job_on(same("v1", range(4)), broken={"v2"})
    plan = plan_of(same("v1", range(4)), same("v2", range(4)), rollback_on_failure=False,
                   strategy=QueueStrategy(batch_size=1))  # fmt: skip
    run = roll(job, plan)
    assert run.statuses == [U.ROLLING_FORWARD, U.FAILED]
    assert (0, A.INSTANCE_UPDATE_FAILED) in run.events
    assert job.configs() == {0: "v2", 1: "v1", 2: "v1", 3: "v1"}


def test_autopause_after_each_batch_and_resume() -> None:
    job = job_on(same("v1", range(4)))
    plan = plan_of(same("v1", range(4)), same("v2", range(4)), watch_secs=0,
                   strategy=BatchStrategy(batch_size=2, autopause_after_batch=True))  # fmt: skip
    first = roll(job, plan)
    assert first.progress.status is U.ROLL_FORWARD_PAUSED
    assert first.progress.message == AUTO_PAUSE_MESSAGE
    assert job.configs() == {0: "v2", 1: "v2", 2: "v1", 3: "v1"}
    second = roll(job, plan, resume(plan, first.progress, now=100_000), now=100_000)
    assert second.progress.status is U.ROLLED_FORWARD
    assert job.configs() == same("v2", range(4))


def test_variable_batches_grow_and_the_last_size_repeats() -> None:
    job = job_on(same("v1", range(8)))
    plan = plan_of(same("v1", range(8)), same("v2", range(8)), watch_secs=0,
                   strategy=VariableBatchStrategy(batch_sizes=(1, 3)))  # fmt: skip
    run = roll(job, plan)
    assert run.progress.status is U.ROLLED_FORWARD
    assert run.progress.groups_started == 4  # 1 + 3 + 3 + 1
    assert run.most_working == 3


def test_instances_are_created_first_and_removed_last() -> None:
    job = job_on(same("v1", range(3)))
    plan = plan_of(same("v1", range(3)), {0: "v1", 1: "v2", 3: "v2"}, watch_secs=0)
    run = roll(job, plan)
    assert run.progress.status is U.ROLLED_FORWARD
    assert [i for i, a in run.events if a is A.INSTANCE_UPDATING] == [3, 1, 2]
    assert job.configs() == {0: "v1", 1: "v2", 3: "v2"}


def test_a_canary_changes_only_its_instances() -> None:
    job = job_on(same("v1", range(5)))
    plan = plan_of({0: "v1", 1: "v1"}, {0: "v2", 1: "v2"}, watch_secs=0)
    assert roll(job, plan).progress.status is U.ROLLED_FORWARD
    assert job.configs() == {0: "v2", 1: "v2", 2: "v1", 3: "v1", 4: "v1"}


def test_a_coordinated_update_waits_for_pulses() -> None:
    job = job_on(same("v1", range(4)))
    plan = plan_of(same("v1", range(4)), same("v2", range(4)), watch_secs=0,
                   pulse_interval_secs=2, strategy=QueueStrategy(batch_size=1))  # fmt: skip
    waiting = start(plan)
    assert waiting.status is U.ROLL_FORWARD_AWAITING_PULSE
    assert evaluate(plan, waiting, job.views(), 1000).adds == []  # nothing moves
    going = pulse(waiting, now=1000)
    run = roll(job, plan, going, now=1000)
    assert run.progress.status is U.ROLL_FORWARD_AWAITING_PULSE
    assert run.progress.message == PULSE_TIMEOUT_MESSAGE
    assert 0 < sum(c == "v2" for c in job.configs().values()) < 4  # it went, then stopped
    now = 1000 + 2000
    while (now := now + 1000) < 60_000 and job.configs() != same("v2", range(4)):
        run = roll(job, plan, pulse(run.progress, now), until=1, now=now)
        job.tick(now)
    assert job.configs() == same("v2", range(4))


def test_a_person_rolls_back_a_healthy_update_midway() -> None:
    job = job_on(same("v1", range(4)))
    plan = plan_of(same("v1", range(4)), same("v2", range(4)), watch_secs=0,
                   strategy=BatchStrategy(batch_size=2, autopause_after_batch=True))  # fmt: skip
    paused = roll(job, plan).progress
    run = roll(job, plan, rollback(paused, "not today"), now=50_000)
    assert run.statuses == [U.ROLLING_BACK, U.ROLLED_BACK]
    assert job.configs() == same("v1", range(4))


strategies = st.one_of(
    st.builds(QueueStrategy, batch_size=st.integers(1, 4)),
    st.builds(BatchStrategy, batch_size=st.integers(1, 4)),
    st.builds(VariableBatchStrategy, batch_sizes=st.lists(st.integers(1, 4), min_size=1,
                                                          max_size=3).map(tuple)),
)  # fmt: skip


def largest_group(strategy: UpdateStrategy) -> int:
    if isinstance(strategy, VariableBatchStrategy):
        return max(strategy.batch_sizes)
    return strategy.batch_size


@settings(max_examples=150, deadline=None)
@given(
    before=st.integers(0, 8),
    after=st.integers(0, 8),
    strategy=strategies,
    broken=st.booleans(),
    max_total_failures=st.integers(0, 2),
    watch_secs=st.integers(0, 3),
)
def test_never_more_than_a_group_in_flight_and_every_instance_lands_on_one_side(
    *,
    before: int, after: int, strategy: UpdateStrategy, broken: bool,
    max_total_failures: int, watch_secs: int,
) -> None:  # fmt: skip
    initial, desired = same("v1", range(before)), same("v2", range(after))
    job = job_on(initial, broken={"v2"} if broken else set())
    plan = plan_of(initial, desired, strategy=strategy, watch_secs=watch_secs,
                   max_total_failures=max_total_failures)  # fmt: skip
    run = roll(job, plan)
    assert run.most_working <= largest_group(strategy)
    # Instances that failed within `max_total_failures` stay down while the update goes on.
    assert job.down_most <= largest_group(strategy) + max_total_failures
    if run.progress.status is U.ROLLED_FORWARD:
        assert job.configs() == desired
    else:
        assert run.progress.status is U.ROLLED_BACK
        assert broken
        assert job.configs() == initial  # every instance has its config from before


def healthy(job: Job, now: int, duration_ms: int) -> int:
    return sum(
        t.state is S.RUNNING and t.running_since_ms is not None
        and now - t.running_since_ms >= duration_ms
        for t in job.active.values()
    )  # fmt: skip


def test_an_sla_aware_update_keeps_the_count_of_healthy_instances() -> None:
    job = job_on(same("v1", range(4)))
    sla = CountSlaPolicy(count=3, duration_secs=2)
    plan = plan_of(same("v1", range(4)), same("v2", range(4)), sla=sla, sla_aware=True,
                   watch_secs=0, strategy=QueueStrategy(batch_size=4))  # fmt: skip
    lowest: list[int] = []
    run = roll(job, plan, now=10_000,
               after_each=lambda j, now: lowest.append(healthy(j, now, 2000)))  # fmt: skip
    assert run.progress.status is U.ROLLED_FORWARD
    assert min(lowest) == 3  # one instance down at a time, despite a batch of 4
    assert job.down_most == 1
    careless = plan_of(same("v1", range(4)), same("v2", range(4)), sla=sla, sla_aware=False,
                       watch_secs=0, strategy=QueueStrategy(batch_size=4))  # fmt: skip
    assert roll(job_on(same("v1", range(4))), careless, now=10_000).most_working == 4


@settings(max_examples=100, deadline=None)
@given(
    instances=st.integers(2, 8),
    data=st.data(),
    duration_secs=st.integers(0, 3),
    strategy=strategies,
)
def test_an_sla_aware_update_never_breaks_its_policy(
    instances: int, data: st.DataObject, duration_secs: int, strategy: UpdateStrategy
) -> None:
    if data.draw(st.booleans(), "by count"):
        count = data.draw(st.integers(1, instances - 1), "count")
        policy: SlaPolicy = CountSlaPolicy(count=count, duration_secs=duration_secs)
    else:
        percentage = data.draw(st.integers(1, 99), "percentage")
        policy = PercentageSlaPolicy(percentage=percentage, duration_secs=duration_secs)
        count = -(-instances * percentage // 100)
        count = min(instances, count)  # the policy allows no instance down: only checked, not run
    job = job_on(same("v1", range(instances)))
    plan = plan_of(same("v1", range(instances)), same("v2", range(instances)), sla=policy,
                   sla_aware=True, watch_secs=0, strategy=strategy)  # fmt: skip
    lowest: list[int] = []
    run = roll(job, plan, now=10_000, until=300,
               after_each=lambda j, now: lowest.append(healthy(j, now, duration_secs * 1000)))  # fmt: skip
    assert min(lowest) >= count
    if count < instances:
        assert run.progress.status is U.ROLLED_FORWARD
