from __future__ import annotations

import itertools

import msgspec
import numpy as np
import pytest

from daybreak.core.cluster import Cluster
from daybreak.core.fleet import Fleet, Holding, demand
from daybreak.core.preemption import Preemptor
from daybreak.model.jobspec import JobSpec
from daybreak.model.tiers import UnknownTierError, may_preempt, tier_of
from tests.core.builders import agent, job_spec

PROD = job_spec("prod", tier="preferred", cpu=3)
counter = itertools.count()


def running(fleet: Fleet, agent_id: str, spec: JobSpec) -> Holding:
    row = fleet.index[agent_id]
    amount = demand(spec.task.resources, 0)
    fleet.claim(row, amount, ())
    return Holding(f"{spec.key.name}-{next(counter)}", row, amount, (), spec)


@pytest.mark.parametrize(
    ("candidate", "victim", "allowed"),
    [
        (job_spec(tier="preferred"), job_spec(tier="preemptible"), True),
        (job_spec(tier="preferred"), job_spec(tier="revocable"), True),
        (job_spec(tier="preferred", role="a"), job_spec(tier="preemptible", role="b"), True),
        (job_spec(tier="preferred", priority=1), job_spec(tier="preferred"), True),
        (
            job_spec(tier="preferred", priority=1, role="a"),
            job_spec(tier="preferred", role="b"),
            False,
        ),
        (job_spec(tier="preferred"), job_spec(tier="preferred"), False),
        (job_spec(tier="preemptible", priority=2), job_spec(tier="preemptible", priority=1), True),
        (job_spec(tier="preemptible", priority=2), job_spec(tier="preferred"), False),
        (job_spec(tier="preemptible"), job_spec(tier="preemptible", priority=1), False),
    ],
)
def test_who_may_preempt_whom(candidate: JobSpec, victim: JobSpec, allowed: bool) -> None:
    assert may_preempt(candidate, victim) is allowed


def test_tiers_follow_production_when_no_tier_is_named() -> None:
    assert tier_of(job_spec()).name == "preemptible"
    prod = job_spec(tier="preferred")
    assert tier_of(prod).production
    assert tier_of(msgspec.structs.replace(prod, tier=None, production=True)).production


def test_a_job_naming_an_unknown_tier_is_refused_before_anything_is_stored() -> None:
    cluster = Cluster()
    with pytest.raises(UnknownTierError, match=r"unknown tier 'gold'.*preferred, preemptible"):
        cluster.add_instances(job_spec(tier="gold"), [0], 0)
    assert cluster.tasks == {}


def test_the_agent_needing_the_fewest_victims_wins() -> None:
    fleet = Fleet([agent("many", cpu=4), agent("one", cpu=4)])
    small, big = job_spec("small", cpu=1), job_spec("big", cpu=3)
    victims = [running(fleet, "many", small) for _ in range(4)]
    victims.append(running(fleet, "one", big))
    victims.append(running(fleet, "one", small))
    slot = Preemptor(fleet, victims).find_slot(PROD, [])
    assert slot is not None
    assert (slot.row, slot.victims) == (1, (victims[4].task_id,))


def test_victims_not_needed_are_spared() -> None:
    fleet = Fleet([agent("a", cpu=3, ram_mb=4100)])
    wide = running(fleet, "a", job_spec("wide", cpu=2, ram_mb=100))
    tall = running(fleet, "a", job_spec("tall", cpu=1, ram_mb=4000))
    candidate = job_spec("p", tier="preferred", cpu=1, ram_mb=3000)
    slot = Preemptor(fleet, [wide, tall]).find_slot(candidate, [])
    # Largest (by cpu) first takes both; the ram-heavy one alone makes room.
    assert slot is not None
    assert slot.victims == (tall.task_id,)


def test_production_work_and_too_little_room_are_left_alone() -> None:
    fleet = Fleet([agent("a", cpu=4)])
    victims = [running(fleet, "a", job_spec("other", tier="preferred", role="x", cpu=2)),
               running(fleet, "a", job_spec("v", cpu=1))]  # fmt: skip
    assert Preemptor(fleet, victims).find_slot(PROD, []) is None


def test_constraints_apply_to_the_agent_chosen() -> None:
    fleet = Fleet([agent("a0", rack="r0"), agent("a1", rack="r1"), agent("d", dedicated="x/y")])
    victims = [running(fleet, agent_id, job_spec("v", cpu=4)) for agent_id in ("a0", "a1", "d")]
    preemptor = Preemptor(fleet, victims)
    on_r1 = job_spec("p", tier="preferred", cpu=3, constraints={"rack": "r1"})
    first = preemptor.find_slot(on_r1, [])
    assert first is not None and first.row == 1
    # An agent chosen once is not offered again in the round; the dedicated one never is.
    assert preemptor.find_slot(on_r1, []) is None
    assert preemptor.find_slot(PROD, [], np.array([True, False, False])) is None


def test_an_agent_with_room_already_is_not_a_preemption() -> None:
    fleet = Fleet([agent("a", cpu=8)])
    victims = [running(fleet, "a", job_spec("v", cpu=1))]
    assert Preemptor(fleet, victims).find_slot(PROD, []) is None
