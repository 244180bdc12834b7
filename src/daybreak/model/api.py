"""The public HTTP API's bodies: what the CLI, the UI and scripts send and receive.

The client imports these and nothing of the server's, so they live with the other models.
"""

from __future__ import annotations

import msgspec

from daybreak.model.agent import AgentInfo, DrainRequest, DrainTerms
from daybreak.model.agent_protocol import FileEntry, ProcessInfo, TaskUsage
from daybreak.model.health import JobHealth
from daybreak.model.jobspec import JobKey, JobSpec, Resources
from daybreak.model.task import ScheduledTask, TaskEvent
from daybreak.model.task_state import TaskState
from daybreak.model.units import is_number

API_PREFIX = "/api/v1"


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """Every error answer: what failed, and what to do about it where that is known."""

    error: str
    status: int


class TaskSummary(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    job: JobKey
    instance: int
    state: TaskState
    agent_id: str | None = None
    hostname: str | None = None
    ports: dict[str, int] = msgspec.field(default_factory=dict)
    failure_count: int = 0
    events: tuple[TaskEvent, ...] = ()
    # Why a PENDING task has no agent yet.
    pending_reason: str | None = None
    # Where its agent's machine is reached, and the task's sandbox there (`task run`, `ssh`).
    address: str | None = None
    sandbox: str | None = None

    @classmethod
    def of(
        cls, task: ScheduledTask, pending_reason: str | None = None, agent: AgentInfo | None = None
    ) -> TaskSummary:
        address = sandbox = None
        if agent is not None:
            address = agent.address or None
            if agent.work_dir:
                sandbox = f"{agent.work_dir}/tasks/{task.task_id}/sandbox"
        return cls(
            address=address,
            sandbox=sandbox,
            task_id=task.task_id,
            job=task.job,
            instance=task.instance,
            state=task.state,
            agent_id=task.agent_id,
            hostname=task.hostname,
            ports=task.ports,
            failure_count=task.failure_count,
            events=task.events,
            pending_reason=pending_reason,
        )


class JobStatus(msgspec.Struct, frozen=True, kw_only=True):
    key: JobKey
    # The config the job was last created or changed with (a cron job's: its template); None
    # once only history is left.
    spec: JobSpec | None
    active: tuple[TaskSummary, ...]
    finished: tuple[TaskSummary, ...]
    # How the job is doing, in a word and a sentence (`daybreak.model.health`).
    health: JobHealth | None = None


class JobSummary(msgspec.Struct, frozen=True, kw_only=True):
    key: JobKey
    instances: int
    # Active tasks by state.
    states: dict[TaskState, int]
    cron_schedule: str | None = None  # a cron job's
    health: JobHealth | None = None


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    jobs: tuple[JobSummary, ...]


class JobCreated(msgspec.Struct, frozen=True, kw_only=True):
    key: JobKey
    instances: int


class KillRequest(msgspec.Struct, frozen=True, kw_only=True):
    # None: every active instance.
    instances: tuple[int, ...] | None = None
    message: str | None = None


class AgentSummary(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    hostname: str
    attributes: dict[str, str]
    resources: Resources
    online: bool
    maintenance: str  # NONE, SCHEDULED, DRAINING or DRAINED, as Aurora's host-status said
    tasks: int  # tasks holding resources there
    version: str = ""  # the agent's daybreak release
    # While DRAINING: the drain's terms, and the tasks waiting for their job's SLA.
    drain: DrainRequest | None = None
    drain_waits: tuple[DrainWait, ...] = ()


class DrainWait(msgspec.Struct, frozen=True, kw_only=True):
    """A task a drain has not moved yet, because its job cannot spare it now."""

    task_id: str
    job: str
    instance: int
    reason: str


class AgentList(msgspec.Struct, frozen=True, kw_only=True):
    agents: tuple[AgentSummary, ...]


class TaskList(msgspec.Struct, frozen=True, kw_only=True):
    """Tasks across jobs (`daybreak admin query`), newest first within each job and instance."""

    tasks: tuple[TaskSummary, ...]
    # More matched than the limit allowed.
    truncated: bool = False


class KillResult(msgspec.Struct, frozen=True, kw_only=True):
    killed: tuple[str, ...]  # task ids


class RestartRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # None: every active instance.
    instances: tuple[int, ...] | None = None
    message: str | None = None


class RestartResult(msgspec.Struct, frozen=True, kw_only=True):
    # The tasks asked to restart; each instance comes back as a new task with the same config.
    restarted: tuple[str, ...]


class AddRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    count: int


class InstancesAdded(msgspec.Struct, frozen=True, kw_only=True):
    key: JobKey
    instances: tuple[int, ...]


class Quota(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a role's production tasks may hold together, as Aurora's ResourceAggregate."""

    cpu: float = 0.0
    ram_mb: float = 0.0
    disk_mb: float = 0.0


class QuotaReport(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    quota: Quota
    # Requested by the role's active production tasks (what counts against the quota, pending
    # ones too, as in Aurora), and by the rest.
    production: Quota
    non_production: Quota
    # Of those, held by tasks placed on agents now.
    production_running: Quota = msgspec.field(default_factory=Quota)
    non_production_running: Quota = msgspec.field(default_factory=Quota)


class QuotaList(msgspec.Struct, frozen=True, kw_only=True):
    quotas: tuple[QuotaReport, ...]


class MaintenanceRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Put hosts (agent ids or hostnames) into a maintenance mode: NONE (activate), SCHEDULED
    (deactivate: used last), DRAINING (move their tasks away)."""

    hosts: tuple[str, ...]
    mode: str
    # For DRAINING: how the drain treats each job's SLA policy.
    drain: DrainTerms = msgspec.field(default_factory=DrainTerms)


class RestoreResult(msgspec.Struct, frozen=True, kw_only=True):
    tasks: int
    jobs: int


class TaskDetails(msgspec.Struct, frozen=True, kw_only=True):
    """A task as the scheduler and its agent know it: its processes with every run (state,
    exit codes), and what it uses now."""

    task: TaskSummary
    phase: str | None  # the executor's: ACTIVE, CLEANING, FINALIZING, SUCCESS, FAILED, KILLED
    message: str | None = None
    processes: tuple[ProcessInfo, ...] = ()
    usage: TaskUsage | None = None


class UsagePoint(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """What a task used in one step of its history: cpu cores on average, memory at most."""

    at_ms: int  # the step's start
    cpu_cores: float
    ram_mb: float


class UsageHistory(msgspec.Struct, frozen=True, kw_only=True):
    """A task's cpu and memory over the last hours next to what it asked for. The scheduler
    keeps this in memory from its agents' heartbeats: a new leader starts afresh."""

    task_id: str
    step_ms: int
    cpu_limit: float
    ram_limit_mb: float
    points: tuple[UsagePoint, ...] = ()


class SandboxListing(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    path: str  # relative to the task's directory; "" is the directory itself
    entries: tuple[FileEntry, ...]

    def latest_run(self) -> int | None:
        """Of a process's log directory (`.logs/PROCESS`): the number of its latest run."""
        names = [entry.path.rstrip("/").rsplit("/", 1)[-1] for entry in self.entries
                 if entry.is_dir]  # fmt: skip
        numbers = [int(name) for name in names if is_number(name)]
        return max(numbers) if numbers else None


def process_log(process: str, run: int, stream: str) -> str:
    """Where a process's run writes `stream` (stdout or stderr), in its task's directory."""
    return f".logs/{process}/{run}/{stream}"


class OutputChunk(msgspec.Struct, frozen=True, kw_only=True):
    """One `output` event of a follow: text from byte `offset`, and where the next starts."""

    offset: int
    next_offset: int
    text: str


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int


class ServiceInstance(msgspec.Struct, frozen=True, kw_only=True):
    """One instance that takes traffic, as Aurora's announcer wrote it to a serverset."""

    instance: int
    task_id: str
    host: str
    # At the announcer's primary port; None for a job that names none (no Announcer).
    service_endpoint: Endpoint | None
    additional_endpoints: dict[str, Endpoint]


class ServiceEndpoints(msgspec.Struct, frozen=True, kw_only=True):
    job: JobKey
    instances: tuple[ServiceInstance, ...]  # by instance number
