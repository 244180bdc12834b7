"""How a scheduler is set up: what `daybreak scheduler`'s flags say."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from daybreak.core.settings import Settings


@dataclass(frozen=True)
class SchedulerConfig:
    store_url: str
    host: str
    port: int
    # The name clients use for this cluster; a job key's first part must match it.
    cluster: str
    # How often agents heartbeat, and how long one may stay silent before its tasks are LOST.
    heartbeat_interval_ms: int
    agent_timeout_ms: int
    # No agent is given up while more than this share of them cannot be reached at once.
    disruption_share: float = 0.3
    # Heartbeats a second the whole fleet may send (a large fleet is paced slower).
    heartbeat_budget_per_s: float = 200.0
    # Users, admins and agents (`daybreak.scheduler.security`); None: every call is allowed.
    security_file: Path | None = None
    # How other schedulers, agents and clients reach this one (redirects from standbys);
    # None: http://HOST:PORT.
    advertised_url: str | None = None
    # How long a job's SLA coordinator has to answer (Aurora's -sla_coordinator_timeout).
    coordinator_timeout_s: float = 60.0
    # Each task's usage is kept for the graphs, one point per step for the window.
    usage_step_ms: int = 60_000
    usage_window_ms: int = 3 * 3600_000
    audit_retention_ms: int = 90 * 86_400_000
    # How long a task's credential lasts (`daybreak.scheduler.workload`); renewed before.
    workload_credential_ttl_ms: int = 15 * 60_000
    # "text", or "json": a JSON object a line, and a line per task transition.
    log_format: str = "text"
    # Requests a second each client may make (twice that at once); 0: no limit.
    rate_limit_per_s: float = 100.0
    max_requests_per_client: int = 64  # at once; 0: no limit
    # The certificate and key it serves HTTPS with (read again on SIGHUP); None: plain HTTP.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Mutual TLS for agents: a second port where agents show a certificate from this CA
    # instead of a token; None: agents use the main port and a token.
    agent_port: int | None = None
    agent_ca: Path | None = None
    core: Settings = field(default_factory=Settings)

    @property
    def address(self) -> str:
        """How others reach this scheduler."""
        scheme = "http" if self.tls_cert is None else "https"
        return self.advertised_url or f"{scheme}://{self.host}:{self.port}"
