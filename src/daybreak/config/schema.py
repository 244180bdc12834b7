"""Aurora's configuration schema as pystachio structs: the names a `.aurora` file uses.

Field names, types and defaults are Aurora's (its Thermos and Aurora schema modules, as of its
last release); a config written for Aurora evaluates against these unchanged. Nothing here
decides anything: `convert.py` turns an evaluated `Job` into a plain `JobSpec`.
"""

from __future__ import annotations

from pystachio import (
    Boolean,
    Choice,
    Default,
    Enum,
    Float,
    Integer,
    List,
    Map,
    Required,
    String,
    Struct,
)

BYTES = 1
KB = 1024 * BYTES
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB


# --- Template contexts, bound late: by the agent when it starts an instance. ---


class ThermosContext(Struct):
    ports = Map(String, Integer)
    task_id = String
    user = String


class MesosContext(Struct):
    instance = Required(Integer)
    hostname = Required(String)


# --- Thermos: the task and its processes. ---


class Resources(Struct):
    cpu = Required(Float)
    ram = Required(Integer)
    disk = Required(Integer)
    gpu = Default(Integer, 0)


class Constraint(Struct):
    """A process ordering constraint (not a scheduling constraint: those are Job.constraints)."""

    order = List(String)


LoggerDestination = Enum("file", "console", "both", "none")
LoggerMode = Enum("standard", "rotate")


class RotatePolicy(Struct):
    log_size = Default(Integer, 100 * MB)
    backups = Default(Integer, 5)


class Logger(Struct):
    destination = Default(LoggerDestination, "file")
    mode = Default(LoggerMode, "standard")
    rotate = RotatePolicy


class Process(Struct):
    cmdline = Required(String)
    name = Required(String)
    resources = Resources
    max_failures = Default(Integer, 1)
    daemon = Default(Boolean, False)
    ephemeral = Default(Boolean, False)
    min_duration = Default(Integer, 5)
    final = Default(Boolean, False)
    logger = Logger


class Task(Struct):
    name = Default(String, "{{processes[0].name}}")
    processes = List(Process)
    constraints = Default(List(Constraint), [])
    resources = Resources
    max_failures = Default(Integer, 1)
    max_concurrency = Default(Integer, 0)
    finalization_wait = Default(Integer, 30)
    user = String


# --- Aurora: the job around the task. ---


class QueueUpdateStrategy(Struct):
    batch_size = Default(Integer, 1)


class BatchUpdateStrategy(Struct):
    batch_size = Default(Integer, 1)
    autopause_after_batch = Default(Boolean, False)


class VariableBatchUpdateStrategy(Struct):
    batch_sizes = Required(List(Integer))
    autopause_after_batch = Default(Boolean, False)


class UpdateConfig(Struct):
    batch_size = Default(Integer, 1)
    watch_secs = Default(Integer, 45)
    max_per_shard_failures = Default(Integer, 0)
    max_total_failures = Default(Integer, 0)
    rollback_on_failure = Default(Boolean, True)
    wait_for_batch_completion = Default(Boolean, False)
    pulse_interval_secs = Integer
    sla_aware = Default(Boolean, False)
    update_strategy = Choice(
        [QueueUpdateStrategy, BatchUpdateStrategy, VariableBatchUpdateStrategy]
    )


class HttpHealthChecker(Struct):
    endpoint = Default(String, "/health")
    expected_response = Default(String, "ok")
    expected_response_code = Default(Integer, 0)


class ShellHealthChecker(Struct):
    shell_command = Required(String)


class HealthCheckerConfig(Struct):
    http = HttpHealthChecker
    shell = ShellHealthChecker


DefaultHealthChecker = HealthCheckerConfig(http=HttpHealthChecker())


class HealthCheckConfig(Struct):
    health_checker = Default(HealthCheckerConfig, DefaultHealthChecker)
    initial_interval_secs = Default(Float, 15.0)
    interval_secs = Default(Float, 10.0)
    max_consecutive_failures = Default(Integer, 0)
    min_consecutive_successes = Default(Integer, 1)
    timeout_secs = Default(Float, 1.0)


class HttpLifecycleConfig(Struct):
    port = Default(String, "health")
    graceful_shutdown_endpoint = Default(String, "/quitquitquit")
    shutdown_endpoint = Default(String, "/abortabortabort")
    graceful_shutdown_wait_secs = Default(Integer, 5)
    shutdown_wait_secs = Default(Integer, 5)


class LifecycleConfig(Struct):
    http = HttpLifecycleConfig


DisableLifecycle = LifecycleConfig()
DefaultLifecycleConfig = LifecycleConfig(http=HttpLifecycleConfig())


class Announcer(Struct):
    primary_port = Default(String, "http")
    # Values alias another port name ('aurora': 'http') or pin a static port ('http': '80').
    portmap = Default(Map(String, String), {"aurora": "{{primary_port}}"})
    zk_path = String


class Parameter(Struct):
    name = Required(String)
    value = Required(String)


class Docker(Struct):
    image = Required(String)
    parameters = Default(List(Parameter), [])


class AppcImage(Struct):
    name = Required(String)
    image_id = Required(String)


class DockerImage(Struct):
    name = Required(String)
    tag = Required(String)


Mode = Enum("RO", "RW")


class Volume(Struct):
    container_path = Required(String)
    host_path = Required(String)
    mode = Required(Mode)


class Mesos(Struct):
    image = Choice([AppcImage, DockerImage])
    volumes = Default(List(Volume), [])


class Container(Struct):
    """Deprecated in Aurora: a wrapper around Docker. Still accepted."""

    docker = Docker


class PartitionPolicy(Struct):
    reschedule = Default(Boolean, True)
    delay_secs = Default(Integer, 0)


class Metadata(Struct):
    key = Required(String)
    value = Required(String)


# The name Aurora's configs compare executor_config.name with.
AURORA_EXECUTOR_NAME = "AuroraExecutor"


class ExecutorConfig(Struct):
    name = Default(String, AURORA_EXECUTOR_NAME)
    data = Default(String, "")


class PercentageSlaPolicy(Struct):
    percentage = Required(Float)
    duration_secs = Required(Integer)


class CountSlaPolicy(Struct):
    count = Required(Integer)
    duration_secs = Required(Integer)


class CoordinatorSlaPolicy(Struct):
    coordinator_url = Required(String)
    status_key = Default(String, "drain")


class MesosTaskInstance(Struct):
    """What Aurora's executor received per instance; kept for configs that name it."""

    task = Required(Task)
    instance = Required(Integer)
    role = Required(String)
    announce = Announcer
    environment = Required(String)
    health_check_config = Default(HealthCheckConfig, HealthCheckConfig())
    lifecycle = LifecycleConfig


class MesosJob(Struct):
    name = Default(String, "{{task.name}}")
    role = Required(String)
    contact = String
    cluster = Required(String)
    environment = Required(String)
    instances = Default(Integer, 1)
    task = Required(Task)
    announce = Announcer
    tier = String

    cron_schedule = String
    cron_collision_policy = Default(String, "KILL_EXISTING")

    update_config = Default(UpdateConfig, UpdateConfig())

    constraints = Map(String, String)
    metadata = Default(List(Metadata), [])
    service = Default(Boolean, False)
    max_task_failures = Default(Integer, 1)
    production = Default(Boolean, False)
    priority = Default(Integer, 0)
    health_check_config = Default(HealthCheckConfig, HealthCheckConfig())
    lifecycle = Default(LifecycleConfig, DefaultLifecycleConfig)
    task_links = Map(String, String)
    executor_config = Default(ExecutorConfig, ExecutorConfig())
    enable_hooks = Default(Boolean, False)
    partition_policy = PartitionPolicy
    sla_policy = Choice([CoordinatorSlaPolicy, CountSlaPolicy, PercentageSlaPolicy])
    container = Choice([Container, Docker, Mesos])


Job = MesosJob
Service = Job(service=True)
