"""Turn an evaluated pystachio `Job` into a plain, validated `JobSpec`.

The order of work is Aurora's: apply the standard rewrites of deprecated names, type-check
with stand-ins for the late-bound variables, interpolate, then read the values out. Rules
Aurora only enforced in its scheduler (or never) are checked here too, so a mistake is
reported when the config is loaded rather than when the task runs; see `validate.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast, get_args

from pystachio import Empty, Environment, Ref

from daybreak.config import schema
from daybreak.config.ports import referenced_ports, requested_ports
from daybreak.config.typecheck import TypeChecker
from daybreak.errors import ConfigError, ConfigIssue
from daybreak.model import jobspec as m
from daybreak.model.portmap import resolve_portmap
from daybreak.model.units import MIB, is_number
from daybreak.model.validate import validate_spec

ROOT = "Job"
COLLISION_POLICIES = get_args(m.CronCollisionPolicy)
HOOKS_UNSUPPORTED = (
    "Aurora's client hooks are not supported: Daybreak's client runs no config code after "
    "loading; remove it (and any `hooks` list)"
)

# Deprecated template names Aurora rewrote on every job.
STANDARD_BINDINGS = {
    Ref.from_address("mesos.role"): "{{role}}",
    Ref.from_address("mesos.cluster"): "{{cluster}}",
    Ref.from_address("thermos.user"): "{{role}}",
}


class _Reader:
    """Reads plain values out of interpolated data, collecting issues rather than stopping."""

    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []

    def number(self, value: Any, path: str, kind: type[int] | type[float] = int) -> Any:
        if isinstance(value, str):
            self.issues.append(
                ConfigIssue(
                    path,
                    f"{value!r} is only known when the task runs; a number here must be fixed "
                    "when the job is created",
                )
            )
            return kind(0)
        if not math.isfinite(value):
            self.issues.append(ConfigIssue(path, f"must be a finite number, got {value}"))
            return kind(0)
        return kind(value)

    def size_mb(self, value: Any, path: str) -> int:
        size = self.number(value, path)
        if not isinstance(value, str) and size < MIB:
            self.issues.append(
                ConfigIssue(
                    path, f"must be at least 1 MiB; got {size} bytes (sizes are bytes: use MB, GB)"
                )
            )
        return int(size // MIB)


def late_bound_stand_ins(ports: set[str]) -> Environment:
    """Values for the variables only an agent can fill in, so the rest can be type-checked."""
    return Environment(
        mesos=schema.MesosContext(instance=0, hostname="localhost"),
        thermos=schema.ThermosContext(
            ports={name: 31337 for name in ports}, task_id="stand-in-task-id"
        ),
    )


def _has_no_processes(job: Any) -> bool:
    # Raw fields (pystachio-private), since interpolating could fail on unrelated fields.
    task = job._schema_data["task"]
    if task is Empty:
        return False
    processes = task._schema_data["processes"]
    return processes is Empty or not processes._values


def convert_job(job: Any) -> m.JobSpec:
    """Validate one pystachio Job (already bound with the user's bindings) into a JobSpec."""
    job = job.bind(STANDARD_BINDINGS)
    if _has_no_processes(job):
        # Said plainly here: otherwise the first symptom is Task.name's unbound default.
        raise ConfigError("a task needs at least one process", f"{ROOT}.task.processes")
    first_pass = TypeChecker()
    first_pass.check(job, ROOT)
    try:
        ports = referenced_ports(first_pass.unbound)
    except ValueError as error:
        raise ConfigError(str(error), ROOT) from None
    issues = TypeChecker().check(job.bind(late_bound_stand_ins(ports)), ROOT)
    if issues:
        raise ConfigError.of(issues)
    interpolated, _ = job.interpolate()
    reader = _Reader()
    spec = _job_spec(interpolated, interpolated.get(), ports, reader)
    # One issue a field: the reader has already said what is wrong with a size it read.
    read_wrong = {issue.where for issue in reader.issues}
    issues = reader.issues + [i for i in validate_spec(spec) if i.where not in read_wrong]
    if spec.enable_hooks:
        issues.append(ConfigIssue(f"{ROOT}.enable_hooks", HOOKS_UNSUPPORTED))
    if issues:
        raise ConfigError.of(issues)
    return spec


def _job_spec(job: Any, data: Mapping[str, Any], ports: set[str], read: _Reader) -> m.JobSpec:
    announce = _announcer(data.get("announce"))
    try:
        portmap = resolve_portmap(announce.portmap if announce else {})
    except ValueError as error:
        read.issues.append(ConfigIssue(f"{ROOT}.announce.portmap", str(error)))
        portmap = {}
    requested = requested_ports(ports, portmap, announce.primary_port if announce else None)
    return m.JobSpec(
        key=m.JobKey(
            cluster=data["cluster"],
            role=data["role"],
            environment=data["environment"],
            name=data["name"],
        ),
        task=_task(data["task"], f"{ROOT}.task", read),
        instances=read.number(data["instances"], f"{ROOT}.instances"),
        contact=data.get("contact"),
        service=data["service"],
        tier=data.get("tier"),
        production=data["production"],
        priority=read.number(data["priority"], f"{ROOT}.priority"),
        max_task_failures=read.number(data["max_task_failures"], f"{ROOT}.max_task_failures"),
        cron_schedule=data.get("cron_schedule"),
        cron_collision_policy=_collision_policy(data["cron_collision_policy"], read),
        update=_update(job.update_config(), data["update_config"], read),
        constraints=_constraints(data.get("constraints", {}), read),
        health_check=_health_check(data["health_check_config"], read),
        lifecycle=_lifecycle(data["lifecycle"], read),
        announce=announce,
        partition_policy=_partition_policy(data.get("partition_policy"), read),
        sla_policy=_sla_policy(job, read),
        container=_container(job),
        executor=m.Executor(**data["executor_config"]),
        metadata=tuple(m.Metadata(key=i["key"], value=i["value"]) for i in data["metadata"]),
        task_links=dict(data.get("task_links", {})),
        enable_hooks=data["enable_hooks"],
        ports=tuple(sorted(requested)),
        static_ports={
            name: port for name, port in sorted(portmap.items()) if isinstance(port, int)
        },
    )


def _collision_policy(policy: str, read: _Reader) -> m.CronCollisionPolicy:
    # Aurora took the policy's name in any case ('cancel_new').
    if policy.upper() in COLLISION_POLICIES:
        return cast(m.CronCollisionPolicy, policy.upper())
    choices = " or ".join(COLLISION_POLICIES)
    if policy.upper() == "RUN_OVERLAP":
        problem = (
            "RUN_OVERLAP is not supported (Aurora deprecated it: runs piled up without "
            f"bound); use {choices}"
        )
    else:
        problem = f"{policy!r} is not a collision policy: use {choices}"
    read.issues.append(ConfigIssue(f"{ROOT}.cron_collision_policy", problem))
    return "KILL_EXISTING"


def _resources(data: Mapping[str, Any], path: str, read: _Reader) -> m.Resources:
    return m.Resources(
        cpu=read.number(data["cpu"], f"{path}.cpu", float),
        ram_mb=read.size_mb(data["ram"], f"{path}.ram"),
        disk_mb=read.size_mb(data["disk"], f"{path}.disk"),
        gpu=read.number(data["gpu"], f"{path}.gpu"),
    )


def _logger(data: Mapping[str, Any] | None, path: str, read: _Reader) -> m.Logger | None:
    if data is None:
        return None
    rotate = data.get("rotate")
    if rotate is None and data["mode"] == "rotate":
        rotate = {"log_size": 100 * MIB, "backups": 5}
    return m.Logger(
        destination=data["destination"],
        mode=data["mode"],
        rotate=None
        if rotate is None
        else m.RotatePolicy(
            log_size=read.number(rotate["log_size"], f"{path}.rotate.log_size"),
            backups=read.number(rotate["backups"], f"{path}.rotate.backups"),
        ),
    )


def _process(data: Mapping[str, Any], path: str, read: _Reader) -> m.Process:
    resources = data.get("resources")
    return m.Process(
        name=data["name"],
        cmdline=data["cmdline"],
        max_failures=read.number(data["max_failures"], f"{path}.max_failures"),
        daemon=data["daemon"],
        ephemeral=data["ephemeral"],
        min_duration=read.number(data["min_duration"], f"{path}.min_duration"),
        final=data["final"],
        logger=_logger(data.get("logger"), f"{path}.logger", read),
        resources=None
        if resources is None or not {"cpu", "ram", "disk"} <= set(resources)
        else _resources(resources, f"{path}.resources", read),
    )


def _task(data: Mapping[str, Any], path: str, read: _Reader) -> m.Task:
    if "resources" not in data:
        read.issues.append(ConfigIssue(f"{path}.resources", "required (Resources)"))
        resources = m.Resources(cpu=0, ram_mb=0, disk_mb=0)
    else:
        resources = _resources(data["resources"], f"{path}.resources", read)
    return m.Task(
        name=data["name"],
        processes=tuple(
            _process(process, f"{path}.processes[{index}]", read)
            for index, process in enumerate(data.get("processes", ()))
        ),
        orders=tuple(tuple(c.get("order", ())) for c in data["constraints"]),
        resources=resources,
        max_failures=read.number(data["max_failures"], f"{path}.max_failures"),
        max_concurrency=read.number(data["max_concurrency"], f"{path}.max_concurrency"),
        finalization_wait=read.number(data["finalization_wait"], f"{path}.finalization_wait"),
        user=data.get("user"),
    )


def _update(update: Any, data: Mapping[str, Any], read: _Reader) -> m.UpdateSettings:
    path = f"{ROOT}.update_config"
    batch_size = read.number(data["batch_size"], f"{path}.batch_size")
    wait_for_batch = data["wait_for_batch_completion"]
    strategy: m.UpdateStrategy
    chosen = update.update_strategy()
    if chosen is Empty:
        strategy = (
            m.BatchStrategy(batch_size=batch_size)
            if wait_for_batch
            else m.QueueStrategy(batch_size=batch_size)
        )
    else:
        if wait_for_batch:
            read.issues.append(
                ConfigIssue(
                    path,
                    "ambiguous: wait_for_batch_completion cannot be combined with "
                    "update_strategy (use BatchUpdateStrategy instead)",
                )
            )
        if batch_size > 1:
            read.issues.append(
                ConfigIssue(
                    path,
                    "ambiguous: batch_size cannot be combined with update_strategy "
                    "(set the batch size inside the strategy)",
                )
            )
        strategy = _strategy(chosen.unwrap(), f"{path}.update_strategy", read)
    pulse = data.get("pulse_interval_secs")
    return m.UpdateSettings(
        batch_size=batch_size,
        watch_secs=read.number(data["watch_secs"], f"{path}.watch_secs"),
        max_per_shard_failures=read.number(
            data["max_per_shard_failures"], f"{path}.max_per_shard_failures"
        ),
        max_total_failures=read.number(data["max_total_failures"], f"{path}.max_total_failures"),
        rollback_on_failure=data["rollback_on_failure"],
        wait_for_batch_completion=wait_for_batch,
        pulse_interval_secs=None
        if pulse is None
        else read.number(pulse, f"{path}.pulse_interval_secs"),
        sla_aware=data["sla_aware"],
        strategy=strategy,
    )


def _strategy(chosen: Any, path: str, read: _Reader) -> m.UpdateStrategy:
    data = chosen.get()
    if isinstance(chosen, schema.VariableBatchUpdateStrategy):
        return m.VariableBatchStrategy(
            batch_sizes=tuple(
                read.number(size, f"{path}.batch_sizes[{index}]")
                for index, size in enumerate(data["batch_sizes"])
            ),
            autopause_after_batch=data["autopause_after_batch"],
        )
    batch_size = read.number(data["batch_size"], f"{path}.batch_size")
    if isinstance(chosen, schema.BatchUpdateStrategy):
        return m.BatchStrategy(
            batch_size=batch_size, autopause_after_batch=data["autopause_after_batch"]
        )
    return m.QueueStrategy(batch_size=batch_size)


def _constraints(data: Mapping[str, str], read: _Reader) -> tuple[m.SchedulingConstraint, ...]:
    """Aurora's constraint map: `'attr': 'v1,v2'`, `'!v'` (none of), `'limit:N'`."""
    result: list[m.SchedulingConstraint] = []
    for attribute, text in sorted(data.items()):
        path = f"{ROOT}.constraints[{attribute}]"
        if text.startswith("limit:"):
            limit = text.removeprefix("limit:")
            if not is_number(limit.strip()) or int(limit) < 1:
                read.issues.append(
                    ConfigIssue(path, f"{text!r}: a limit must be a whole number of at least 1")
                )
                continue
            result.append(m.LimitConstraint(attribute=attribute, limit=int(limit)))
            continue
        negated = text.startswith("!")
        values = tuple(text.removeprefix("!").split(","))
        if not all(value.strip() for value in values):
            read.issues.append(
                ConfigIssue(path, f"{text!r}: empty value (write 'a,b', '!a' or 'limit:N')")
            )
            continue
        result.append(m.ValueConstraint(attribute=attribute, values=values, negated=negated))
    return tuple(result)


def _health_check(data: Mapping[str, Any], read: _Reader) -> m.HealthCheck:
    path = f"{ROOT}.health_check_config"
    checkers = data["health_checker"]
    checker: m.HealthChecker = m.HttpHealthChecker()
    if "http" in checkers and "shell" in checkers:
        read.issues.append(
            ConfigIssue(f"{path}.health_checker", "set either http or shell, not both")
        )
    elif "shell" in checkers:
        checker = m.ShellHealthChecker(shell_command=checkers["shell"]["shell_command"])
    elif "http" in checkers:
        http = checkers["http"]
        checker = m.HttpHealthChecker(
            endpoint=http["endpoint"],
            expected_response=http["expected_response"],
            expected_response_code=read.number(
                http["expected_response_code"],
                f"{path}.health_checker.http.expected_response_code",
            ),
        )
    else:
        read.issues.append(ConfigIssue(f"{path}.health_checker", "set http or shell"))
    return m.HealthCheck(
        checker=checker,
        initial_interval_secs=read.number(
            data["initial_interval_secs"], f"{path}.initial_interval_secs", float
        ),
        interval_secs=read.number(data["interval_secs"], f"{path}.interval_secs", float),
        max_consecutive_failures=read.number(
            data["max_consecutive_failures"], f"{path}.max_consecutive_failures"
        ),
        min_consecutive_successes=read.number(
            data["min_consecutive_successes"], f"{path}.min_consecutive_successes"
        ),
        timeout_secs=read.number(data["timeout_secs"], f"{path}.timeout_secs", float),
    )


def _lifecycle(data: Mapping[str, Any], read: _Reader) -> m.Lifecycle:
    http = data.get("http")
    if http is None:
        return m.Lifecycle(http=None)
    path = f"{ROOT}.lifecycle.http"
    return m.Lifecycle(
        http=m.HttpLifecycle(
            port=http["port"],
            graceful_shutdown_endpoint=http["graceful_shutdown_endpoint"],
            shutdown_endpoint=http["shutdown_endpoint"],
            graceful_shutdown_wait_secs=read.number(
                http["graceful_shutdown_wait_secs"], f"{path}.graceful_shutdown_wait_secs"
            ),
            shutdown_wait_secs=read.number(
                http["shutdown_wait_secs"], f"{path}.shutdown_wait_secs"
            ),
        )
    )


def _announcer(data: Mapping[str, Any] | None) -> m.Announcer | None:
    if data is None:
        return None
    return m.Announcer(
        primary_port=data["primary_port"],
        portmap=dict(data["portmap"]),
        zk_path=data.get("zk_path"),
    )


def _partition_policy(data: Mapping[str, Any] | None, read: _Reader) -> m.PartitionPolicy | None:
    if data is None:
        return None
    return m.PartitionPolicy(
        reschedule=data["reschedule"],
        delay_secs=read.number(data["delay_secs"], f"{ROOT}.partition_policy.delay_secs"),
    )


def _sla_policy(job: Any, read: _Reader) -> m.SlaPolicy | None:
    chosen = job.sla_policy()
    if chosen is Empty:
        return None
    policy = chosen.unwrap()
    data = policy.get()
    path = f"{ROOT}.sla_policy"
    if isinstance(policy, schema.PercentageSlaPolicy):
        return m.PercentageSlaPolicy(
            percentage=read.number(data["percentage"], f"{path}.percentage", float),
            duration_secs=read.number(data["duration_secs"], f"{path}.duration_secs"),
        )
    if isinstance(policy, schema.CountSlaPolicy):
        return m.CountSlaPolicy(
            count=read.number(data["count"], f"{path}.count"),
            duration_secs=read.number(data["duration_secs"], f"{path}.duration_secs"),
        )
    return m.CoordinatorSlaPolicy(
        coordinator_url=data["coordinator_url"], status_key=data["status_key"]
    )


def _container(job: Any) -> m.Container | None:
    chosen = job.container()
    if chosen is Empty:
        return None
    container = chosen.unwrap()
    if isinstance(container, schema.Container):
        # The deprecated wrapper: Container(docker=Docker(...)) means Docker(...).
        if container.docker() is Empty:
            return None
        container = container.docker()
    data = container.get()
    if isinstance(container, schema.Docker):
        return m.DockerContainer(
            image=data["image"],
            parameters=tuple(
                m.DockerParameter(name=p["name"], value=p["value"]) for p in data["parameters"]
            ),
        )
    image: m.AppcImage | m.DockerImage | None = None
    if container.image() is not Empty:
        chosen_image = container.image().unwrap()
        image_data = chosen_image.get()
        image = (
            m.AppcImage(name=image_data["name"], image_id=image_data["image_id"])
            if isinstance(chosen_image, schema.AppcImage)
            else m.DockerImage(name=image_data["name"], tag=image_data["tag"])
        )
    return m.MesosContainer(
        image=image,
        volumes=tuple(
            m.Volume(container_path=v["container_path"], host_path=v["host_path"], mode=v["mode"])
            for v in data["volumes"]
        ),
    )
