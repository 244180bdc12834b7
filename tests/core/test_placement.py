from __future__ import annotations

import msgspec
import numpy as np

from daybreak.core.cluster import Cluster
from daybreak.core.fleet import Fleet
from daybreak.core.placement import PendingReason, Scoring, pending_reason, place_group
from daybreak.core.scheduling import schedule
from daybreak.model.agent import CONTAINER_RUNTIME, MaintenanceMode
from daybreak.model.jobspec import DockerContainer
from tests.core.builders import agent, job_spec


def fleet_of(*cpus: float) -> Fleet:
    return Fleet(agent(f"a{n}", cpu=cpu) for n, cpu in enumerate(cpus))


def test_spread_takes_the_emptiest_agent_and_binpack_the_fullest_that_fits() -> None:
    spec = job_spec(cpu=1, ram_mb=512, disk_mb=512)
    spread = fleet_of(2, 8, 4)
    # Free share of cpu, ram and disk decides: the 8-cpu agent, then the 4-cpu one, then back.
    assert [row for row, _ in place_group(spread, spec, 3, []).assigned] == [1, 2, 1]
    packed = fleet_of(2, 8, 4)
    placement = place_group(packed, spec, 3, [], scoring=Scoring.BINPACK)
    assert [row for row, _ in placement.assigned] == [0, 0, 2]


def test_identical_agents_take_turns_under_spread() -> None:
    fleet = fleet_of(4, 4, 4)
    placement = place_group(fleet, job_spec(cpu=1), 6, [])
    assert [row for row, _ in placement.assigned] == [0, 1, 2, 0, 1, 2]
    assert placement.reason is None


def test_ports_are_the_lowest_free_ones_never_shared_and_a_freed_one_is_reused_last() -> None:
    fleet = Fleet([agent("a0", ports=(31000, 31004))])
    spec = job_spec(cpu=0.1, ram_mb=1, disk_mb=1, ports=("http", "admin"))
    placement = place_group(fleet, spec, 3, [])
    assert [ports for _, ports in placement.assigned] == [
        {"http": 31000, "admin": 31001},
        {"http": 31002, "admin": 31003},
    ]
    assert str(placement.reason) == (
        "insufficient ports on 1 agent; waiting for room: needs ports 2 where the most free is 1"
    )
    fleet.release(0, np.array([0.1, 1, 1, 0, 2]), [31000, 31001])
    # A replacement does not get the port its predecessor just left while another is free
    # (it may still be held); of the freed ones, the one freed longest ago goes first.
    again = place_group(fleet, spec, 1, [])
    assert again.assigned[0][1] == {"http": 31004, "admin": 31000}
    fleet.release(0, np.array([0.1, 1, 1, 0, 2]), [31002, 31003])
    last = place_group(fleet, spec, 1, [])
    assert last.assigned[0][1] == {"http": 31001, "admin": 31002}


def test_gpus_must_fit() -> None:
    fleet = Fleet([agent("cpu-only"), agent("gpu", gpu=2)])
    placement = place_group(fleet, job_spec(cpu=1, gpu=1), 3, [])
    assert [row for row, _ in placement.assigned] == [1, 1]
    assert str(placement.reason) == (
        "insufficient gpu on 2 agents; waiting for room: needs gpu 1 where the most free is 0"
    )


def test_scheduled_maintenance_is_used_last_draining_and_drained_never() -> None:
    fleet = fleet_of(4, 4, 4, 4)
    fleet.set_maintenance("a0", MaintenanceMode.SCHEDULED)
    fleet.set_maintenance("a1", MaintenanceMode.DRAINING)
    fleet.set_maintenance("a2", MaintenanceMode.DRAINED)
    placement = place_group(fleet, job_spec(cpu=2), 5, [])
    assert [row for row, _ in placement.assigned] == [3, 3, 0, 0]
    assert str(placement.reason) == (
        "maintenance on 2 agents; insufficient cpu on 2 agents; "
        "waiting for room: needs cpu 2 where the most free is 0"
    )


def test_limit_counts_the_jobs_tasks_already_placed() -> None:
    fleet = Fleet([agent(f"a{n}", rack=f"r{n % 2}") for n in range(4)])
    spec = job_spec(cpu=1, constraints={"rack": "limit:2"})
    placement = place_group(fleet, spec, 4, [0])  # one task already on a0, in rack r0
    racks = [fleet.infos[row].attributes["rack"] for row, _ in placement.assigned]
    assert sorted(racks) == ["r0", "r1", "r1"]
    assert str(placement.reason) == "limit rack:2 on 4 agents"


def test_agents_without_a_limited_attribute_are_vetoed() -> None:
    fleet = Fleet([agent("a0", rack="r0"), agent("a1")])
    placement = place_group(fleet, job_spec(constraints={"rack": "limit:5"}), 2, [])
    assert [row for row, _ in placement.assigned] == [0, 0]


def test_reasons_count_each_agent_under_its_first_failing_filter() -> None:
    """Largest count first; equal counts in the filters' order."""
    fleet = Fleet(
        [agent("d", dedicated="other/x"), agent("off"), agent("small", cpu=1, rack="r1"),
         agent("r2", rack="r2"), agent("busy", rack="r1")]
    )  # fmt: skip
    fleet.set_online("off", False)
    spec = job_spec(cpu=2, constraints={"rack": "r1", "host": "limit:1"})
    reason = pending_reason(fleet, spec, job_rows=[4])
    assert reason == PendingReason(
        (("agent offline", 1), ("dedicated to others", 1), ("constraint rack:r1", 1),
         ("limit host:1", 1), ("insufficient cpu", 1)),
        room="cpu 2 where the most free is 1",
    )  # fmt: skip
    assert str(PendingReason(())) == "no agents registered"


def test_a_task_no_agent_could_ever_take_is_told_apart_from_one_waiting_for_room() -> None:
    fleet = Fleet([agent("small", cpu=2, ram_mb=2048), agent("big", cpu=8, ram_mb=4096),
                   agent("gpu", cpu=1, gpu=1, dedicated="ml/train")])  # fmt: skip
    fleet.allocate(1, np.array([8.0, 0, 0, 0, 0]), ())  # "big" is busy, not too small
    waiting = pending_reason(fleet, job_spec(cpu=4, ram_mb=1024), job_rows=[])
    assert waiting.never is None
    # The request next to the most any agent it may use has free now.
    assert str(waiting) == (
        "insufficient cpu on 2 agents; dedicated to others on 1 agent; "
        "waiting for room: needs cpu 4 where the most free is 2"
    )
    # Too big for every agent the job may use (the dedicated one is not among them).
    huge = pending_reason(fleet, job_spec(cpu=16, ram_mb=8192, gpu=1), job_rows=[])
    assert huge.never == (
        "needs cpu 16 where the largest agent has 8; ram 8 GiB where the largest agent has "
        "4 GiB; gpu 1 where the largest agent has 0"
    )
    assert str(huge).startswith("cannot be placed on any agent: needs cpu 16 ")
    nowhere = pending_reason(fleet, job_spec(cpu=1, constraints={"rack": "r9"}), job_rows=[])
    assert nowhere.never == "no agent matches its constraints"
    # Offline and drained agents may come back: they still count as able.
    fleet.set_online("big", False)
    assert pending_reason(fleet, job_spec(cpu=4), job_rows=[]).never is None


def test_thousands_are_written_with_separators() -> None:
    assert str(PendingReason((("insufficient ram", 4812), ("maintenance", 3)))) == (
        "insufficient ram on 4,812 agents; maintenance on 3 agents"
    )


def test_blocked_agents_are_not_used() -> None:
    fleet = fleet_of(4, 4)
    blocked = np.array([True, False])
    placement = place_group(fleet, job_spec(cpu=3), 2, [], blocked=blocked)
    assert [row for row, _ in placement.assigned] == [1]
    assert (
        str(placement.reason)
        == "reserved for a preemption on 1 agent; insufficient cpu on 1 agent; "
        "waiting for room: needs cpu 3 where the most free is 1"
    )


def test_equal_configs_read_back_separately_form_one_group() -> None:
    cluster = Cluster()
    for number in range(3):
        cluster.register_agent(agent(f"a{number}"), 0)
    spec = job_spec(instances=3, constraints={"host": "limit:1"})
    copy = msgspec.json.decode(msgspec.json.encode(spec), type=type(spec))
    cluster.add_instances(spec, [0, 1], 0)
    cluster.add_instances(copy, [2], 0)
    schedule(cluster, 1)
    hosts = {task.agent_id for task in cluster.tasks.values()}
    assert hosts == {"a0", "a1", "a2"}


def test_with_no_agent_at_all_nothing_is_placed_and_the_reason_says_so() -> None:
    placement = place_group(Fleet(), job_spec(), 2, [])
    assert placement.assigned == []
    assert str(placement.reason) == "no agents registered"


def test_a_task_in_an_image_goes_only_where_a_container_runtime_is() -> None:
    with_runtime = agent("boxes", cpu=2, more={CONTAINER_RUNTIME: "runc"})
    fleet = Fleet([agent("plain", cpu=8), with_runtime])
    boxed = msgspec.structs.replace(
        job_spec(cpu=1), container=DockerContainer(image="registry:5000/web:1")
    )
    assert [row for row, _ in place_group(fleet, boxed, 2, []).assigned] == [1, 1]
    assert [row for row, _ in place_group(fleet, job_spec(cpu=1), 1, []).assigned] == [0]
    fleet.set_online("boxes", False)
    reason = pending_reason(fleet, boxed, job_rows=[])
    assert reason.counts == (("agent offline", 1), ("no container runtime", 1))
    assert reason.never is None  # the agent that can may come back
    plain_only = pending_reason(Fleet([agent("plain", cpu=8)]), boxed, job_rows=[])
    assert (
        plain_only.never == "it runs in an image, and no agent it may use has a container runtime"
    )
