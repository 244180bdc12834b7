"""Usage samples for the graphs: a point per step, cpu as a rate, and bounded in memory."""

from __future__ import annotations

import re

import pytest

from daybreak.model.agent_protocol import TaskUsage
from daybreak.model.api import UsageHistory
from daybreak.scheduler.usage_samples import UsageSamples
from daybreak.ui.charts import usage_charts


def usage(task_id: str, cpu_secs: float, ram_mb: float = 100.0) -> TaskUsage:
    return TaskUsage(task_id=task_id, cpu_secs=cpu_secs, ram_mb=ram_mb, disk_mb=1, processes=1)


def test_cpu_is_the_time_spent_over_the_time_passed_per_step() -> None:
    samples = UsageSamples(step_ms=10_000, window_ms=60_000)
    samples.record("a1", 0, [usage("t1", 0.0, ram_mb=50)])
    samples.record("a1", 5_000, [usage("t1", 2.5, ram_mb=80)])  # half a core, same step
    samples.record("a1", 10_000, [usage("t1", 4.5, ram_mb=60)])  # a new step: 2 s in 5 s
    samples.record("a1", 15_000, [usage("t1", 14.5, ram_mb=70)])  # 12 s in 10 s
    points = samples.points("t1", 15_000)
    assert [(p.at_ms, p.cpu_cores, p.ram_mb) for p in points] == [
        (0, 0.5, 80.0),  # memory at its highest within the step
        (10_000, 1.2, 70.0),
    ]
    heard = samples.agent("a1")
    assert heard is not None and (heard.heard_ms, heard.cpu_cores, heard.tasks) == (15_000, 1.2, 1)


def test_each_task_keeps_only_its_window_and_the_oldest_tasks_go_first() -> None:
    samples = UsageSamples(step_ms=1_000, window_ms=5_000, max_tasks=2)
    for second in range(20):
        samples.record("a1", second * 1000, [usage("t1", second)])
    assert [p.at_ms for p in samples.points("t1", 19_000)] == [15_000, 16_000, 17_000, 18_000,
                                                               19_000]  # fmt: skip
    # Long unheard, its points fall out of the window even before they are dropped.
    assert samples.points("t1", 30_000) == ()
    samples.record("a2", 20_000, [usage("t2", 0)])
    samples.record("a2", 21_000, [usage("t3", 0)])
    assert len(samples) == 2 and samples.points("t1", 21_000) == ()
    assert samples.points("t3", 21_000) != ()


def test_a_task_restarted_under_its_id_has_no_negative_cpu() -> None:
    samples = UsageSamples(step_ms=1_000, window_ms=10_000)
    samples.record("a1", 0, [usage("t1", 100.0)])
    samples.record("a1", 1_000, [usage("t1", 1.0)])
    assert [p.cpu_cores for p in samples.points("t1", 1_000)] == [0.0, 0.0]


@pytest.mark.parametrize("count", [1, 3])
def test_graphs_draw_each_measure_under_its_limit(count: int) -> None:
    samples = UsageSamples(step_ms=1_000, window_ms=60_000)
    for second in range(count):
        samples.record("a1", second * 1000, [usage("t1", second * 0.5, ram_mb=40 + second)])
    history = UsageHistory(task_id="t1", step_ms=1000, cpu_limit=1.0, ram_limit_mb=64,
                           points=samples.points("t1", count * 1000))  # fmt: skip
    html = str(usage_charts(history, count * 1000))
    assert 'id="usage-cpu"' in html and 'id="usage-ram"' in html
    assert "of 64 MiB asked" in html
    shape = "polyline" if count > 1 else "circle"
    assert html.count(f"<{shape} ") == 2
    # Every coordinate lies inside the drawing.
    for x, y in re.findall(r"(\d+\.\d),(\d+\.\d)", html):
        assert 0 <= float(x) <= 420 and 0 <= float(y) <= 120


def test_no_samples_say_so() -> None:
    history = UsageHistory(task_id="t1", step_ms=1000, cpu_limit=1.0, ram_limit_mb=64)
    assert "No usage heard yet" in str(usage_charts(history, 0))


def test_heartbeats_repeating_a_measurement_do_not_dilute_the_rate() -> None:
    """Agents measure every few seconds and heartbeat more often: a rate is taken between
    measurements, by the agent's time of measuring, and a repeat changes nothing."""
    samples = UsageSamples(step_ms=60_000, window_ms=600_000)

    def beat(now_ms: int, measured_ms: int, cpu_secs: float) -> None:
        samples.record("a1", now_ms, [TaskUsage(task_id="t1", cpu_secs=cpu_secs, ram_mb=10,
                                                disk_mb=0, processes=1,
                                                measured_ms=measured_ms)])  # fmt: skip

    beat(0, 0, 0.0)
    for now in range(1000, 5000, 1000):
        beat(now, 0, 0.0)  # the same measurement, heard again
    beat(5_000, 5_000, 2.5)  # half a core over the 5 s between measurements
    beat(6_000, 5_000, 2.5)
    assert [p.cpu_cores for p in samples.points("t1", 6_000)] == [0.5]
    heard = samples.agent("a1")
    assert heard is not None and heard.cpu_cores == 0.5
