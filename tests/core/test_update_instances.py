"""What a task runs does not include its job's instance count (Aurora's TaskConfig): an update
that only adds instances starts the new ones and leaves the others running, and a job's
instances all share one config after `job add`."""

from __future__ import annotations

import msgspec

from daybreak.core.commands import AddInstances, CreateJob, StartUpdate
from daybreak.core.updates import config_id
from daybreak.model.task_state import ACTIVE_STATES, TaskState
from tests.core.builders import job_spec
from tests.core.world import World

SECOND = 1000
SPEC = job_spec("web", instances=3, cpu=0.1, ram_mb=16, disk_mb=16, service=True)


def running(world: World) -> dict[int, str]:
    return {t.instance: t.task_id for t in world.state.cluster.tasks.values()
            if t.state is TaskState.RUNNING}  # fmt: skip


def test_an_update_to_more_instances_only_adds_them() -> None:
    world = World(agents=1)
    world.handle(CreateJob(SPEC), 0)
    world.tick(SECOND)
    before = running(world)
    assert sorted(before) == [0, 1, 2]
    world.handle(StartUpdate(msgspec.structs.replace(SPEC, instances=5), None), 2 * SECOND)
    for second in range(3, 120):
        world.tick(second * SECOND)
    after = running(world)
    assert sorted(after) == [0, 1, 2, 3, 4]
    assert {i: after[i] for i in before} == before  # untouched
    ended = [t for t in world.state.cluster.tasks.values() if t.state not in ACTIVE_STATES]
    assert ended == []


def test_instances_added_share_the_config_of_the_others() -> None:
    world = World(agents=1)
    world.handle(CreateJob(SPEC), 0)
    world.tick(SECOND)
    world.handle(AddInstances(SPEC.key, 2), 2 * SECOND)
    world.tick(3 * SECOND)
    assert len(world.state.cluster.tasks) == 5
    assert len({config_id(t.spec) for t in world.state.cluster.tasks.values()}) == 1
    assert config_id(SPEC) == config_id(msgspec.structs.replace(SPEC, instances=7))
    assert config_id(SPEC) != config_id(msgspec.structs.replace(SPEC, priority=1))
