"""What an update changes and how long it has left, worked out by hand."""

from __future__ import annotations

import msgspec

from daybreak.model.jobspec import QueueStrategy, UpdateSettings, VariableBatchStrategy
from daybreak.model.update import (
    InstanceAction as A,
)
from daybreak.model.update import (
    InstanceProgress,
    InstanceStatus,
    InstanceUpdateEvent,
    JobUpdate,
    UpdatePlan,
    UpdateProgress,
    UpdateStatus,
)
from daybreak.model.update_view import config_changes, time_left
from tests.core.builders import job_spec

OLD = job_spec("web", instances=4)
NEW = msgspec.structs.replace(OLD, instances=5, task=msgspec.structs.replace(OLD.task, name="v2"))
IS = InstanceStatus


def update(statuses: dict[int, InstanceStatus], events: list[tuple[int, int, A]],
           status: UpdateStatus = UpdateStatus.ROLLING_FORWARD,
           settings: UpdateSettings | None = None) -> JobUpdate:  # fmt: skip
    return JobUpdate(
        update_id="u1", job=OLD.key, created_ms=0, modified_ms=0,
        plan=UpdatePlan(initial={i: "a" for i in range(4)}, desired={i: "b" for i in range(5)},
                        settings=settings or UpdateSettings(watch_secs=30, strategy=QueueStrategy(batch_size=2))),
        progress=UpdateProgress(status=status, instances={
            i: InstanceProgress(status=s) for i, s in statuses.items()}),
        configs={"a": OLD, "b": NEW},
        instance_events=tuple(InstanceUpdateEvent(timestamp_ms=at, instance=i, action=action)
                              for at, i, action in events),
    )  # fmt: skip


def test_changes_are_grouped_by_config_pair_with_a_diff() -> None:
    changes = config_changes(update({}, []))
    assert [(c.instances, c.before, c.after) for c in changes] == [
        ((0, 1, 2, 3), "a", "b"),
        ((4,), None, "b"),
    ]
    diff = changes[0].diff
    assert diff[:2] == ("--- config a", "+++ config b")
    assert any(line.startswith("+") and '"name": "v2"' in line for line in diff)
    assert any(line.startswith("-") and '"instances": 4' in line for line in diff)
    assert changes[1].diff == ()


def test_before_any_instance_is_done_the_watch_time_is_a_lower_bound() -> None:
    left = time_left(update({}, []), now=0)
    assert left is not None and not left.measured
    # 5 instances, 2 at a time: 3 waves of the 30 s watch.
    assert (left.remaining, left.parallel, left.left_ms) == (5, 2, 90_000)


def test_done_instances_set_the_pace_and_work_in_flight_counts_what_it_has_left() -> None:
    statuses = {0: IS.SUCCEEDED, 1: IS.SUCCEEDED, 2: IS.WORKING, 3: IS.WORKING}
    events = [(0, 0, A.INSTANCE_UPDATING), (0, 1, A.INSTANCE_UPDATING),
              (40_000, 0, A.INSTANCE_UPDATED), (60_000, 1, A.INSTANCE_UPDATED),
              (60_000, 2, A.INSTANCE_UPDATING), (60_000, 3, A.INSTANCE_UPDATING)]  # fmt: skip
    left = time_left(update(statuses, events), now=80_000)
    assert left is not None and left.measured and left.done == 2
    # The median of 40 s and 60 s is 50 s: 30 s left of those in flight, then one more wave.
    assert (left.per_instance_ms, left.remaining, left.left_ms) == (50_000, 3, 30_000 + 50_000)


def test_a_variable_batch_counts_the_batch_it_is_on_and_a_paused_one_has_no_estimate() -> None:
    variable = UpdateSettings(watch_secs=10, strategy=VariableBatchStrategy(batch_sizes=(1, 4)))
    left = time_left(update({}, [], settings=variable), now=0)
    assert left is not None and left.parallel == 1
    assert time_left(update({}, [], UpdateStatus.ROLL_FORWARD_PAUSED), now=0) is None
    assert time_left(update({}, [], UpdateStatus.ROLLED_FORWARD), now=0) is None


def test_update_info_says_the_time_left_while_it_rolls() -> None:
    from daybreak.client.update_commands import describe_update

    rolling = describe_update(update({}, []), now=0)
    assert "  time left: at least 1m30s, 5 instance(s) to go, 2 at a time" in rolling
    done = describe_update(update({}, [], UpdateStatus.ROLLED_FORWARD), now=0)
    assert "time left" not in done
