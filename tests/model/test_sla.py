"""Aurora's SLA figures against values worked out by hand."""

from __future__ import annotations

import pytest

from daybreak.errors import InvalidParameterError
from daybreak.model.api import TaskSummary
from daybreak.model.jobspec import JobKey
from daybreak.model.sla import (
    instance_uptimes,
    job_uptime,
    parse_durations,
    parse_percentiles,
    task_up_count,
)
from daybreak.model.task import TaskEvent
from daybreak.model.task_state import TaskState

S = TaskState
KEY = JobKey(cluster="c", role="www", environment="prod", name="api")
NOW = 1_000_000_000


def task(instance: int, state: TaskState, *events: tuple[TaskState, int]) -> TaskSummary:
    return TaskSummary(
        task_id=f"t{instance}", job=KEY, instance=instance, state=state,
        events=tuple(TaskEvent(timestamp_ms=NOW - ago_s * 1000, state=s) for s, ago_s in events),
    )  # fmt: skip


def test_uptime_counts_from_the_start_of_each_running_instance() -> None:
    tasks = [
        task(
            0, S.RUNNING, (S.PENDING, 900), (S.ASSIGNED, 800), (S.STARTING, 700), (S.RUNNING, 690)
        ),
        task(1, S.RUNNING, (S.PENDING, 100), (S.RUNNING, 60)),  # RUNNING at once: no STARTING
        task(2, S.PENDING, (S.PENDING, 5)),  # not up
        task(3, S.KILLING, (S.RUNNING, 500), (S.KILLING, 1)),  # on its way out
    ]
    assert instance_uptimes(tasks, NOW) == {0: 700, 1: 60}


def test_task_up_count_and_job_uptime_as_aurora_computed_them() -> None:
    uptimes = {i: seconds for i, seconds in enumerate([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])}
    assert task_up_count(uptimes, 0) == 100.0
    assert task_up_count(uptimes, 55) == 50.0  # 60..100
    assert task_up_count(uptimes, 100) == 10.0
    assert task_up_count(uptimes, 101) == 0.0
    assert task_up_count({}, 60) == 0.0
    # n = 10: percentile p gives the (floor(p/10) + 1)-th longest.
    assert job_uptime(uptimes, 10) == 90
    assert job_uptime(uptimes, 50) == 50
    assert job_uptime(uptimes, 99.9) == 10
    assert job_uptime(uptimes, 5) == 100
    assert job_uptime({}, 50) == 0


def test_durations_and_percentiles_are_read_as_aurora_took_them() -> None:
    assert parse_durations("1m,1d,3h25m,45s") == [60, 86_400, 3 * 3600 + 25 * 60, 45]
    assert parse_percentiles("10,50,99.9") == [10.0, 50.0, 99.9]
    for bad in ("1x", "", "m5", "1h 5m"):
        with pytest.raises(InvalidParameterError, match="--durations: cannot read"):
            parse_durations(bad)
    for bad in ("0", "100", "fifty", "-3"):
        with pytest.raises(InvalidParameterError, match="between 0 and 100"):
            parse_percentiles(bad)
