"""Rules a JobSpec must satisfy, over plain data: Aurora's, and the ones it missed.

Aurora checked some of these in its client, some in its scheduler, and let others through to
fail at run time (an order() naming a missing process, a cron job that is also a service, a
limit constraint that is not a number). Every rule here reports the field path it is about.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from daybreak.errors import ConfigIssue
from daybreak.model import jobspec as m
from daybreak.model.cron import CronSyntaxError, parse_cron
from daybreak.model.docker_parameters import read_parameters

IDENTIFIER = re.compile(r"^[\w\-.]+$")
# Aurora's -allowed_job_environments; a scheduler may set its own (--allowed-job-environments).
ENVIRONMENTS = r"^(prod|devel|test|staging\d*)$"
PROCESS_NAME = re.compile(r"^[^./][^/]*$")
MIN_PULSE_INTERVAL_SECS = 60
ROOT = "Job"
# Linux refuses to exec a single argument longer than this (MAX_ARG_STRLEN), and a process's
# command line is one argument to its shell.
MAX_CMDLINE_BYTES = 128 * 1024
# Aurora's default for -max_tasks_per_job; a scheduler may allow more.
MAX_INSTANCES = 4000
# More than any cluster runs as one job: refused before the config leaves the client.
INSTANCES_CEILING = 1_000_000


def validate_spec(
    spec: m.JobSpec, max_instances: int | None = None, environments: str | None = None
) -> list[ConfigIssue]:
    """Everything wrong with `spec`; with `max_instances` and `environments` (a pattern), a
    cluster's limits too."""
    issues: list[ConfigIssue] = []
    if max_instances is not None and spec.instances > max_instances:
        issues.append(ConfigIssue(
            f"{ROOT}.instances",
            f"{spec.instances} instances is more than this cluster allows in one job "
            f"({max_instances}; its scheduler's --max-instances-per-job)",
        ))  # fmt: skip
    elif spec.instances > INSTANCES_CEILING:
        issues.append(ConfigIssue(
            f"{ROOT}.instances",
            f"{spec.instances:,} instances is more than any cluster runs as one job (at most "
            f"{INSTANCES_CEILING:,}, and each cluster sets its own, lower, limit)",
        ))  # fmt: skip
    issues += _key(spec.key, environments)
    issues += _job_numbers(spec)
    issues += _task(spec.task, f"{ROOT}.task")
    issues += _cron(spec)
    issues += _update(spec)
    issues += _health(spec.health_check)
    issues += _constraints(spec)
    issues += _sla(spec)
    issues += _ports(spec)
    issues += _container(spec.container)
    return issues


def _container(container: m.Container | None) -> list[ConfigIssue]:
    """What of a container Daybreak cannot do is refused, never ignored."""
    path = f"{ROOT}.container"
    if isinstance(container, m.DockerContainer):
        _, problems = read_parameters(container.parameters)
        return [ConfigIssue(f"{path}.parameters[{p.index}]", p.why) for p in problems]
    if isinstance(container, m.MesosContainer):
        if isinstance(container.image, m.AppcImage):
            why = "Appc images are not supported: use a DockerImage (an OCI image)"
            return [ConfigIssue(f"{path}.image", why)]
        if container.image is None and container.volumes:
            why = "volumes are mounted only in a task that runs in an image"
            return [ConfigIssue(f"{path}.volumes", why)]
        issues = []
        for index, volume in enumerate(container.volumes):
            where = f"{path}.volumes[{index}]"
            for field, value in (("container_path", volume.container_path),
                                 ("host_path", volume.host_path)):  # fmt: skip
                if not value.startswith("/"):
                    issues.append(ConfigIssue(f"{where}.{field}", f"{value!r} is not absolute"))
        return issues
    return []


def _at_least(value: float, low: float, path: str, why: str = "") -> list[ConfigIssue]:
    if value >= low:
        return []
    return [ConfigIssue(path, f"must be at least {low:g}, got {value:g}{why}")]


def _positive(value: float, path: str) -> list[ConfigIssue]:
    return [] if value > 0 else [ConfigIssue(path, f"must be greater than 0, got {value:g}")]


def name_problem(field: str, value: str) -> str | None:
    """What is wrong with `value` as a part of a job key (a role, a name...), if anything."""
    if IDENTIFIER.match(value):
        return None
    return f"{value!r} is not a valid {field}: use letters, digits, '_', '-' and '.'"


def _key(key: m.JobKey, environments: str | None) -> list[ConfigIssue]:
    issues = []
    for field in ("cluster", "role", "environment", "name"):
        problem = name_problem(field, getattr(key, field))
        if problem is not None:
            issues.append(ConfigIssue(f"{ROOT}.{field}", problem))
    allowed = environments is None or re.fullmatch(environments, key.environment)
    if IDENTIFIER.match(key.environment) and not allowed:
        issues.append(
            ConfigIssue(
                f"{ROOT}.environment",
                f"{key.environment!r} is not an environment this cluster allows (its "
                f"scheduler's --allowed-job-environments: {environments})",
            )
        )
    return issues


def _job_numbers(spec: m.JobSpec) -> list[ConfigIssue]:
    issues = _at_least(spec.instances, 1, f"{ROOT}.instances")
    issues += _at_least(spec.max_task_failures, -1, f"{ROOT}.max_task_failures", " (-1 = no limit)")
    issues += _at_least(spec.priority, 0, f"{ROOT}.priority")
    if spec.tier is not None and not IDENTIFIER.match(spec.tier):
        issues.append(ConfigIssue(f"{ROOT}.tier", f"{spec.tier!r} is not a tier name"))
    if spec.partition_policy is not None:
        issues += _at_least(spec.partition_policy.delay_secs, 0, f"{ROOT}.partition_policy")
    http = spec.lifecycle.http
    if http is not None:
        path = f"{ROOT}.lifecycle.http"
        issues += _at_least(
            http.graceful_shutdown_wait_secs, 0, f"{path}.graceful_shutdown_wait_secs"
        )
        issues += _at_least(http.shutdown_wait_secs, 0, f"{path}.shutdown_wait_secs")
    return issues


def _task(task: m.Task, path: str) -> list[ConfigIssue]:
    issues = _positive(task.resources.cpu, f"{path}.resources.cpu")
    issues += _positive(task.resources.ram_mb, f"{path}.resources.ram")
    issues += _positive(task.resources.disk_mb, f"{path}.resources.disk")
    issues += _at_least(task.resources.gpu, 0, f"{path}.resources.gpu")
    issues += _at_least(task.max_failures, 0, f"{path}.max_failures", " (0 = no limit)")
    issues += _at_least(task.max_concurrency, 0, f"{path}.max_concurrency", " (0 = no limit)")
    issues += _at_least(task.finalization_wait, 0, f"{path}.finalization_wait")
    if not task.processes:
        issues.append(ConfigIssue(f"{path}.processes", "a task needs at least one process"))
    seen: set[str] = set()
    for index, process in enumerate(task.processes):
        where = f"{path}.processes[{index}]"
        if not PROCESS_NAME.match(process.name):
            issues.append(
                ConfigIssue(
                    f"{where}.name",
                    f"{process.name!r} is not a valid process name "
                    "(no '/', and it may not start with '.')",
                )
            )
        if process.name in seen:
            issues.append(ConfigIssue(f"{where}.name", f"duplicate process name {process.name!r}"))
        seen.add(process.name)
        size = len(process.cmdline.encode())
        if size > MAX_CMDLINE_BYTES:
            issues.append(ConfigIssue(
                f"{where}.cmdline",
                f"{size} bytes is longer than a command line can be ({MAX_CMDLINE_BYTES}): "
                "put the script in a file the task fetches or ships",
            ))  # fmt: skip
        issues += _at_least(process.max_failures, 0, f"{where}.max_failures", " (0 = no limit)")
        issues += _at_least(process.min_duration, 0, f"{where}.min_duration")
    issues += _orders(task, path)
    return issues


def _orders(task: m.Task, path: str) -> list[ConfigIssue]:
    issues = []
    final = {process.name: process.final for process in task.processes}
    edges: dict[str, set[str]] = {name: set() for name in final}
    for index, order in enumerate(task.orders):
        where = f"{path}.constraints[{index}]"
        for name in order:
            if name not in final:
                issues.append(
                    ConfigIssue(
                        where, f"order() names {name!r}, which is not a process of the task"
                    )
                )
        for before, after in itertools.pairwise(order):
            if before in final and after in final:
                if final[before] and not final[after]:
                    issues.append(
                        ConfigIssue(
                            where,
                            f"final process {before!r} cannot run before non-final {after!r}: "
                            "final processes run after all others",
                        )
                    )
                edges[before].add(after)
    cycle = _find_cycle(edges)
    if cycle:
        issues.append(ConfigIssue(f"{path}.constraints", "ordering cycle: " + " -> ".join(cycle)))
    return issues


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the process ordering graph, as a path that returns to its start, or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for successor in sorted(edges[node]):
            cycle = visit(successor)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(edges):
        found = visit(start)
        if found:
            return found
    return None


def _cron(spec: m.JobSpec) -> list[ConfigIssue]:
    if spec.cron_schedule is None:
        return []
    path = f"{ROOT}.cron_schedule"
    issues = []
    if spec.service:
        issues.append(
            ConfigIssue(path, "a service cannot have a cron schedule: services run continuously")
        )
    try:
        parse_cron(spec.cron_schedule)
    except CronSyntaxError as error:
        issues.append(ConfigIssue(path, f"{spec.cron_schedule!r}: {error}"))
    return issues


def _update(spec: m.JobSpec) -> list[ConfigIssue]:
    update = spec.update
    path = f"{ROOT}.update_config"
    issues = _positive(update.batch_size, f"{path}.batch_size")
    issues += _at_least(update.watch_secs, 0, f"{path}.watch_secs")
    issues += _at_least(update.max_per_shard_failures, 0, f"{path}.max_per_shard_failures")
    issues += _at_least(update.max_total_failures, 0, f"{path}.max_total_failures")
    if update.pulse_interval_secs is not None:
        issues += _at_least(
            update.pulse_interval_secs, MIN_PULSE_INTERVAL_SECS, f"{path}.pulse_interval_secs"
        )
    strategy = update.strategy
    where = f"{path}.update_strategy"
    if isinstance(strategy, m.VariableBatchStrategy):
        if not strategy.batch_sizes:
            issues.append(ConfigIssue(f"{where}.batch_sizes", "needs at least one batch size"))
        for index, size in enumerate(strategy.batch_sizes):
            issues += _positive(size, f"{where}.batch_sizes[{index}]")
    else:
        issues += _positive(strategy.batch_size, f"{where}.batch_size")
    if update.sla_aware and spec.sla_policy is None:
        issues.append(
            ConfigIssue(f"{path}.sla_aware", "an SLA-aware update needs the job's sla_policy set")
        )
    return issues


def _health(health: m.HealthCheck) -> list[ConfigIssue]:
    path = f"{ROOT}.health_check_config"
    issues = _at_least(health.initial_interval_secs, 0, f"{path}.initial_interval_secs")
    issues += _positive(health.interval_secs, f"{path}.interval_secs")
    issues += _positive(health.timeout_secs, f"{path}.timeout_secs")
    issues += _at_least(health.max_consecutive_failures, 0, f"{path}.max_consecutive_failures")
    issues += _at_least(health.min_consecutive_successes, 1, f"{path}.min_consecutive_successes")
    if isinstance(health.checker, m.ShellHealthChecker) and not health.checker.shell_command:
        issues.append(
            ConfigIssue(f"{path}.health_checker.shell.shell_command", "must not be empty")
        )
    return issues


def _constraints(spec: m.JobSpec) -> list[ConfigIssue]:
    issues = []
    for constraint in spec.constraints:
        if constraint.attribute != "dedicated":
            continue
        path = f"{ROOT}.constraints[dedicated]"
        if not isinstance(constraint, m.ValueConstraint) or constraint.negated:
            issues.append(ConfigIssue(path, "must name one dedicated group: 'ROLE/NAME'"))
            continue
        if len(constraint.values) != 1:
            issues.append(ConfigIssue(path, "must name exactly one dedicated group"))
            continue
        owner, slash, group = constraint.values[0].partition("/")
        if not slash or not group:
            issues.append(
                ConfigIssue(path, f"{constraint.values[0]!r}: write 'ROLE/NAME' or '*/NAME'")
            )
        elif owner not in ("*", spec.key.role):
            issues.append(
                ConfigIssue(
                    path,
                    f"{constraint.values[0]!r} is dedicated to role {owner!r}, "
                    f"not to this job's role {spec.key.role!r}",
                )
            )
    return issues


def _sla(spec: m.JobSpec) -> list[ConfigIssue]:
    policy = spec.sla_policy
    path = f"{ROOT}.sla_policy"
    if isinstance(policy, m.PercentageSlaPolicy):
        issues = _positive(policy.percentage, f"{path}.percentage")
        if policy.percentage > 100:
            issues.append(ConfigIssue(f"{path}.percentage", "must be at most 100"))
        return issues + _at_least(policy.duration_secs, 0, f"{path}.duration_secs")
    if isinstance(policy, m.CountSlaPolicy):
        issues = _positive(policy.count, f"{path}.count")
        return issues + _at_least(policy.duration_secs, 0, f"{path}.duration_secs")
    if isinstance(policy, m.CoordinatorSlaPolicy):
        url = policy.coordinator_url
        if not (url.startswith(("http://", "https://")) and len(url) > len("https://")):
            return [ConfigIssue(f"{path}.coordinator_url",
                                f"{url!r} is not an http:// or https:// URL")]  # fmt: skip
        if not policy.status_key:
            return [ConfigIssue(f"{path}.status_key", "must not be empty")]
    return []


def _ports(spec: m.JobSpec) -> list[ConfigIssue]:
    return [
        ConfigIssue(f"{ROOT}.task", f"port name {name!r} is not valid: use letters, digits, '_-.'")
        for name in _names(spec.ports)
        if not IDENTIFIER.match(name)
    ]


def _names(names: Iterable[str]) -> list[str]:
    return sorted(set(names))
