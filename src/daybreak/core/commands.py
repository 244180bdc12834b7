"""Everything that can change the scheduler's state, as data: what people ask through the API,
what agents say, and time passing. `SchedulerState.handle` takes exactly these."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import DrainTerms, MaintenanceMode
from daybreak.model.api import Quota
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.records import Snapshot

# People, through the API.


@dataclass(frozen=True, slots=True)
class CreateJob:
    spec: JobSpec


@dataclass(frozen=True, slots=True)
class KillJob:
    key: JobKey
    instances: tuple[int, ...] | None  # None: every instance, and the job's config goes
    message: str | None = None


@dataclass(frozen=True, slots=True)
class RestartInstances:
    key: JobKey
    instances: tuple[int, ...] | None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class AddInstances:
    key: JobKey
    count: int


@dataclass(frozen=True, slots=True)
class StartUpdate:
    spec: JobSpec
    scope: tuple[int, ...] | None
    user: str | None = None
    message: str | None = None
    dry_run: bool = False  # only say what it would change


class UpdateAction(StrEnum):
    """What a person does to an active update."""

    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ROLLBACK = "rollback"
    PULSE = "pulse"


@dataclass(frozen=True, slots=True)
class OperateUpdate:
    key: JobKey
    action: UpdateAction
    user: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleCron:
    """Create or replace a cron job's template."""

    spec: JobSpec


@dataclass(frozen=True, slots=True)
class DescheduleCron:
    key: JobKey


@dataclass(frozen=True, slots=True)
class StartCron:
    """Run a cron job now."""

    key: JobKey


@dataclass(frozen=True, slots=True)
class SetQuota:
    role: str
    quota: Quota


@dataclass(frozen=True, slots=True)
class SetMaintenance:
    hosts: tuple[str, ...]  # agent ids or hostnames
    mode: MaintenanceMode
    # How a drain (mode DRAINING) treats each job's SLA.
    terms: DrainTerms = field(default_factory=DrainTerms)


@dataclass(frozen=True, slots=True)
class CoordinatorAnswer:
    """What a job's SLA coordinator answered about taking down a task (`CoordinatorAsk`)."""

    task_id: str
    url: str
    allowed: bool
    detail: str  # what it said, or why it could not be asked


@dataclass(frozen=True, slots=True)
class Restore:
    """Replace the whole state with a backup's."""

    snapshot: Snapshot


# Agents. `connection` numbers the agent's connection, so that a late close of an older one is
# told apart from the current one's.


@dataclass(frozen=True, slots=True)
class AgentHello:
    hello: protocol.Hello
    connection: int
    # The hash of `hello.secret` (None: it brought none), made by the shell.
    secret_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AgentStatus:
    agent_id: str
    update: protocol.StatusUpdate


@dataclass(frozen=True, slots=True)
class AgentHeartbeat:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentDisconnected:
    agent_id: str
    connection: int


# Time.


@dataclass(frozen=True, slots=True)
class Listening:
    """The scheduler now accepts connections: agents' reconnect timeouts count from here."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: timeouts, penalties, updates, pruning, and a scheduling round."""


Command = (
    CreateJob | KillJob | RestartInstances | AddInstances | StartUpdate | OperateUpdate
    | ScheduleCron | DescheduleCron | StartCron | SetQuota | SetMaintenance | CoordinatorAnswer
    | Restore
    | AgentHello | AgentStatus | AgentHeartbeat | AgentDisconnected
    | Listening | Tick
)  # fmt: skip
