"""`/metrics` in Prometheus' text format: read from the scheduler's state when scraped, so
nothing is counted twice and nothing drifts."""

from __future__ import annotations

import time
from collections.abc import Iterator

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daybreak.model.task_state import TaskState
from daybreak.scheduler.service import Scheduler

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SchedulerCollector(Collector):
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.started = time.time()

    def collect(self) -> Iterator[Metric]:
        scheduler = self.scheduler
        view = scheduler.view
        tasks = GaugeMetricFamily("daybreak_tasks", "Tasks the scheduler holds, by state.",
                                  labels=["state"])  # fmt: skip
        for state in TaskState:
            tasks.add_metric([state.name], view.state_counts[state])
        yield tasks
        yield GaugeMetricFamily("daybreak_jobs", "Jobs with a config.", value=len(view.jobs))
        agents = GaugeMetricFamily("daybreak_agents", "Agents known, by whether connected.",
                                   labels=["online"])  # fmt: skip
        online = len(scheduler.links)
        agents.add_metric(["true"], online)
        agents.add_metric(["false"], len(view.agents) - online)
        yield agents
        yield CounterMetricFamily(
            "daybreak_store_transactions", "Transactions committed to the store.",
            value=scheduler.writer.transactions,
        )  # fmt: skip
        yield CounterMetricFamily(
            "daybreak_scheduling_rounds", "Scheduling rounds run.", value=scheduler.rounds
        )
        yield CounterMetricFamily(
            "daybreak_scheduling_round_seconds", "Time spent deciding in scheduling rounds.",
            value=scheduler.round_seconds,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "daybreak_event_followers", "Clients following the event stream.",
            value=len(scheduler.events.followers),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "daybreak_uptime_seconds", "Seconds since the scheduler started.",
            value=time.time() - self.started,
        )  # fmt: skip


def metrics_route(scheduler: Scheduler) -> HTTPRouteHandler:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SchedulerCollector(scheduler))

    @get("/metrics", sync_to_thread=False)
    def metrics() -> Response[bytes]:
        """The scheduler's state as Prometheus metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return metrics
