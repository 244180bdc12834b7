"""Malformed configs: each names the field path or file:line, and what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from daybreak.config import Limits, load_config, pick_job
from daybreak.errors import ConfigError, ExitCode
from daybreak.model.docker_parameters import ContainerSettings, read_parameters
from daybreak.model.jobkey import parse_job_key
from daybreak.model.jobspec import DockerContainer, Volume
from tests.conftest import KEY, MINIMAL_JOB, run_cli


def issues_for(path: Path, key: str = KEY, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        pick_job(load_config(path, **kwargs), parse_job_key(key))  # type: ignore[arg-type]
    return [str(issue) for issue in caught.value.issues]


def job_with(extra: str) -> str:
    return MINIMAL_JOB.format(extra=extra)


PROCESS = "Process(name = 'main', cmdline = 'sleep 60')"


def task_with(**fields: str) -> str:
    parts = {"processes": f"[{PROCESS}]", "resources": "Resources(cpu=1, ram=64*MB, disk=64*MB)"}
    parts.update(fields)
    body = ", ".join(f"{name} = {value}" for name, value in parts.items() if value)
    return f"jobs = [Job(cluster='west', role='www', environment='prod', name='app', task=Task({body}))]"


# (config text, expected issue: "path: fragment of the problem")
FIELD_CASES = [
    pytest.param(
        task_with(resources="Resources(cpu=1, disk=64*MB)"),
        "Job.task.resources.ram: required (Integer)",
        id="missing-ram",
    ),
    pytest.param(task_with(resources=""), "Job.task.resources: required", id="missing-resources"),
    pytest.param(
        task_with(resources="Resources(cpu=0, ram=64*MB, disk=64*MB)"),
        "Job.task.resources.cpu: must be greater than 0",
        id="zero-cpu",
    ),
    pytest.param(
        task_with(resources="Resources(cpu=1, ram=1000, disk=64*MB)"),
        "Job.task.resources.ram: must be at least 1 MiB; got 1000 bytes",
        id="ram-in-bytes",
    ),
    pytest.param(
        task_with(resources="Resources(cpu='lots', ram=64*MB, disk=64*MB)"),
        "Job.task.resources.cpu: Cannot coerce 'lots' to Float",
        id="cpu-not-a-number",
    ),
    pytest.param(
        task_with(resources="Resources(cpu='{{mesos.instance}}', ram=64*MB, disk=64*MB)"),
        "Job.task.resources.cpu: '{{mesos.instance}}' is only known when the task runs",
        id="late-bound-number",
    ),
    pytest.param(
        task_with(processes="[]"),
        "Job.task.processes: a task needs at least one process",
        id="no-processes",
    ),
    pytest.param(
        task_with(processes="[Process(name='.hidden', cmdline='x')]"),
        "Job.task.processes[0].name: '.hidden' is not a valid process name",
        id="bad-process-name",
    ),
    pytest.param(
        task_with(processes="[Process(name='a', cmdline='x'), Process(name='a', cmdline='y')]"),
        "Job.task.processes[1].name: duplicate process name 'a'",
        id="duplicate-process",
    ),
    pytest.param(
        task_with(processes="[Process(name='a')]"),
        "Job.task.processes[0].cmdline: required (String)",
        id="missing-cmdline",
    ),
    pytest.param(
        task_with(
            processes="[Process(name='a', cmdline='x'), Process(name='b', cmdline='y')]",
            constraints="order('a', 'b') + order('b', 'a')",
        ),
        "Job.task.constraints: ordering cycle: a -> b -> a",
        id="order-cycle",
    ),
    pytest.param(
        task_with(constraints="order('main', 'ghost')"),
        "Job.task.constraints[0]: order() names 'ghost', which is not a process of the task",
        id="order-unknown-process",
    ),
    pytest.param(
        task_with(
            processes="[Process(name='a', cmdline='x', final=True), Process(name='b', cmdline='y')]",
            constraints="order('a', 'b')",
        ),
        "Job.task.constraints[0]: final process 'a' cannot run before non-final 'b'",
        id="final-before-regular",
    ),
    pytest.param(
        task_with(
            processes="[Process(name='a', cmdline='run --port={{thermos.ports[http]}} {{version}}')]"
        ),
        "Job.task.processes[0].cmdline: unbound variable {{version}}: bind it with --bind version=VALUE",
        id="unbound-variable",
    ),
    pytest.param(
        job_with("instances = 0"), "Job.instances: must be at least 1, got 0", id="zero-instances"
    ),
    pytest.param(
        job_with("enable_hooks = True"),
        "Job.enable_hooks: Aurora's client hooks are not supported",
        id="hooks",
    ),
    pytest.param(
        "hooks = [object()]\n" + job_with("instances = 1"),
        "hooks: Aurora's client hooks are not supported",
        id="hooks-list",
    ),
    pytest.param(
        job_with("instances = 10**30"),
        "Job.instances: 1,000,000,000,000,000,000,000,000,000,000 instances is more than any "
        "cluster runs as one job (at most 1,000,000",
        id="instances-beyond-any-cluster",
    ),
    pytest.param(
        job_with("max_task_failures = -2"),
        "Job.max_task_failures: must be at least -1",
        id="max-task-failures",
    ),
    pytest.param(
        job_with("service = True, cron_schedule = '* * * * *'"),
        "Job.cron_schedule: a service cannot have a cron schedule",
        id="cron-on-service",
    ),
    pytest.param(
        job_with("cron_schedule = '61 * * * *'"),
        "Job.cron_schedule: '61 * * * *': minute: 61 is outside 0-59",
        id="cron-syntax",
    ),
    pytest.param(
        job_with("cron_collision_policy = 'RUN_OVERLAP'"),
        "Job.cron_collision_policy: RUN_OVERLAP is not supported (Aurora deprecated it: runs piled up without bound); use KILL_EXISTING or CANCEL_NEW",
        id="cron-run-overlap",
    ),
    pytest.param(
        job_with("cron_collision_policy = 'SKIP'"),
        "Job.cron_collision_policy: 'SKIP' is not a collision policy: use KILL_EXISTING or CANCEL_NEW",
        id="cron-collision-policy",
    ),
    pytest.param(
        job_with("constraints = {'host': 'limit:none'}"),
        "Job.constraints[host]: 'limit:none': a limit must be a whole number of at least 1",
        id="bad-limit",
    ),
    pytest.param(
        job_with("constraints = {'dedicated': 'other/hosts'}"),
        "Job.constraints[dedicated]: 'other/hosts' is dedicated to role 'other', not to this job's role 'www'",
        id="dedicated-other-role",
    ),
    pytest.param(
        job_with("update_config = UpdateConfig(batch_size = 0)"),
        "Job.update_config.batch_size: must be greater than 0",
        id="zero-batch",
    ),
    pytest.param(
        job_with(
            "update_config = UpdateConfig(batch_size = 2, update_strategy = QueueUpdateStrategy(batch_size = 2))"
        ),
        "Job.update_config: ambiguous: batch_size cannot be combined with update_strategy",
        id="ambiguous-batch",
    ),
    pytest.param(
        job_with(
            "update_config = UpdateConfig(wait_for_batch_completion = True, update_strategy = BatchUpdateStrategy())"
        ),
        "Job.update_config: ambiguous: wait_for_batch_completion cannot be combined",
        id="ambiguous-wait",
    ),
    pytest.param(
        job_with("update_config = UpdateConfig(pulse_interval_secs = 30)"),
        "Job.update_config.pulse_interval_secs: must be at least 60, got 30",
        id="short-pulse",
    ),
    pytest.param(
        job_with("update_config = UpdateConfig(sla_aware = True)"),
        "Job.update_config.sla_aware: an SLA-aware update needs the job's sla_policy set",
        id="sla-aware-without-policy",
    ),
    pytest.param(
        job_with(
            "update_config = UpdateConfig(update_strategy = VariableBatchUpdateStrategy(batch_sizes = [2, 0]))"
        ),
        "Job.update_config.update_strategy.batch_sizes[1]: must be greater than 0",
        id="variable-batch-zero",
    ),
    pytest.param(
        job_with("health_check_config = HealthCheckConfig(interval_secs = 0)"),
        "Job.health_check_config.interval_secs: must be greater than 0",
        id="health-interval",
    ),
    pytest.param(
        job_with(
            "health_check_config = HealthCheckConfig(health_checker = HealthCheckerConfig("
            "http = HttpHealthChecker(), shell = ShellHealthChecker(shell_command = 'true')))"
        ),
        "Job.health_check_config.health_checker: set either http or shell, not both",
        id="two-health-checkers",
    ),
    pytest.param(
        job_with("sla_policy = PercentageSlaPolicy(percentage = 120, duration_secs = 60)"),
        "Job.sla_policy.percentage: must be at most 100",
        id="sla-percentage",
    ),
    pytest.param(
        job_with("sla_policy = CoordinatorSlaPolicy(coordinator_url = 'coordinator:8000')"),
        "Job.sla_policy.coordinator_url: 'coordinator:8000' is not an http:// or https:// URL",
        id="sla-coordinator-url",
    ),
    pytest.param(
        job_with("sla_policy = CountSlaPolicy(count = 2)"),
        "Job.sla_policy.duration_secs: required (Integer)",
        id="sla-missing-duration",
    ),
    pytest.param(
        job_with("announce = Announcer(portmap = {'a': 'b', 'b': 'a'})"),
        "Job.announce.portmap: alias cycle: a -> b -> a",
        id="portmap-cycle",
    ),
    pytest.param(
        job_with(
            "container = Mesos(volumes = [Volume(container_path = '/a', host_path = '/b', mode = 'RX')])"
        ),
        "job.aurora:7: ValueError: Enum_RO_RW only accepts the following values: RO, RW",
        id="volume-mode",
    ),
    pytest.param(
        job_with(
            "container = Docker(image = 'web', parameters = ["
            "Parameter(name = 'env', value = 'A=1'), "
            "Parameter(name = 'privileged', value = 'true')])"
        ),
        "Job.container.parameters[1]: Docker parameter 'privileged' is not supported: Daybreak "
        "runs images with runc, not a Docker engine (env, volume, label are honoured",
        id="docker-parameter-unsupported",
    ),
    pytest.param(
        job_with(
            "container = Docker(image = 'web', parameters = [Parameter(name = 'env', value = 'HOME')])"
        ),
        "Job.container.parameters[0]: Docker parameter 'env' needs KEY=VALUE, got 'HOME'",
        id="docker-env-without-value",
    ),
    pytest.param(
        job_with(
            "container = Docker(image = 'web', parameters = [Parameter(name = 'volume', value = 'data:/data')])"
        ),
        "Job.container.parameters[0]: Docker parameter 'volume' 'data:/data': both paths must be "
        "absolute (named volumes need a Docker engine)",
        id="docker-named-volume",
    ),
    pytest.param(
        job_with(
            "container = Docker(image = 'web', parameters = [Parameter(name = 'volume', value = '/a:/b:z')])"
        ),
        "Job.container.parameters[0]: Docker parameter 'volume' needs HOST:CONTAINER or "
        "HOST:CONTAINER:ro|rw, got '/a:/b:z'",
        id="docker-volume-option",
    ),
    pytest.param(
        job_with("role = 'bad role'").replace("role = 'www', ", ""),
        "Job.role: 'bad role' is not a valid role",
        id="bad-role",
    ),
    pytest.param(
        task_with(processes="[Process(name='{{name}}', cmdline='x')]"),
        "Job.task.processes[0].name: template never resolves (does it refer to itself?)",
        id="self-reference",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FIELD_CASES)
def test_field_errors(write_config: Callable[..., Path], text: str, expected: str) -> None:
    # Each case defines one job; its key may itself be what is wrong, so take it as listed.
    # A mistake Python itself rejects stops the whole file instead.
    try:
        [entry] = load_config(write_config(text))
    except ConfigError as error:
        issues = [str(issue) for issue in error.issues]
    else:
        assert entry.spec is None
        issues = [str(issue) for issue in entry.issues]
    assert any(expected in issue for issue in issues), issues


def test_every_issue_is_reported_at_once(write_config: Callable[..., Path]) -> None:
    path = write_config(
        task_with(
            resources="Resources(cpu=0, ram=10, disk=64*MB)", constraints="order('main', 'x')"
        )
    )
    issues = issues_for(path)
    assert len(issues) == 3, issues


# (config text, expected "file:line: problem" fragment) for Python-level mistakes.
PYTHON_CASES = [
    pytest.param(
        "x = Process(name='a'\n", "job.aurora:1: syntax error: '(' was never closed", id="syntax"
    ),
    pytest.param(
        "def helper():\n    return Process(nmae='a')\n\nhelper()\n",
        "job.aurora:2: AttributeError: Unknown schema attribute nmae",
        id="unknown-attribute-in-function",
    ),
    pytest.param(
        "x = 1\ny = undefined_name\n",
        "job.aurora:2: NameError: name 'undefined_name' is not defined",
        id="name-error",
    ),
    pytest.param(
        "x = 1\n", "no job defined: the file must set jobs = [Job(...), ...]", id="no-jobs"
    ),
    pytest.param("jobs = [Task()]\n", "jobs[0] is Task, not a Job (or Service)", id="not-a-job"),
    pytest.param(
        "include('nowhere.aurora')\n",
        "job.aurora:1: include('nowhere.aurora'): no such file",
        id="missing-include",
    ),
    pytest.param("import sys\nsys.exit(3)\n", "SystemExit: 3", id="sys-exit"),
]


@pytest.mark.parametrize(("text", "expected"), PYTHON_CASES)
def test_python_errors_name_the_file_and_line(
    write_config: Callable[..., Path], text: str, expected: str
) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value).replace(str(path.parent) + "/", "")


def test_error_in_an_included_file_names_that_file(write_config: Callable[..., Path]) -> None:
    write_config("a = 1\nb = broken(\n", name="lib/common.aurora")
    path = write_config("include('lib/common.aurora')\n")
    with pytest.raises(ConfigError, match=r"lib/common.aurora:2: syntax error"):
        load_config(path)


def test_include_cycle(write_config: Callable[..., Path]) -> None:
    write_config("include('a.aurora')\n", name="b.aurora")
    path = write_config("include('b.aurora')\n", name="a.aurora")
    with pytest.raises(
        ConfigError, match=r"b.aurora:1: include cycle: .*a.aurora -> .*b.aurora -> .*a.aurora"
    ):
        load_config(path)


def test_endless_allocation_is_stopped(write_config: Callable[..., Path]) -> None:
    path = write_config("hoard = []\nwhile True:\n    hoard.append(bytearray(10**7))\n")
    with pytest.raises(
        ConfigError, match=r"job.aurora:3: MemoryError: the config used more memory"
    ):
        load_config(path, limits=Limits(seconds=60, memory_mb=200))


def test_unknown_job_lists_candidates(write_config: Callable[..., Path]) -> None:
    path = write_config(job_with("instances = 2"))
    result = run_cli(["job", "inspect", "west/www/prod/other", str(path)])
    assert result.code == ExitCode.INVALID_CONFIGURATION
    assert (
        "no job west/www/prod/other in this config. Candidates are:\n  west/www/prod/app"
        in result.err
    )


def test_json_with_unknown_field(write_config: Callable[..., Path]) -> None:
    path = write_config(
        '{"cluster": "west", "role": "www", "environment": "prod", "name": "app", "instnces": 3}',
        name="job.json",
    )
    with pytest.raises(ConfigError, match=r"jobs\[0\]\.instnces: unknown field of MesosJob"):
        load_config(path, read_json=True)


def test_json_syntax_error_names_the_line(write_config: Callable[..., Path]) -> None:
    path = write_config('{\n  "jobs": [\n    oops\n  ]\n}', name="job.json")
    with pytest.raises(ConfigError, match=r"job.json:3: invalid JSON"):
        load_config(path, read_json=True)


def test_cli_reports_errors_without_a_traceback(write_config: Callable[..., Path]) -> None:
    path = write_config(task_with(resources="Resources(cpu=1, disk=64*MB)"))
    result = run_cli(["job", "inspect", KEY, str(path)])
    assert result.code == ExitCode.INVALID_CONFIGURATION
    assert result.err == "Error: Job.task.resources.ram: required (Integer)\n"
    assert result.out == ""


def test_collision_policy_in_lower_case_as_aurora_took_it(
    write_config: Callable[..., Path],
) -> None:
    text = job_with("cron_schedule = '0 * * * *', cron_collision_policy = 'cancel_new'")
    [entry] = load_config(write_config(text))
    assert entry.spec is not None and entry.spec.cron_collision_policy == "CANCEL_NEW"


def test_the_allowed_environments_are_the_schedulers_not_the_clients(
    write_config: Callable[..., Path],
) -> None:
    """As in Aurora (-allowed_job_environments): a cluster may allow `qa`; the scheduler
    refuses what it does not allow."""
    text = job_with("environment = 'qa'").replace("environment = 'prod', ", "")
    [entry] = load_config(write_config(text))
    assert entry.spec is not None and entry.spec.key.environment == "qa"


def test_the_docker_parameters_daybreak_honours_load(write_config: Callable[..., Path]) -> None:
    parameters = ", ".join(
        f"Parameter(name = '{name}', value = '{value}')"
        for name, value in (("env", "A=1=2"), ("volume", "/srv/data:/data:ro"),
                            ("volume", "/srv/cache:/cache"), ("label", "team=web"))
    )  # fmt: skip
    [entry] = load_config(
        write_config(job_with(f"container = Docker(image = 'web', parameters = [{parameters}])"))
    )
    assert entry.spec is not None, entry.issues
    assert isinstance(entry.spec.container, DockerContainer)
    settings, problems = read_parameters(entry.spec.container.parameters)
    assert problems == []
    assert settings == ContainerSettings(
        environment=(("A", "1=2"),),
        volumes=(Volume(container_path="/data", host_path="/srv/data", mode="RO"),
                 Volume(container_path="/cache", host_path="/srv/cache", mode="RW")),
        labels=(("team", "web"),),
    )  # fmt: skip
