from __future__ import annotations

import pytest

from daybreak.core.quota import Aggregate, QuotaExceededError, QuotaUse, check_quota
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


def use_of(tasks: list[ScheduledTask]) -> QuotaUse:
    use = QuotaUse()
    for each in tasks:
        use.change(None, each)
    return use


def test_use_counts_active_production_tasks_of_the_role_only() -> None:
    other_role = job_spec("x", role="ads", tier="preferred", cpu=5)
    batch = job_spec("batch", cpu=7)
    use = use_of([
        task(PROD, TaskState.RUNNING, 0),
        task(PROD, TaskState.PENDING, 1),
        task(PROD, TaskState.FINISHED, 2),
        task(batch, TaskState.RUNNING, 3),
        task(other_role, TaskState.RUNNING, 4),
    ])  # fmt: skip
    assert use.of_role("www") == Aggregate(cpu=4, ram_mb=2048, disk_mb=2048)
    assert use.of_role("www", excluding=PROD.key) == Aggregate()
    assert use.of_role("www", production=False) == Aggregate(cpu=7, ram_mb=1024, disk_mb=1024)
    assert use.of_role("ads") == Aggregate(cpu=5, ram_mb=1024, disk_mb=1024)
    assert use.of_role("nobody") == Aggregate()


def test_use_follows_tasks_as_they_change_and_go() -> None:
    running, pending = task(PROD, TaskState.RUNNING, 0), task(PROD, TaskState.PENDING, 1)
    use = use_of([running, pending])
    finished = ScheduledTask(task_id="t0", spec=PROD, instance=0, state=TaskState.FINISHED)
    use.change(running, finished)
    assert use.of_role("www") == Aggregate(cpu=2, ram_mb=1024, disk_mb=1024)
    use.change(pending, None)
    use.change(finished, None)
    assert use.of_role("www") == Aggregate()


def test_use_of_many_small_tasks_fills_a_quota_exactly() -> None:
    """Counted, not summed as it goes: tasks of 0.1 cpu coming and going leave no residue,
    and a job that exactly fills the quota is not refused for the last digit of a float."""
    small = job_spec("small", tier="preferred", cpu=0.1, ram_mb=1, disk_mb=1)
    tasks = [task(small, TaskState.RUNNING, number) for number in range(10)]
    use = use_of(tasks)
    for each in tasks[:7]:
        use.change(each, None)
    assert use.of_role("www") == use_of(tasks[7:]).of_role("www")
    check_quota(small, 7, use.of_role("www"), Aggregate(cpu=1, ram_mb=10, disk_mb=10))
