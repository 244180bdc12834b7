"""How the pages write times, durations and sizes: the templates' filters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from daybreak.model.describe import size_mb, strategy_text
from daybreak.model.jobkey import format_instances

UNITS = ((86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"))


def when(ms: int | None) -> str:
    """A moment in UTC, to the second, saying so: 2026-12-01 09:30:05 UTC."""
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def duration(ms: int | None) -> str:
    """The two largest units of a span: 3d 4h, 2m 5s, 800 ms."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{max(ms, 0)} ms"
    parts = []
    for scale, unit in UNITS:
        if ms >= scale:
            parts.append(f"{ms // scale}{unit}")
            ms %= scale
        if len(parts) == 2:
            break
    return " ".join(parts)


def percent(part: float, whole: float) -> float:
    """`part` as a percentage of `whole`, for a bar's width; 0 when there is no whole."""
    return 0.0 if whole <= 0 else min(100.0, 100.0 * part / whole)


def size_bytes(value: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value} B"


FILTERS: dict[str, Callable[..., Any]] = {
    "when": when,
    "duration": duration,
    "size_mb": size_mb,
    "size_bytes": size_bytes,
    "instances": format_instances,
    "strategy": strategy_text,
}
