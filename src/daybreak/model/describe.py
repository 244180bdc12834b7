"""A readable summary of a JobSpec: what a person checks before creating a job (`job inspect`)
and what the web UI shows as a job's configuration."""

from __future__ import annotations

from daybreak.model import jobspec as m
from daybreak.model.tiers import tier_of


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _size(mib: int) -> str:
    if mib >= 1024 and mib % 1024 == 0:
        return f"{mib // 1024} GiB"
    return f"{mib} MiB"


def size_mb(value: float) -> str:
    """MiB, shown in the largest unit that keeps it readable: 512 MiB, 4 GiB, 1.5 TiB."""
    for unit, scale in (("TiB", 1024**2), ("GiB", 1024)):
        if value >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value:.4g} MiB"


def _resources(resources: m.Resources) -> str:
    text = f"cpu {resources.cpu:g}, ram {_size(resources.ram_mb)}, disk {_size(resources.disk_mb)}"
    return text + (f", gpu {resources.gpu}" if resources.gpu else "")


def _limit(value: int, unlimited: int, word: str = "unlimited") -> str:
    return word if value == unlimited else str(value)


def _constraint(constraint: m.SchedulingConstraint) -> str:
    if isinstance(constraint, m.LimitConstraint):
        return f"{constraint.attribute}: at most {constraint.limit} per value"
    verb = "none of" if constraint.negated else "one of"
    return f"{constraint.attribute}: {verb} {', '.join(constraint.values)}"


def strategy_text(strategy: m.UpdateStrategy) -> str:
    if isinstance(strategy, m.VariableBatchStrategy):
        sizes = ", ".join(map(str, strategy.batch_sizes))
        text = f"variable batches of {sizes}"
    elif isinstance(strategy, m.BatchStrategy):
        text = f"batches of {strategy.batch_size}"
    else:
        text = f"queue, {strategy.batch_size} at a time"
    if not isinstance(strategy, m.QueueStrategy) and strategy.autopause_after_batch:
        text += ", pausing after each batch"
    return text


def _lifecycle(spec: m.JobSpec) -> str:
    http = spec.lifecycle.http
    if http is None:
        return "SIGTERM, then SIGKILL (lifecycle endpoints disabled)"
    if http.port not in spec.ports and http.port not in spec.static_ports:
        return f"SIGTERM, then SIGKILL (no port {http.port!r} for the lifecycle endpoints)"
    return (
        f"POST {http.graceful_shutdown_endpoint} on port {http.port!r}, wait "
        f"{http.graceful_shutdown_wait_secs} s; POST {http.shutdown_endpoint}, wait "
        f"{http.shutdown_wait_secs} s; then SIGTERM, SIGKILL"
    )


def _health(spec: m.JobSpec) -> str:
    health = spec.health_check
    checker = health.checker
    if isinstance(checker, m.HttpHealthChecker) and "health" not in spec.ports:
        return (
            "none: HTTP checks need a port named 'health' ({{thermos.ports[health]}}); "
            "the task counts as healthy once it runs"
        )
    if isinstance(checker, m.ShellHealthChecker):
        what = f"shell `{checker.shell_command}`"
    else:
        expect = f"body {checker.expected_response!r}" if checker.expected_response else "any body"
        code = checker.expected_response_code
        what = f"http {checker.endpoint} on port 'health' expecting {expect}" + (
            f" and status {code}" if code else ""
        )
    return (
        f"{what}; after {health.initial_interval_secs:g} s, every {health.interval_secs:g} s, "
        f"timeout {health.timeout_secs:g} s, {health.min_consecutive_successes} success(es) "
        f"to be healthy, {_limit(health.max_consecutive_failures, 0, 'no')} consecutive "
        "failure(s) tolerated"
    )


def _process(process: m.Process) -> list[str]:
    flags = [name for name in ("daemon", "ephemeral", "final") if getattr(process, name)]
    lines = [
        f"  process {process.name}" + (f" [{', '.join(flags)}]" if flags else ""),
        "    cmdline: " + process.cmdline.replace("\n", "\n             "),
        f"    max_failures {_limit(process.max_failures, 0)}, "
        f"min_duration {process.min_duration} s",
    ]
    if process.logger is not None:
        logger = process.logger
        rotate = (
            f", rotate at {_size(logger.rotate.log_size // (1024 * 1024))} "
            f"keeping {logger.rotate.backups}"
            if logger.rotate is not None and logger.mode == "rotate"
            else ""
        )
        lines.append(f"    logs: {logger.destination}, {logger.mode}{rotate}")
    return lines


def describe(spec: m.JobSpec) -> str:
    task = spec.task
    lines = [
        f"Job {spec.key}",
        f"  {'service' if spec.service else 'batch job'}, {spec.instances} instance(s), "
        f"tier {spec.tier or '(scheduler default)'}, priority {spec.priority}, "
        f"production {_yes(tier_of(spec).production)}",
        f"  max_task_failures {_limit(spec.max_task_failures, -1)}",
    ]
    if spec.contact:
        lines.append(f"  contact: {spec.contact}")
    if spec.cron_schedule:
        lines.append(f"  cron: {spec.cron_schedule} (on collision: {spec.cron_collision_policy})")
    lines += [
        f"Task {task.name}",
        f"  resources: {_resources(task.resources)}",
        f"  ports: {', '.join(spec.ports) if spec.ports else 'none'}"
        + (
            "; static: " + ", ".join(f"{k}={v}" for k, v in spec.static_ports.items())
            if spec.static_ports
            else ""
        ),
        f"  max_failures {_limit(task.max_failures, 0)}, "
        f"max_concurrency {_limit(task.max_concurrency, 0)}, "
        f"finalization_wait {task.finalization_wait} s",
    ]
    for order in task.orders:
        lines.append(f"  order: {' -> '.join(order)}")
    for process in task.processes:
        lines += _process(process)
    if spec.constraints:
        lines.append("Constraints")
        lines += [f"  {_constraint(constraint)}" for constraint in spec.constraints]
    update = spec.update
    lines += [
        "Update",
        f"  {strategy_text(update.strategy)}, watch {update.watch_secs} s, "
        f"failures allowed: {update.max_per_shard_failures} per instance, "
        f"{update.max_total_failures} in total",
        f"  rollback on failure {_yes(update.rollback_on_failure)}"
        + (f", pulse every {update.pulse_interval_secs} s" if update.pulse_interval_secs else "")
        + (", SLA-aware" if update.sla_aware else ""),
        "Health check",
        f"  {_health(spec)}",
        "Lifecycle",
        f"  {_lifecycle(spec)}",
    ]
    if spec.announce:
        portmap = ", ".join(f"{k} -> {v}" for k, v in spec.announce.portmap.items())
        lines += ["Announce", f"  primary port {spec.announce.primary_port}; {portmap}"]
    if spec.sla_policy:
        lines += ["SLA policy", f"  {sla_policy_text(spec.sla_policy)}"]
    if spec.container:
        lines += ["Container", f"  {_container(spec.container)}"]
    if spec.metadata:
        lines.append("Metadata")
        lines += [f"  {item.key} = {item.value}" for item in spec.metadata]
    return "\n".join(lines)


def sla_policy_text(policy: m.SlaPolicy) -> str:
    if isinstance(policy, m.PercentageSlaPolicy):
        return f"{policy.percentage:g}% of instances up for {policy.duration_secs} s"
    if isinstance(policy, m.CountSlaPolicy):
        return f"{policy.count} instance(s) up for {policy.duration_secs} s"
    return f"ask {policy.coordinator_url} (key {policy.status_key!r})"


def _container(container: m.Container) -> str:
    if isinstance(container, m.DockerContainer):
        params = " ".join(f"--{p.name}={p.value}" for p in container.parameters)
        return f"docker image {container.image}" + (f" {params}" if params else "")
    image = container.image
    text = "mesos, host filesystem"
    if isinstance(image, m.DockerImage):
        text = f"mesos, docker image {image.name}:{image.tag}"
    elif isinstance(image, m.AppcImage):
        text = f"mesos, appc image {image.name} ({image.image_id})"
    for volume in container.volumes:
        text += f"; {volume.host_path} -> {volume.container_path} ({volume.mode})"
    return text
