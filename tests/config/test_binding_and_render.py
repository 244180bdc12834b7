"""Bindings (--bind, .bind), late-bound templates, port inference and per-instance rendering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from daybreak.config import load_config, parse_bindings, pick_job, render_task
from daybreak.errors import ConfigError, InvalidParameterError
from daybreak.model.jobkey import parse_job_key
from daybreak.model.jobspec import JobSpec
from tests.conftest import KEY

TEMPLATE = """
proc = Process(name = 'main', cmdline = '{cmdline}')
jobs = [Job(cluster = 'west', role = 'www', environment = 'prod', name = 'app',
            task = Task(processes = [proc], resources = Resources(cpu = 1, ram = 64*MB, disk = 64*MB)),
            {extra})]
"""


def load(write: Callable[..., Path], cmdline: str, extra: str = "", **bindings: str) -> JobSpec:
    path = write(TEMPLATE.format(cmdline=cmdline, extra=extra))
    return pick_job(load_config(path, bindings), parse_job_key(KEY))


def cmdline(spec: JobSpec) -> str:
    return spec.task.processes[0].cmdline


def test_job_attributes_are_variables(write_config: Callable[..., Path]) -> None:
    spec = load(write_config, "{{role}} {{environment}} {{cluster}} {{name}} {{instances}}")
    # Inside a process, {{name}} is the process's own name: the closest scope wins.
    assert cmdline(spec) == "www prod west main 1"


def test_deprecated_names_are_rewritten(write_config: Callable[..., Path]) -> None:
    spec = load(write_config, "{{mesos.role}} {{mesos.cluster}} {{thermos.user}}")
    assert cmdline(spec) == "www west www"


def test_command_line_binding_wins_over_config_binding(write_config: Callable[..., Path]) -> None:
    path = write_config(
        """
        proc = Process(name = 'main', cmdline = 'v{{version}}')
        job = Job(cluster = 'west', role = 'www', environment = 'prod', name = 'app',
                  task = Task(processes = [proc],
                              resources = Resources(cpu = 1, ram = 64*MB, disk = 64*MB)))
        jobs = [job.bind(version = '1')]
        """
    )
    assert cmdline(pick_job(load_config(path), parse_job_key(KEY))) == "v1"
    bound = load_config(path, parse_bindings(["version=2", "version=3"]))
    assert cmdline(pick_job(bound, parse_job_key(KEY))) == "v3"


def test_late_bound_templates_survive_loading(write_config: Callable[..., Path]) -> None:
    spec = load(
        write_config,
        "{{mesos.instance}} {{mesos.hostname}} {{thermos.task_id}} {{thermos.ports[http]}}",
    )
    assert cmdline(spec) == (
        "{{mesos.instance}} {{mesos.hostname}} {{thermos.task_id}} {{thermos.ports[http]}}"
    )
    assert spec.ports == ("http",)


def test_render_fills_in_one_instance(write_config: Callable[..., Path]) -> None:
    spec = load(
        write_config,
        "serve --shard={{mesos.instance}} --host={{mesos.hostname}} --id={{thermos.task_id}} "
        "--port={{thermos.ports[http]}} --admin={{thermos.ports[aurora]}}",
        extra="announce = Announcer(primary_port = 'http'), health_check_config = "
        "HealthCheckConfig(health_checker = HealthCheckerConfig(shell = ShellHealthChecker("
        "shell_command = 'curl localhost:{{thermos.ports[http]}}/{{mesos.instance}}')))",
    )
    assert spec.ports == ("http",)  # 'aurora' is the announcer's alias of 'http'
    task = render_task(spec, instance=3, hostname="agent-1", task_id="t-3", ports={"http": 31001})
    assert task.task.processes[0].cmdline == (
        "serve --shard=3 --host=agent-1 --id=t-3 --port=31001 --admin=31001"
    )
    assert task.health_check.checker.shell_command == "curl localhost:31001/3"  # type: ignore[union-attr]
    assert task.ports == {"http": 31001, "aurora": 31001}
    assert (task.instance, task.hostname, task.task_id) == (3, "agent-1", "t-3")


def test_static_ports_from_the_portmap(write_config: Callable[..., Path]) -> None:
    spec = load(
        write_config,
        "serve --http={{thermos.ports[http]}} --thrift={{thermos.ports[thrift]}}",
        extra="announce = Announcer(primary_port = 'thrift', portmap = {'http': '80', 'web': 'http'})",
    )
    assert spec.ports == ("thrift",)
    assert spec.static_ports == {"http": 80, "web": 80}
    task = render_task(spec, instance=0, hostname="h", task_id="t", ports={"thrift": 31000})
    assert task.task.processes[0].cmdline == "serve --http=80 --thrift=31000"


def test_render_refuses_missing_ports(write_config: Callable[..., Path]) -> None:
    spec = load(write_config, "serve {{thermos.ports[http]}}")
    with pytest.raises(ConfigError, match="ports http were not allocated"):
        render_task(spec, instance=0, hostname="h", task_id="t", ports={})


def test_ports_are_found_anywhere_in_a_template_chain(write_config: Callable[..., Path]) -> None:
    text = """
    class Profile(Struct):
      flags = Default(String, '--port={{thermos.ports[grpc]}}')
    proc = Process(name = 'main', cmdline = 'serve {{profile.flags}}')
    jobs = [Job(cluster = 'west', role = 'www', environment = 'prod', name = 'app',
                task = Task(processes = [proc],
                            resources = Resources(cpu = 1, ram = 64*MB, disk = 64*MB)))
            .bind(profile = Profile())]
    """
    spec = pick_job(load_config(write_config(text)), parse_job_key(KEY))
    assert spec.ports == ("grpc",)
    assert spec.task.processes[0].cmdline == "serve --port={{thermos.ports[grpc]}}"


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ("novalue", "write NAME=VALUE"),
        ("=3", "write NAME=VALUE"),
        ("bad name=3", "is not a variable name"),
    ],
)
def test_malformed_bindings(binding: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        parse_bindings([binding])


def test_binding_values_may_contain_equals() -> None:
    assert parse_bindings(["flags=--a=b"]) == {"flags": "--a=b"}
