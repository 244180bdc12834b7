"""A job's SLA figures as Aurora's `sla` commands computed them from task events.

Each running instance's uptime counts from when its task started (its first STARTING event, or
RUNNING where the agent reported that at once). `task_up_count` is the share of instances up at
least a duration; `job_uptime` the uptime at a percentile (Aurora's `JobUpTimeSlaVector`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from daybreak.errors import InvalidParameterError
from daybreak.model.api import TaskSummary
from daybreak.model.task_state import TaskState

_PART = re.compile(r"(\d+)([dhms])")
_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
STARTED = (TaskState.STARTING, TaskState.RUNNING)


def parse_durations(text: str) -> list[int]:
    """`1m,1d,3h25m` as seconds, as Aurora's `--durations` took them."""
    durations = []
    for item in text.split(","):
        word = item.strip()
        parts = _PART.findall(word)
        if not word or "".join(number + unit for number, unit in parts) != word:
            raise InvalidParameterError(
                f"--durations: cannot read {item!r}; write e.g. 1m,1d,3h25m"
            )
        durations.append(sum(int(number) * _UNIT_S[unit] for number, unit in parts))
    return durations


def parse_percentiles(text: str) -> list[float]:
    """`10,50,99.9`: each strictly between 0 and 100."""
    percentiles = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            value = math.nan
        if not 0 < value < 100:
            raise InvalidParameterError(
                f"--percentiles: {item.strip()!r} is not a number between 0 and 100 (exclusive)"
            )
        percentiles.append(value)
    return percentiles


def instance_uptimes(tasks: Iterable[TaskSummary], now_ms: int) -> dict[int, int]:
    """Each running instance's uptime in whole seconds."""
    uptimes = {}
    for task in tasks:
        if task.state is not TaskState.RUNNING:
            continue
        started = next((e.timestamp_ms for e in task.events if e.state in STARTED), None)
        if started is not None:
            uptimes[task.instance] = max(0, (now_ms - started) // 1000)
    return uptimes


def task_up_count(uptimes: dict[int, int], duration_s: int) -> float:
    """The percentage of instances up at least `duration_s`."""
    if not uptimes:
        return 0.0
    return 100.0 * sum(uptime >= duration_s for uptime in uptimes.values()) / len(uptimes)


def job_uptime(uptimes: dict[int, int], percentile: float) -> int:
    """The uptime at `percentile` (0 < percentile < 100), by Aurora's formula: of n instances,
    the (floor(percentile % of n) + 1)-th longest; 0 for none."""
    total = len(uptimes)
    index = total - math.floor(percentile / 100 * total) - 1
    return sorted(uptimes.values())[index] if 0 <= index < total else 0
