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
from daybreak.scheduler.role import Role
from daybreak.scheduler.service import Scheduler

# The Prometheus text format; the server adds "; charset=utf-8" itself.
CONTENT_TYPE = "text/plain; version=0.0.4"


class SchedulerCollector(Collector):
    def __init__(self, role: Role) -> None:
        self.role = role
        self.started = time.time()

    def collect(self) -> Iterator[Metric]:
        role = self.role
        yield GaugeMetricFamily(
            "daybreak_leader", "1 while this scheduler leads, 0 while it stands by.",
            value=int(role.leads),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "daybreak_leader_epoch", "The epoch of the leader this scheduler knows of.",
            value=role.observed.epoch,
        )  # fmt: skip
        yield CounterMetricFamily(
            "daybreak_leadership_terms", "Times this scheduler took the lead.", value=role.terms
        )
        yield GaugeMetricFamily(
            "daybreak_uptime_seconds", "Seconds since the scheduler started.",
            value=time.time() - self.started,
        )  # fmt: skip
        if role.scheduler is not None:
            yield from self._leading(role.scheduler)

    def _leading(self, scheduler: Scheduler) -> Iterator[Metric]:
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
            "daybreak_audit_entries_unwritten", "Audit entries lost to a failed store write.",
            value=scheduler.audit.unwritten,
        )  # fmt: skip
        yield CounterMetricFamily(
            "daybreak_scheduling_rounds", "Scheduling rounds run.", value=scheduler.rounds
        )
        yield CounterMetricFamily(
            "daybreak_scheduling_round_seconds", "Time spent deciding in scheduling rounds.",
            value=scheduler.round_seconds,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "daybreak_agents_held_back",
            "Unreachable agents not given up, in a disruption (too many at once).",
            value=scheduler.state.held_back,
        )  # fmt: skip
        yield CounterMetricFamily(
            "daybreak_agent_heartbeats", "Heartbeats received from agents.",
            value=scheduler.heartbeats,
        )  # fmt: skip
        pace = scheduler.state.pacer.told
        yield GaugeMetricFamily(
            "daybreak_agent_heartbeat_interval_seconds",
            "How often agents are told to heartbeat (longer than configured in a large fleet).",
            value=pace.heartbeat_interval_ms / 1000,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "daybreak_agent_timeout_seconds", "How long an agent may be silent before it is lost.",
            value=pace.agent_timeout_ms / 1000,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "daybreak_event_followers", "Clients following the event stream.",
            value=len(scheduler.events.followers),
        )  # fmt: skip


def metrics_route(role: Role) -> HTTPRouteHandler:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SchedulerCollector(role))

    @get("/metrics", sync_to_thread=False, media_type=CONTENT_TYPE)
    def metrics() -> Response[bytes]:
        """The scheduler's state as Prometheus metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return metrics
