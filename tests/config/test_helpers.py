"""Aurora's schema helpers: order, SequentialTask, SimpleTask, combine/concat, options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from daybreak.config import load_config
from daybreak.config.helpers import (
    SequentialTask,
    SimpleTask,
    combine_tasks,
    concat_tasks,
    java_options,
    order,
    python_options,
)
from daybreak.config.schema import GB, MB, Constraint, Process, Resources, Task


def names(task: Task) -> list[str]:
    return [str(process.name()) for process in task.processes()]


def test_order_accepts_processes_and_names_and_concatenates() -> None:
    a, b = Process(name="a", cmdline="x"), Process(name="b", cmdline="y")
    assert order(a, "b") == [Constraint(order=["a", "b"])]
    assert order(a, b) + order(b, "c") == [
        Constraint(order=["a", "b"]),
        Constraint(order=["b", "c"]),
    ]
    with pytest.raises(ValueError, match="order\\(\\) takes Process objects or process names"):
        order(3)


def test_simple_task_defaults() -> None:
    task = SimpleTask("hello", "echo hi")
    assert task.name().get() == "hello"
    assert task.resources() == Resources(cpu=1.0, ram=1 * GB, disk=1 * GB)
    assert names(task) == ["hello"]


def test_sequential_task_orders_every_process() -> None:
    task = SequentialTask(processes=[Process(name=n, cmdline="x") for n in "abc"])
    assert list(task.constraints()) == order("a", "b", "c")
    with pytest.raises(ValueError, match="existing constraints"):
        SequentialTask(processes=[Process(name="a", cmdline="x")], constraints=order("a"))


def test_combine_sums_resources_and_keeps_the_last_identity() -> None:
    first = Task(
        name="one",
        processes=[Process(name="a", cmdline="x")],
        finalization_wait=10,
        resources=Resources(cpu=1, ram=10 * MB, disk=20 * MB),
    )
    second = Task(
        name="two",
        processes=[Process(name="b", cmdline="y")],
        finalization_wait=40,
        resources=Resources(cpu=0.5, ram=5 * MB, disk=1 * MB, gpu=1),
    )
    combined = combine_tasks(first, second)
    assert combined.name().get() == "two"
    assert names(combined) == ["a", "b"]
    assert combined.resources() == Resources(cpu=1.5, ram=15 * MB, disk=21 * MB, gpu=1)
    assert combined.finalization_wait().get() == 40
    assert combine_tasks(first, second, name="both").name().get() == "both"
    assert combine_tasks() == Task()


def test_concat_orders_tasks_and_takes_the_max() -> None:
    first = Task(
        name="one",
        processes=[Process(name=n, cmdline="x") for n in "ab"],
        resources=Resources(cpu=1, ram=10 * MB, disk=20 * MB),
        finalization_wait=10,
    )
    second = Task(
        name="two",
        processes=[Process(name="c", cmdline="y")],
        resources=Resources(cpu=2, ram=5 * MB, disk=1 * MB),
        finalization_wait=5,
    )
    joined = concat_tasks(first, second)
    assert list(joined.constraints()) == order("a", "c") + order("b", "c")
    assert joined.resources() == Resources(cpu=2.0, ram=10 * MB, disk=20 * MB, gpu=0)
    assert joined.finalization_wait().get() == 15
    assert concat_tasks(first, second, finalization_wait=1).finalization_wait().get() == 1


def test_options() -> None:
    assert python_options("a", "boo") == "-a --boo"
    assert python_options({"a": 23, "boo": "foo"}) == "-a 23 --boo foo"
    assert python_options(a=23, boo="foo") == "-a 23 --boo foo"
    assert java_options("a", "b") == "-a -b"
    assert java_options(Xmx="2g") == "-Xmx 2g"
    with pytest.raises(ValueError, match="options must be strings or dicts"):
        python_options(3)


def test_aurora_compatibility_names_in_a_config(write_config: Callable[..., Path]) -> None:
    path = write_config(
        "\ufeff# -*- coding: utf-8 -*-\n"
        "one = Task(name = 'one', processes = [Process(name = 'a', cmdline = 'x')],\n"
        "           finalization_wait = 10, resources = Resources(cpu = 1, ram = MB, disk = MB))\n"
        "two = one(name = 'two', finalization_wait = 40)\n"
        "total = Units.finalization_wait_sum([one.finalization_wait(), two.finalization_wait()])\n"
        "longest = Units.finalization_wait_max([one.finalization_wait(), Empty])\n"
        "flag = Options.render_option('-', '--', 'v', Units.safe_get(Empty))\n"
        "named = Options.render_option('-', '--', 'port', 80)\n"
        "executor = AURORA_EXECUTOR_NAME\n"
        "jobs = [Job(cluster = 'west', role = 'www', environment = 'prod', name = 'app',\n"
        "            task = one(name = '%s %s %s %s %s' % (total, longest, flag, named, executor)))]\n"
    )
    [entry] = load_config(path)
    assert entry.spec is not None
    assert entry.spec.task.name == "50 10 -v --port 80 AuroraExecutor"


def test_a_config_in_latin_1_says_so_with_a_coding_line(tmp_path: Path) -> None:
    path = tmp_path / "job.aurora"
    path.write_bytes(
        b"# -*- coding: latin-1 -*-\n"
        b"task = SimpleTask('caf\xe9', 'echo caf\xe9')\n"
        b"jobs = [Job(cluster = 'west', role = 'www', environment = 'prod', name = 'app',\n"
        b"            task = task)]\n"
    )
    [entry] = load_config(path)
    assert entry.spec is not None and entry.spec.task.processes[0].cmdline == "echo caf\u00e9"
