"""The canonical, validated description of a job: what a `.aurora` file becomes.

A `JobSpec` is plain data (msgspec structs, JSON in and out). It is what the client sends, what
the scheduler stores and decides on, and what an agent renders per instance. Field names follow
Aurora's configuration schema so that a reader who knows `.aurora` files recognises them; sizes
are in MiB, as Aurora's scheduler held them.

Strings may still hold the four late-bound templates that only a running task can fill in:
`{{mesos.instance}}`, `{{mesos.hostname}}`, `{{thermos.task_id}}` and `{{thermos.ports[NAME]}}`.
Every other template has been resolved when the spec is built.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every spec struct: immutable, keyword-only, strict about unknown fields."""


class JobKey(Model, frozen=True, kw_only=True):
    cluster: str
    role: str
    environment: str
    name: str

    def __str__(self) -> str:
        return f"{self.cluster}/{self.role}/{self.environment}/{self.name}"


class Resources(Model, frozen=True, kw_only=True):
    cpu: float
    ram_mb: int
    disk_mb: int
    gpu: int = 0


class RotatePolicy(Model, frozen=True, kw_only=True):
    log_size: int = 100 * 1024 * 1024  # bytes, as in the config
    backups: int = 5


class Logger(Model, frozen=True, kw_only=True):
    destination: Literal["file", "console", "both", "none"] = "file"
    mode: Literal["standard", "rotate"] = "standard"
    rotate: RotatePolicy | None = None


class Process(Model, frozen=True, kw_only=True):
    name: str
    cmdline: str
    max_failures: int = 1
    daemon: bool = False
    ephemeral: bool = False
    min_duration: int = 5
    final: bool = False
    logger: Logger | None = None
    # Aurora accepted per-process resources but never used them; kept so nothing is lost.
    resources: Resources | None = None


class Task(Model, frozen=True, kw_only=True):
    name: str
    processes: tuple[Process, ...]
    # Each entry is one `order(...)` constraint: the processes named must run in that order.
    orders: tuple[tuple[str, ...], ...] = ()
    resources: Resources
    max_failures: int = 1
    max_concurrency: int = 0
    finalization_wait: int = 30
    user: str | None = None


class HttpHealthChecker(Model, frozen=True, kw_only=True, tag="http"):
    endpoint: str = "/health"
    expected_response: str = "ok"
    expected_response_code: int = 0


class ShellHealthChecker(Model, frozen=True, kw_only=True, tag="shell"):
    shell_command: str


HealthChecker = HttpHealthChecker | ShellHealthChecker


class HealthCheck(Model, frozen=True, kw_only=True):
    checker: HealthChecker = HttpHealthChecker()
    initial_interval_secs: float = 15.0
    interval_secs: float = 10.0
    max_consecutive_failures: int = 0
    min_consecutive_successes: int = 1
    timeout_secs: float = 1.0


class HttpLifecycle(Model, frozen=True, kw_only=True):
    port: str = "health"
    graceful_shutdown_endpoint: str = "/quitquitquit"
    shutdown_endpoint: str = "/abortabortabort"
    graceful_shutdown_wait_secs: int = 5
    shutdown_wait_secs: int = 5


class Lifecycle(Model, frozen=True, kw_only=True):
    # None means the lifecycle endpoints are disabled (Aurora's DisableLifecycle).
    http: HttpLifecycle | None = HttpLifecycle()


class Announcer(Model, frozen=True, kw_only=True):
    primary_port: str = "http"
    portmap: dict[str, str] = msgspec.field(default_factory=lambda: {"aurora": "http"})
    zk_path: str | None = None


class QueueStrategy(Model, frozen=True, kw_only=True, tag="queue"):
    batch_size: int = 1


class BatchStrategy(Model, frozen=True, kw_only=True, tag="batch"):
    batch_size: int = 1
    autopause_after_batch: bool = False


class VariableBatchStrategy(Model, frozen=True, kw_only=True, tag="variable_batch"):
    batch_sizes: tuple[int, ...]
    autopause_after_batch: bool = False


UpdateStrategy = QueueStrategy | BatchStrategy | VariableBatchStrategy


class UpdateSettings(Model, frozen=True, kw_only=True):
    batch_size: int = 1
    watch_secs: int = 45
    max_per_shard_failures: int = 0
    max_total_failures: int = 0
    rollback_on_failure: bool = True
    wait_for_batch_completion: bool = False
    pulse_interval_secs: int | None = None
    sla_aware: bool = False
    # Always resolved: the legacy fields above decide it when the config named no strategy.
    strategy: UpdateStrategy = QueueStrategy()


class ValueConstraint(Model, frozen=True, kw_only=True, tag="value"):
    attribute: str
    values: tuple[str, ...]
    negated: bool = False


class LimitConstraint(Model, frozen=True, kw_only=True, tag="limit"):
    attribute: str
    limit: int


SchedulingConstraint = ValueConstraint | LimitConstraint


class Metadata(Model, frozen=True, kw_only=True):
    key: str
    value: str


class PartitionPolicy(Model, frozen=True, kw_only=True):
    reschedule: bool = True
    delay_secs: int = 0


class PercentageSlaPolicy(Model, frozen=True, kw_only=True, tag="percentage"):
    percentage: float
    duration_secs: int


class CountSlaPolicy(Model, frozen=True, kw_only=True, tag="count"):
    count: int
    duration_secs: int


class CoordinatorSlaPolicy(Model, frozen=True, kw_only=True, tag="coordinator"):
    coordinator_url: str
    status_key: str = "drain"


SlaPolicy = PercentageSlaPolicy | CountSlaPolicy | CoordinatorSlaPolicy


class DockerParameter(Model, frozen=True, kw_only=True):
    name: str
    value: str


class DockerContainer(Model, frozen=True, kw_only=True, tag="docker"):
    image: str
    parameters: tuple[DockerParameter, ...] = ()


class AppcImage(Model, frozen=True, kw_only=True, tag="appc"):
    name: str
    image_id: str


class DockerImage(Model, frozen=True, kw_only=True, tag="docker"):
    name: str
    tag: str


class Volume(Model, frozen=True, kw_only=True):
    container_path: str
    host_path: str
    mode: Literal["RO", "RW"]


class MesosContainer(Model, frozen=True, kw_only=True, tag="mesos"):
    image: AppcImage | DockerImage | None = None
    volumes: tuple[Volume, ...] = ()


Container = DockerContainer | MesosContainer


# What running a task in its image takes beyond what it asks for (runc setting the container
# up, its first process, a waiting `runc exec` per process, all in the task's cgroup): counted
# where it is placed and added to its memory limit, as Aurora added its executor's overhead.
CONTAINER_RAM_OVERHEAD_MB = 32


def with_container_overhead(resources: Resources, container: Container | None) -> Resources:
    """What a task takes of a machine: its resources, and the runtime's share if in an image."""
    if image_reference(container) is None:
        return resources
    return msgspec.structs.replace(resources, ram_mb=resources.ram_mb + CONTAINER_RAM_OVERHEAD_MB)


def image_reference(container: Container | None) -> str | None:
    """The image a task runs in, if any: Docker's `image`, or a Mesos container's DockerImage."""
    if isinstance(container, DockerContainer):
        return container.image
    if isinstance(container, MesosContainer) and isinstance(container.image, DockerImage):
        return f"{container.image.name}:{container.image.tag}"
    return None


CronCollisionPolicy = Literal["KILL_EXISTING", "CANCEL_NEW"]


class Executor(Model, frozen=True, kw_only=True):
    name: str = "AuroraExecutor"
    data: str = ""


class JobSpec(Model, frozen=True, kw_only=True):
    key: JobKey
    task: Task
    instances: int = 1
    contact: str | None = None
    service: bool = False
    tier: str | None = None
    production: bool = False
    priority: int = 0
    max_task_failures: int = 1
    cron_schedule: str | None = None
    cron_collision_policy: CronCollisionPolicy = "KILL_EXISTING"
    update: UpdateSettings = UpdateSettings()
    constraints: tuple[SchedulingConstraint, ...] = ()
    health_check: HealthCheck = HealthCheck()
    lifecycle: Lifecycle = Lifecycle()
    announce: Announcer | None = None
    partition_policy: PartitionPolicy | None = None
    sla_policy: SlaPolicy | None = None
    container: Container | None = None
    executor: Executor = Executor()
    metadata: tuple[Metadata, ...] = ()
    task_links: dict[str, str] = msgspec.field(default_factory=dict)
    enable_hooks: bool = False
    # Port names the scheduler must allocate per instance, derived from the templates.
    ports: tuple[str, ...] = ()
    # Ports the announcer portmap pins to a fixed number; never allocated by the scheduler.
    static_ports: dict[str, int] = msgspec.field(default_factory=dict)

    @property
    def is_cron(self) -> bool:
        return self.cron_schedule is not None


class TaskInstance(Model, frozen=True, kw_only=True):
    """One instance's task with every late-bound template filled in: what an agent runs."""

    job: JobKey
    instance: int
    hostname: str
    task_id: str
    ports: dict[str, int]
    task: Task
    health_check: HealthCheck
    lifecycle: Lifecycle
    announce: Announcer | None = None
    container: Container | None = None  # the image it runs in, if any

    def with_resources(self, resources: Resources) -> TaskInstance:
        if resources == self.task.resources:
            return self
        return msgspec.structs.replace(
            self, task=msgspec.structs.replace(self.task, resources=resources)
        )


def encode_json(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value)


def decode_job(data: bytes | str) -> JobSpec:
    return msgspec.json.decode(data, type=JobSpec)
