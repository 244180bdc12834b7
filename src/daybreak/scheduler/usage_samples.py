"""What each task used over the last hours, from its agent's heartbeats, for the usage graphs.

Samples are observations, not state: they live in this process's memory only (a new leader
starts its graphs afresh) and are bounded twice over: each task keeps one point per step for
the window, and at most `max_tasks` tasks are kept, those heard from longest ago going first.
A point is 12 bytes (bucket, cpu, ram in compact arrays), so 20,000 tasks of 180 points each
hold about 45 MB at worst.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from daybreak.model.agent_protocol import TaskUsage
from daybreak.model.api import UsagePoint


@dataclass(slots=True)
class _Series:
    # The last measurement of the bucket before the newest: cpu use in the newest bucket is
    # the cpu time spent since then over the time between the two measurements.
    anchor_ms: int
    anchor_cpu_secs: float
    last_ms: int
    last_cpu_secs: float
    buckets: array[int] = field(default_factory=lambda: array("q"))
    cpu_cores: array[float] = field(default_factory=lambda: array("f"))
    ram_mb: array[float] = field(default_factory=lambda: array("f"))


@dataclass(frozen=True)
class AgentUsage:
    """What an agent's tasks used at its last heartbeat, and when that was."""

    heard_ms: int
    cpu_cores: float
    ram_mb: float
    tasks: int


class UsageSamples:
    def __init__(self, step_ms: int = 60_000, window_ms: int = 3 * 3600_000,
                 max_tasks: int = 20_000) -> None:  # fmt: skip
        self.step_ms = max(1, step_ms)
        self.points_per_task = max(1, window_ms // self.step_ms)
        self.max_tasks = max_tasks
        self._series: dict[str, _Series] = {}
        self._agents: dict[str, AgentUsage] = {}

    def record(self, agent_id: str, now_ms: int, usages: Iterable[TaskUsage]) -> None:
        """One heartbeat: each task's cumulative cpu time and memory now."""
        cpu_total = ram_total = 0.0
        count = 0
        for usage in usages:
            cores = self._add(usage, now_ms)
            cpu_total += cores
            ram_total += usage.ram_mb
            count += 1
        self._agents[agent_id] = AgentUsage(now_ms, cpu_total, ram_total, count)
        while len(self._series) > self.max_tasks:
            del self._series[next(iter(self._series))]

    def _add(self, usage: TaskUsage, now_ms: int) -> float:
        # The agent's own time of measuring, for rates; the scheduler's, for where points go.
        measured_ms = usage.measured_ms or now_ms
        series = self._series.pop(usage.task_id, None)
        if series is None:
            series = _Series(measured_ms, usage.cpu_secs, measured_ms, usage.cpu_secs)
        self._series[usage.task_id] = series  # the newest heard goes last
        if series.buckets and measured_ms == series.last_ms:
            return series.cpu_cores[-1]  # a heartbeat repeating the last measurement
        bucket = now_ms // self.step_ms
        if series.buckets and series.buckets[-1] != bucket:
            series.anchor_ms, series.anchor_cpu_secs = series.last_ms, series.last_cpu_secs
        series.last_ms, series.last_cpu_secs = measured_ms, usage.cpu_secs
        elapsed_s = (measured_ms - series.anchor_ms) / 1000
        # A task whose cpu time went down was restarted under the same id: no rate yet.
        spent = usage.cpu_secs - series.anchor_cpu_secs
        cores = spent / elapsed_s if elapsed_s > 0 and spent >= 0 else 0.0
        if series.buckets and series.buckets[-1] == bucket:
            series.cpu_cores[-1] = cores
            series.ram_mb[-1] = max(series.ram_mb[-1], usage.ram_mb)
        else:
            series.buckets.append(bucket)
            series.cpu_cores.append(cores)
            series.ram_mb.append(usage.ram_mb)
            excess = len(series.buckets) - self.points_per_task
            if excess > 0:
                del series.buckets[:excess], series.cpu_cores[:excess], series.ram_mb[:excess]
        return cores

    def points(self, task_id: str, now_ms: int) -> tuple[UsagePoint, ...]:
        """The task's points within the window, oldest first."""
        series = self._series.get(task_id)
        if series is None:
            return ()
        oldest = now_ms // self.step_ms - self.points_per_task
        return tuple(
            UsagePoint(at_ms=bucket * self.step_ms, cpu_cores=round(cpu, 4), ram_mb=round(ram, 2))
            for bucket, cpu, ram in zip(
                series.buckets, series.cpu_cores, series.ram_mb, strict=True
            )
            if bucket > oldest
        )

    def agent(self, agent_id: str) -> AgentUsage | None:
        return self._agents.get(agent_id)

    def __len__(self) -> int:
        return len(self._series)
