from __future__ import annotations

import pytest

from daybreak.core.quota import Aggregate, QuotaExceededError, check_quota, consumption
from daybreak.errors import DaybreakError
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TaskState
from tests.core.builders import job_spec

PROD = job_spec("api", tier="preferred", cpu=2, ram_mb=1024, disk_mb=1024)


def task(spec: object, state: TaskState, number: int) -> ScheduledTask:
    return ScheduledTask(task_id=f"t{number}", spec=spec, instance=number, state=state)  # type: ignore[arg-type]


def test_production_work_within_quota_is_accepted() -> None:
    check_quota(PROD, 2, Aggregate(cpu=4), Aggregate(cpu=8, ram_mb=4096, disk_mb=4096))


def test_exceeding_quota_names_requested_used_and_quota() -> None:
    with pytest.raises(QuotaExceededError) as caught:
        check_quota(PROD, 3, Aggregate(cpu=4, ram_mb=1024), Aggregate(cpu=8, ram_mb=8192,
                                                                       disk_mb=8192))  # fmt: skip
    assert str(caught.value) == (
        "Insufficient resource quota for role www: cpu requested 6, used 4, quota 8 (exceeded by 2)"
    )
    assert isinstance(caught.value, DaybreakError)


def test_a_role_without_quota_runs_no_production_work() -> None:
    with pytest.raises(QuotaExceededError, match="ram_mb requested 1024, used 0, quota 0"):
        check_quota(PROD, 1, Aggregate(), None)


def test_preemptible_and_dedicated_work_needs_no_quota() -> None:
    check_quota(job_spec(cpu=100), 10, Aggregate(), None)
    dedicated = job_spec(tier="preferred", cpu=100, constraints={"dedicated": "www/db"})
    check_quota(dedicated, 10, Aggregate(), None)


def test_consumption_counts_active_production_tasks_of_the_role_only() -> None:
    other_role = job_spec("x", role="ads", tier="preferred", cpu=5)
    tasks = [
        task(PROD, TaskState.RUNNING, 0),
        task(PROD, TaskState.PENDING, 1),
        task(PROD, TaskState.FINISHED, 2),
        task(job_spec("batch", cpu=7), TaskState.RUNNING, 3),
        task(other_role, TaskState.RUNNING, 4),
    ]
    assert consumption(tasks, "www") == Aggregate(cpu=4, ram_mb=2048, disk_mb=2048)
    assert consumption(tasks, "www", excluding=PROD.key) == Aggregate()
