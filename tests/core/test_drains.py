"""Draining hosts as each job's SLA allows, on a fake clock: a task waits (and says why) while
its job cannot spare it, leaves when it can, no pass takes more than the policy allows, the
drain's default covers jobs without a policy, forcing and the force time override it, the jobs
Aurora never checked are not checked, and a new leader carries on a drain it finds stored."""

from __future__ import annotations

import msgspec
import pytest

from daybreak.core.commands import (
    CoordinatorAnswer,
    CreateJob,
    SetMaintenance,
)
from daybreak.core.settings import Settings
from daybreak.core.sla import SlaRules, needed_up
from daybreak.errors import InvalidParameterError
from daybreak.model.agent import DrainTerms, MaintenanceMode
from daybreak.model.jobspec import (
    CoordinatorSlaPolicy,
    CountSlaPolicy,
    JobSpec,
    PercentageSlaPolicy,
)
from daybreak.model.task_state import TaskState
from tests.core.builders import job_spec
from tests.core.world import World

S = TaskState
M = MaintenanceMode
SECOND = 1000


def service(name: str, instances: int, per_host: int = 1, **fields: object) -> JobSpec:
    spec = job_spec(name, instances=instances, cpu=0.5, ram_mb=64, disk_mb=64, service=True,
                    tier="preferred", constraints={"host": f"limit:{per_host}"})  # fmt: skip
    return msgspec.structs.replace(spec, **fields)


def test_a_task_waits_until_the_rest_of_its_job_has_been_up_long_enough() -> None:
    world = World(agents=3)
    policy = CountSlaPolicy(count=2, duration_secs=60)
    world.handle(CreateJob(service("web", 3, sla_policy=policy)), 0)
    world.tick(SECOND)
    world.add_agent("a4", SECOND)  # room for the one that leaves
    [task] = world.running_on("a1")
    world.drain("h1", 30 * SECOND)
    assert world.running_on("a1") == [task]
    assert world.waits("a1") == [
        "job west/www/prod/web would have 0 of 3 instances up 1m or more without it; its "
        "policy (2 instance(s) up for 60 s) needs 2"
    ]
    world.tick(61 * SECOND)  # the others have been up 60 s, not more
    assert world.running_on("a1") == [task]
    world.settle(62 * SECOND)
    assert world.running_on("a1") == []
    assert world.mode("a1") is M.DRAINED and world.waits("a1") == []
    assert world.state.agents.get("a1").stored.drain is None  # type: ignore[union-attr]
    replacement = [t for t in world.running_on("a4") if t.instance == task.instance]
    assert len(replacement) == 1


def test_one_pass_never_takes_more_than_the_policy_allows() -> None:
    world = World(agents=2)
    # Four instances, two on each of a1 and a2; three must stay up.
    policy = CountSlaPolicy(count=3, duration_secs=0)
    world.handle(CreateJob(service("web", 4, per_host=2, sla_policy=policy)), 0)
    world.tick(SECOND)
    world.add_agent("a3", SECOND)
    first, second = world.running_on("a1")
    world.drain("h1", 2 * SECOND)
    assert world.running_on("a1") == [second]
    assert world.waits("a1") == [
        "job west/www/prod/web would have 2 of 4 instances up 0s or more without it; its "
        "policy (3 instance(s) up for 0 s) needs 3"
    ]
    # The first one's replacement runs on a3; once it has been up, the second may go.
    assert [t.instance for t in world.running_on("a3")] == [first.instance]
    world.settle(3 * SECOND)
    assert world.running_on("a1") == [] and world.mode("a1") is M.DRAINED


def test_a_job_without_a_policy_gets_the_drains_default_relaxed_to_let_one_go() -> None:
    world = World(agents=3)
    world.handle(CreateJob(service("web", 3)), 0)
    world.tick(SECOND)
    world.drain("h1", 2 * SECOND, percentage=95, duration_secs=10)
    assert world.waits("a1") == [
        "job west/www/prod/web would have 0 of 3 instances up 10s or more without it; the "
        "drain's default policy (95% of instances up for 10 s) needs 2"
    ]
    world.settle(12 * SECOND)
    assert world.mode("a1") is M.DRAINED


def test_force_drains_at_once_and_the_force_time_ends_any_wait() -> None:
    world = World(agents=4)
    policy = CountSlaPolicy(count=3, duration_secs=3600)
    world.handle(CreateJob(service("web", 3, sla_policy=policy)), 0)
    world.tick(SECOND)
    world.drain("h1", 2 * SECOND, force=True)
    assert world.mode("a1") is M.DRAINED
    world.drain("h2", 3 * SECOND, force_after_secs=60)
    assert world.mode("a2") is M.DRAINING and len(world.waits("a2")) == 1
    world.tick(62 * SECOND)
    assert world.mode("a2") is M.DRAINING
    world.settle(63 * SECOND)
    assert world.mode("a2") is M.DRAINED


@pytest.mark.parametrize(
    ("rules", "tier", "instances", "checked"),
    [
        (SlaRules(min_instances=1), "preemptible", 3, False),
        (SlaRules(min_instances=1, check_non_production=True), "preemptible", 3, True),
        (SlaRules(min_instances=4), "preferred", 3, False),
        (SlaRules(min_instances=3), "preferred", 3, True),
    ],
)
def test_only_production_jobs_with_enough_instances_are_checked(
    rules: SlaRules, tier: str, instances: int, checked: bool
) -> None:
    world = World(agents=4, settings=Settings(sla_rules=rules))
    policy = CountSlaPolicy(count=2, duration_secs=3600)
    spec = service("web", instances, sla_policy=policy)
    world.handle(CreateJob(msgspec.structs.replace(spec, tier=tier)), 0)
    world.tick(SECOND)
    world.drain("h1", 2 * SECOND)
    assert (world.mode("a1") is M.DRAINING) is checked


def test_a_new_leader_carries_on_a_stored_drain_from_its_start() -> None:
    world = World(agents=4)
    policy = CountSlaPolicy(count=3, duration_secs=3600)
    world.handle(CreateJob(service("web", 3, sla_policy=policy)), 0)
    world.tick(SECOND)
    world.drain("h1", 2 * SECOND, force_after_secs=100)
    stored = world.stored.agents["a1"]
    assert stored.maintenance is M.DRAINING and stored.drain is not None
    assert stored.drain.started_ms == 2 * SECOND
    successor = World(agents=4, snapshot=world.stored, now=50 * SECOND)
    successor.tick(51 * SECOND)
    assert successor.mode("a1") is M.DRAINING and len(successor.waits("a1")) == 1
    successor.settle(102 * SECOND)
    assert successor.mode("a1") is M.DRAINED


def test_a_drain_with_terms_no_cluster_can_mean_is_refused_and_changes_nothing() -> None:
    world = World(agents=2)
    for terms, message in [
        ({"percentage": 0}, "drain percentage 0 must be above 0 and at most 100"),
        ({"percentage": 101}, "drain percentage 101 must be above 0 and at most 100"),
        ({"duration_secs": -1}, "drain duration -1 s must be between 0 and 31622400"),
        ({"force_after_secs": 10**30}, "drain force-after 1000000000000000000000000000000 s"),
    ]:
        with pytest.raises(InvalidParameterError, match=message):
            world.drain("h1", SECOND, **terms)
        assert world.mode("a1") is M.NONE


COORDINATOR = CoordinatorSlaPolicy(coordinator_url="http://coordinator:8000/sla")
URL = COORDINATOR.coordinator_url


def test_a_coordinator_is_asked_one_question_at_a_time_and_a_yes_moves_the_task() -> None:
    world = World(agents=2)
    world.handle(CreateJob(service("store", 2, sla_policy=COORDINATOR)), 0)
    world.tick(SECOND)
    world.add_agent("a3", SECOND)
    world.handle(SetMaintenance(("h1", "h2"), M.DRAINING, DrainTerms()), 2 * SECOND)
    [first] = world.asks
    assert (first.url, first.status_key, first.force_in_ms) == (URL, "drain", 7 * 86_400_000)
    asked = first.task_id
    other = next(t.task_id for t in world.running_on("a1") + world.running_on("a2")
                 if t.task_id != asked)  # fmt: skip
    waits = {**world.state.drain_waits["a1"], **world.state.drain_waits["a2"]}
    assert waits == {
        asked: f"waiting for the answer of coordinator {URL}",
        other: f"coordinator {URL} is being asked about another task (one question at a time)",
    }
    world.tick(3 * SECOND)
    assert len(world.asks) == 1  # nothing more while the question is out

    # No: asked again after the retry interval (a minute), not before.
    world.handle(CoordinatorAnswer(asked, URL, False, "said no (drain=False)"), 4 * SECOND)
    assert len(world.asks) == 2 and world.asks[1].task_id == other  # its turn
    world.handle(CoordinatorAnswer(other, URL, False, "answered HTTP 503"), 5 * SECOND)
    waits = {**world.state.drain_waits["a1"], **world.state.drain_waits["a2"]}
    assert waits[asked] == f"coordinator {URL} said no (drain=False); asking again in 59s"
    world.tick(63 * SECOND)
    assert len(world.asks) == 2
    world.tick(64 * SECOND)
    assert world.asks[2].task_id == asked and len(world.asks) == 3

    # Yes: the task leaves at once.
    world.handle(CoordinatorAnswer(asked, URL, True, "said yes"), 65 * SECOND)
    assert asked not in {t.task_id for t in world.running_on("a1") + world.running_on("a2")}
    assert world.asks[3].task_id == other  # the coordinator is free for the next question


def test_a_forced_drain_asks_no_coordinator_and_a_new_leader_asks_again() -> None:
    world = World(agents=2)
    world.handle(CreateJob(service("store", 2, sla_policy=COORDINATOR)), 0)
    world.tick(SECOND)
    world.drain("h1", 2 * SECOND)
    assert len(world.asks) == 1
    successor = World(agents=2, snapshot=world.stored, now=10 * SECOND)
    successor.tick(11 * SECOND)
    assert [ask.task_id for ask in successor.asks] == [world.asks[0].task_id]
    successor.drain("h2", 12 * SECOND, force=True)
    assert successor.mode("a2") is M.DRAINED and len(successor.asks) == 1


@pytest.mark.parametrize(
    ("policy", "total", "needed"),
    [
        (CountSlaPolicy(count=2, duration_secs=0), 3, 2),
        (CountSlaPolicy(count=3, duration_secs=0), 3, 2),  # relaxed: one may go
        (CountSlaPolicy(count=5, duration_secs=0), 3, 2),
        (PercentageSlaPolicy(percentage=50, duration_secs=0), 4, 2),  # exactly half
        (PercentageSlaPolicy(percentage=95, duration_secs=0), 100, 95),
        (PercentageSlaPolicy(percentage=95, duration_secs=0), 10, 9),  # relaxed
        (PercentageSlaPolicy(percentage=66.7, duration_secs=0), 3, 2),
        (PercentageSlaPolicy(percentage=99.9, duration_secs=0), 2000, 1998),
        (CountSlaPolicy(count=1, duration_secs=0), 1, 0),
    ],
)
def test_needed_up_as_aurora_counted_it(
    policy: CountSlaPolicy | PercentageSlaPolicy, total: int, needed: int
) -> None:
    assert needed_up(policy, total) == needed
