"""Aurora's SLA figures against values worked out by hand."""

from __future__ import annotations

import pytest

from daybreak.errors import InvalidParameterError
from daybreak.model.api import TaskSummary
from daybreak.model.jobspec import JobKey
from daybreak.model.sla import (
    Domain,
    HostJobSla,
    JobLimit,
    instance_uptimes,
    job_uptime,
    parse_duration,
    parse_durations,
    parse_percentage,
    parse_percentiles,
    task_up_count,
    wait_to_sla,
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


def running(job: str, instance: int, host: str, up_s: int) -> TaskSummary:
    key = JobKey(cluster="c", role="www", environment="prod", name=job)
    return TaskSummary(
        task_id=f"{job}-{instance}", job=key, instance=instance, state=S.RUNNING, hostname=host,
        events=(TaskEvent(timestamp_ms=NOW - up_s * 1000, state=S.RUNNING),),
    )  # fmt: skip


def pending(job: str, instance: int) -> TaskSummary:
    key = JobKey(cluster="c", role="www", environment="prod", name=job)
    return TaskSummary(task_id=f"{job}-{instance}", job=key, instance=instance, state=S.PENDING)


# web: four instances, two on h1 (up 10 min, 1 h), one on h2 (up 2 h), one pending.
# db: two instances, on h2 and h3, up 1 h each. tiny: one instance, on h3.
DOMAIN = [
    running("web", 0, "h1", 600), running("web", 1, "h1", 3600), running("web", 2, "h2", 7200),
    pending("web", 3), running("db", 0, "h2", 3600), running("db", 1, "h3", 3600),
    running("tiny", 0, "h3", 60),
]  # fmt: skip


def test_probing_a_host_predicts_each_jobs_up_count_without_it() -> None:
    domain = Domain(DOMAIN, NOW, min_instances=2)  # tiny is left out
    assert domain.probe(["h1", "h2", "h9"], 25, 1800) == [
        # web without h1: instance 2 is up 30 min of 4 instances: 25 %.
        HostJobSla(host="h1", job="c/www/prod/web", predicted_percentage=25.0,
                   duration_s=1800, safe=True, safe_in_s=0),
        # db without h2: 1 of 2 up.
        HostJobSla(host="h2", job="c/www/prod/db", predicted_percentage=50.0,
                   duration_s=1800, safe=True, safe_in_s=0),
        # web without h2: instance 1 (1 h) is up 30 min, instance 0 (10 min) is not: 1 of 4.
        HostJobSla(host="h2", job="c/www/prod/web", predicted_percentage=25.0,
                   duration_s=1800, safe=True, safe_in_s=0),
    ]  # fmt: skip
    # Wanting 50 % of web up 30 min without h2: instance 0 gets there in 20 min.
    [_db, web] = domain.probe(["h2"], 50, 1800)
    assert (web.predicted_percentage, web.safe, web.safe_in_s) == (25.0, False, 1200)
    # Wanting 75 %: two instances left of four can never make three.
    [_db, web] = domain.probe(["h2"], 75, 1800)
    assert (web.safe, web.safe_in_s) == (False, None)


def test_safe_hosts_are_those_every_job_of_which_keeps_its_sla() -> None:
    domain = Domain(DOMAIN, NOW, min_instances=1)
    # 25 %: without h3, tiny has none of its one instance up.
    assert list(domain.safe_hosts(25, 1800)) == ["h1", "h2"]
    # 50 %: web keeps 1 of 4 without h1 or h2; tiny none without h3.
    assert domain.safe_hosts(50, 1800) == {}
    # A job's own limit overrides the default.
    limits = {"c/www/prod/web": JobLimit(25, 1800), "c/www/prod/tiny": JobLimit(0, 0)}
    safe = domain.safe_hosts(50, 1800, limits)
    assert list(safe) == ["h1", "h2", "h3"]
    assert [(f.job, f.predicted_percentage, f.duration_s) for f in safe["h3"]] == [
        ("c/www/prod/db", 50.0, 1800),
        ("c/www/prod/tiny", 0.0, 0),
    ]


def test_wait_to_sla_as_aurora_computed_it() -> None:
    # Three instances would be left of four, up 10, 20 and 50 s; 75 % up 30 s needs all
    # three, the shortest in 20 s.
    assert wait_to_sla([10, 20, 50], 75, 30, 4) == 20
    assert wait_to_sla([10, 20, 50], 25, 30, 4) == 0
    assert wait_to_sla([10, 20, 50], 100, 30, 4) is None


def test_domain_arguments_are_read_with_a_located_message() -> None:
    assert parse_duration("1d3h45m", "DURATION") == 86_400 + 3 * 3600 + 45 * 60
    assert parse_percentage("99.5", "PERCENTAGE") == 99.5
    with pytest.raises(InvalidParameterError, match="DURATION: cannot read '45x'"):
        parse_duration("45x", "DURATION")
    for bad in ("0", "100.5", "ninety"):
        with pytest.raises(InvalidParameterError, match=f"PERCENTAGE: '{bad}' is not a"):
            parse_percentage(bad, "PERCENTAGE")
