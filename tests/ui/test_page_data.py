"""The pure parts of the pages: counting, paging, grouping and the templates' filters."""

from __future__ import annotations

from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import TaskState
from daybreak.ui.formatting import duration, percent, size_bytes, when
from daybreak.ui.pages import Paging, TaskCounts

KEY = JobKey(cluster="c", role="r", environment="e", name="n")


def counts_of(*states: TaskState) -> TaskCounts:
    counts = TaskCounts()
    for state in states:
        counts.add(state)
    return counts


def test_tasks_are_counted_by_what_they_do() -> None:
    counts = counts_of(
        TaskState.PENDING, TaskState.THROTTLED, TaskState.RUNNING, TaskState.STARTING,
        TaskState.KILLING, TaskState.FINISHED, TaskState.FAILED, TaskState.LOST,
        TaskState.KILLED,
    )  # fmt: skip
    assert (counts.pending, counts.running, counts.other_active) == (2, 1, 2)
    assert (counts.finished, counts.failed, counts.active) == (4, 2, 5)
    total = counts_of(TaskState.RUNNING)
    total += counts
    assert (total.running, total.finished) == (2, 4)


def test_pages_are_clamped_to_those_that_exist() -> None:
    items = list(range(250))
    assert Paging.of(250, 1).pages == 3
    last = Paging.of(250, 99)
    assert last.page == 3 and list(last.slice(items)) == list(range(200, 250))
    assert Paging.of(250, -4).page == 1
    empty = Paging.of(0, 1)
    assert (empty.page, empty.pages, list(empty.slice([]))) == (1, 1, [])


def test_times_durations_and_sizes_read_plainly() -> None:
    assert when(0) == "-" and when(None) == "-"
    assert when(1_796_000_000_000) == "2026-11-30 00:53:20 UTC"  # the zone, said
    assert duration(None) == "-"
    assert duration(850) == "850 ms"
    assert duration(125_000) == "2m 5s"
    assert duration(3 * 86_400_000 + 4 * 3_600_000 + 5_000) == "3d 4h"
    assert size_bytes(512) == "512 B"
    assert size_bytes(3 * 1024 * 1024) == "3 MiB"
    assert percent(5, 20) == 25.0 and percent(5, 0) == 0.0 and percent(30, 20) == 100.0
