"""Usage graphs drawn on the server as inline SVG: no script, no build step, and they follow
the page's live refresh like any other part of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from daybreak.model.api import UsageHistory, UsagePoint
from daybreak.model.describe import size_mb
from daybreak.ui.formatting import duration

WIDTH, HEIGHT = 420, 120
# Room at the left for the scale's labels, below for the times.
LEFT, BOTTOM, TOP = 52, 18, 8


@dataclass(frozen=True)
class Chart:
    name: str  # "cpu" or "ram": the SVG's id is usage-NAME
    title: str
    values: tuple[float, ...]
    limit: float
    label: Callable[[float], str]


def usage_charts(history: UsageHistory, now_ms: int) -> Markup:
    """Two graphs, cpu and memory, over the time the history covers, each with its limit."""
    points = history.points
    if not points:
        return Markup(
            '<p class="muted" id="usage-graphs">No usage heard yet: agents report it with '
            "their heartbeats.</p>"
        )
    charts = (
        Chart("cpu", "cpu (cores)", tuple(p.cpu_cores for p in points),
              history.cpu_limit, lambda value: f"{value:.2g}"),
        Chart("ram", "memory", tuple(p.ram_mb for p in points),
              history.ram_limit_mb, size_mb),
    )  # fmt: skip
    drawn = "".join(_chart(chart, points, history.step_ms, now_ms) for chart in charts)
    return Markup(f'<div class="charts" id="usage-graphs">{drawn}</div>')


def _chart(chart: Chart, points: Sequence[UsagePoint], step_ms: int, now_ms: int) -> str:
    start = points[0].at_ms
    span = max(now_ms - start, step_ms)
    top = max(chart.limit, *chart.values, 1e-9) * 1.1
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - TOP - BOTTOM

    def x(at_ms: int) -> float:
        return LEFT + plot_w * min(1.0, (at_ms - start) / span)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    # Each point stands for its step: drawn at the step's middle, or now if that is sooner.
    coordinates = [
        f"{x(min(p.at_ms + step_ms // 2, now_ms)):.1f},{y(v):.1f}"
        for p, v in zip(points, chart.values, strict=True)
    ]
    if len(coordinates) > 1:
        line = f'<polyline class="usage" points="{" ".join(coordinates)}"/>'
    else:
        cx, cy = coordinates[0].split(",")
        line = f'<circle class="usage-dot" cx="{cx}" cy="{cy}" r="2.5"/>'

    latest = chart.values[-1]
    limit_y = y(chart.limit)
    now_text, limit_text = escape(chart.label(latest)), escape(chart.label(chart.limit))
    return (
        f'<figure class="chart"><figcaption>{escape(chart.title)}: now {now_text}'
        f" of {limit_text} asked</figcaption>"
        f'<svg id="usage-{chart.name}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" data-points="{len(points)}">'
        f"<title>{escape(chart.title)} over the last {escape(duration(span))}</title>"
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}"/>'
        f'<line class="limit" x1="{LEFT}" y1="{limit_y:.1f}" x2="{WIDTH - 4}" y2="{limit_y:.1f}"/>'
        f'<text class="scale" x="{LEFT - 4}" y="{limit_y + 4:.1f}" text-anchor="end">'
        f"{limit_text}</text>"
        f'<text class="scale" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>'
        f'<text class="scale" x="{LEFT}" y="{HEIGHT - 4}">-{escape(duration(span))}</text>'
        f'<text class="scale" x="{WIDTH - 4}" y="{HEIGHT - 4}" text-anchor="end">now</text>'
        f"{line}</svg></figure>"
    )
