"""A job's SLA figures as Aurora's `sla` commands computed them from task events.

Each running instance's uptime counts from when its task started (its first STARTING event, or
RUNNING where the agent reported that at once). `task_up_count` is the share of instances up at
least a duration; `job_uptime` the uptime at a percentile (Aurora's `JobUpTimeSlaVector`).

`Domain` predicts, host by host, what each job's up count would be if the host went down now
(Aurora's `DomainUpTimeSlaVector`, behind `admin sla-list-safe-domain` and `sla-probe-hosts`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import msgspec

from daybreak.errors import InvalidParameterError
from daybreak.model.api import TaskSummary
from daybreak.model.task_state import TaskState

_PART = re.compile(r"(\d+)([dhms])")
_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
STARTED = (TaskState.STARTING, TaskState.RUNNING)


def parse_duration(text: str, what: str) -> int:
    """`3h25m` (Aurora's XdYhZmWs) as seconds."""
    word = text.strip()
    parts = _PART.findall(word)
    if not word or "".join(number + unit for number, unit in parts) != word:
        raise InvalidParameterError(f"{what}: cannot read {text!r}; write e.g. 1d, 30m or 3h25m")
    return sum(int(number) * _UNIT_S[unit] for number, unit in parts)


def parse_durations(text: str) -> list[int]:
    """`1m,1d,3h25m` as seconds, as Aurora's `--durations` took them."""
    return [parse_duration(item, "--durations") for item in text.split(",")]


def parse_percentage(text: str, what: str) -> float:
    """An SLA percentage: above 0, at most 100."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 100:
        raise InvalidParameterError(f"{what}: {text!r} is not a percentage above 0, at most 100")
    return value


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


def wait_to_sla(
    uptimes: Iterable[int], percentage: float, duration_s: int, total: int
) -> int | None:
    """Seconds until `percentage` of `total` instances have been up `duration_s`, if the
    instances `uptimes` stay up; None if they are too few ever to get there."""
    ordered = sorted(uptimes)
    if total and 100.0 * sum(up >= duration_s for up in ordered) / total >= percentage:
        return 0
    index = len(ordered) - math.ceil(total * percentage / 100)
    if not 0 <= index < len(ordered):
        return None
    return duration_s - ordered[index]


class JobLimit(msgspec.Struct, frozen=True):
    """A job's own SLA for the domain tools, overriding the command line's."""

    percentage: float
    duration_s: int


class HostJobSla(msgspec.Struct, frozen=True, kw_only=True):
    """What one job's up count would be if `host` went down now."""

    host: str
    job: str
    predicted_percentage: float
    duration_s: int
    safe: bool
    # Seconds until the job would meet its SLA without the host; None: never, by waiting.
    safe_in_s: int | None


class Domain:
    """The cluster's active tasks by job and by host. Jobs with fewer active tasks than
    `min_instances` are left out, as Aurora's `--min_job_instance_count` did."""

    def __init__(self, tasks: Iterable[TaskSummary], now_ms: int, min_instances: int) -> None:
        self.now_ms = now_ms
        by_job: dict[str, list[TaskSummary]] = {}
        for task in tasks:
            by_job.setdefault(str(task.job), []).append(task)
        self.jobs = {job: found for job, found in by_job.items() if len(found) >= min_instances}
        self.hosts: dict[str, dict[str, None]] = {}
        for job, found in sorted(self.jobs.items()):
            for task in found:
                if task.hostname is not None:
                    self.hosts.setdefault(task.hostname, {})[job] = None

    def without(self, job: str, host: str, percentage: float, duration_s: int) -> HostJobSla:
        """Job `job`'s figures with `host` down."""
        tasks = self.jobs[job]
        left = instance_uptimes((t for t in tasks if t.hostname != host), self.now_ms)
        up = sum(uptime >= duration_s for uptime in left.values())
        predicted = 100.0 * up / len(tasks)
        safe = predicted >= percentage
        return HostJobSla(
            host=host, job=job, predicted_percentage=predicted, duration_s=duration_s, safe=safe,
            safe_in_s=0 if safe else wait_to_sla(left.values(), percentage, duration_s, len(tasks)),
        )  # fmt: skip

    def safe_hosts(
        self, percentage: float, duration_s: int, limits: Mapping[str, JobLimit] | None = None
    ) -> dict[str, list[HostJobSla]]:
        """The hosts each of whose jobs keeps its SLA (its own limit, else the given one) if
        that host alone goes down, with every job's figures."""
        safe = {}
        for host, jobs in sorted(self.hosts.items()):
            figures = []
            for job in jobs:
                limit = (limits or {}).get(job, JobLimit(percentage, duration_s))
                figures.append(self.without(job, host, limit.percentage, limit.duration_s))
                if not figures[-1].safe:
                    break
            else:
                safe[host] = figures
        return safe

    def probe(self, hosts: Iterable[str], percentage: float, duration_s: int) -> list[HostJobSla]:
        """Every job of each host in `hosts`, with its figures if the host went down."""
        return [
            self.without(job, host, percentage, duration_s)
            for host in hosts
            for job in self.hosts.get(host, {})
        ]
