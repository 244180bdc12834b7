"""How an agent is set up: what `daybreak agent`'s flags say, with the defaults they lack."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from daybreak.model.agent import PortRange
from daybreak.model.jobspec import Resources


@dataclass(frozen=True)
class AgentConfig:
    """The defaults live with the flags (`daybreak agent --help`), in one place."""

    # Every scheduler of the cluster: the agent finds the one that leads.
    scheduler_urls: tuple[str, ...]
    work_dir: Path
    hostname: str
    resources: Resources
    ports: PortRange
    # Limit tasks with cgroups where the machine allows; otherwise measure and enforce.
    cgroups: bool
    # Who runs the tasks of roles with no Unix account here, when the agent is root (None:
    # such tasks are refused, as Aurora refused them).
    task_user: str | None
    # Most processes one task may hold at once (a fork bomb stops there).
    task_pids_max: int
    # How often each task's usage is measured (and its ram and disk limits checked).
    usage_interval_s: float
    # Finished tasks' directories are removed past this age, and oldest first while all of
    # them together hold more than this much disk.
    sandbox_max_age_s: float
    sandbox_max_total_mb: int
    gc_interval_s: float
    attributes: dict[str, str] = field(default_factory=dict)
    agent_id: str | None = None
    credential: str | None = None
    log_format: str = "text"  # or "json", a JSON object a line
    # What an https:// scheduler is verified against; None: the system's CAs.
    ca_file: Path | None = None
    # A client certificate and its key, shown to the scheduler instead of a token (mutual TLS).
    client_cert: Path | None = None
    client_key: Path | None = None
    # Where people reach the machine (`task ssh`); None: its fully qualified name.
    address: str | None = None
    # Registries pulled from over plain HTTP (host:port), and the registries' credentials.
    insecure_registries: frozenset[str] = frozenset()
    registry_credentials: Path | None = None
    default_registry: str | None = None  # for image names without one; None: Docker Hub
    # Images no task runs from are removed past this age since their last launch, and oldest
    # first while all of them together hold more than this much disk.
    image_max_age_s: float = 7 * 86_400.0
    image_max_total_mb: int = 20 * 1024
