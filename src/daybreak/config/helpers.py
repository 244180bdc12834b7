"""The helper functions Aurora configs call: `order`, `SequentialTask`, `combine_tasks`, ...

Same names and results as Aurora's Thermos schema helpers, so configs that compose tasks keep
working. They build pystachio objects; nothing here is evaluated until conversion.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from pystachio import Empty, List

from daybreak.config.schema import GB, Constraint, Process, Resources, Task


def _amount(value: Any) -> float:
    return 0 if value is Empty else value.get()


def _unique(items: Iterable[Any]) -> list[Any]:
    """Deduplicate pystachio objects, keeping first-seen order so results are deterministic."""
    seen: set[Any] = set()
    unique = []
    for item in items:
        if item not in seen:
            seen.add(item)
            unique.append(item)
    return unique


class Units:
    """Arithmetic over Resources and merging of Task parts."""

    @classmethod
    def optional_resources(cls, resources: Any) -> Any:
        return Resources() if resources is Empty else resources

    @classmethod
    def _combine(cls, resources: Iterable[Any], combine: Any) -> Any:
        totals = {"cpu": 0.0, "ram": 0, "disk": 0, "gpu": 0}
        for item in map(cls.optional_resources, resources):
            for dimension, total in totals.items():
                totals[dimension] = combine(total, _amount(getattr(item, dimension)()))
        return Resources(**totals)

    @classmethod
    def resources_sum(cls, *resources: Any) -> Any:
        return cls._combine(resources, lambda a, b: a + b)

    @classmethod
    def resources_max(cls, resources: Iterable[Any]) -> Any:
        return cls._combine(resources, max)

    @classmethod
    def safe_get(cls, unit: Any) -> Any:
        """A pystachio value's plain value, 0 if it is unset."""
        return 0 if unit is Empty else unit.get()

    # As Aurora's: they take finalization_wait values, not tasks.
    @classmethod
    def finalization_wait_sum(cls, waits: Iterable[Any]) -> int:
        return sum(int(cls.safe_get(wait)) for wait in waits)

    @classmethod
    def finalization_wait_max(cls, waits: Iterable[Any]) -> int:
        return max((int(cls.safe_get(wait)) for wait in waits), default=0)

    @classmethod
    def processes_merge(cls, tasks: Iterable[Any]) -> list[Any]:
        return _unique(process for task in tasks for process in task.processes())

    @classmethod
    def constraints_merge(cls, tasks: Iterable[Any]) -> list[Any]:
        return _unique(constraint for task in tasks for constraint in task.constraints())


class Processes:
    @classmethod
    def _process_name(cls, process: Any) -> Any:
        if isinstance(process, Process):
            return process.name()
        if isinstance(process, str):
            return process
        raise ValueError(f"order() takes Process objects or process names, not {process!r}")

    @classmethod
    def order(cls, *processes: Any) -> list[Any]:
        """order(a, b, c) is [Constraint(order=['a', 'b', 'c'])]; lists of them concatenate."""
        return [Constraint(order=[cls._process_name(process) for process in processes])]


class Tasks:
    SIMPLE_CPU = 1.0
    SIMPLE_RAM = 1 * GB
    SIMPLE_DISK = 1 * GB

    @classmethod
    def _merged(cls, tasks: tuple[Any, ...]) -> Any:
        # The last task's identity (name, failure limits, ...) is kept, as Aurora did.
        return tasks[-1](processes=Units.processes_merge(tasks))

    @classmethod
    def combine(cls, *tasks: Any, **overrides: Any) -> Any:
        """All processes of all tasks, in parallel; resources summed."""
        if not tasks:
            return Task()
        merged = {
            "resources": Units.resources_sum(*(task.resources() for task in tasks)),
            "constraints": Units.constraints_merge(tasks),
            "finalization_wait": Units.finalization_wait_max(t.finalization_wait() for t in tasks),
        }
        return cls._merged(tasks)(**{**merged, **overrides})

    @classmethod
    def concat(cls, *tasks: Any, **overrides: Any) -> Any:
        """Every process of task k runs before any process of task k+1; resources are the max."""
        if not tasks:
            return Task()
        constraints = Units.constraints_merge(tasks)
        for earlier, later in itertools.pairwise(tasks):
            for first in earlier.processes():
                for second in later.processes():
                    if first != second:
                        constraints.extend(Processes.order(first, second))
        merged = {
            "resources": Units.resources_max(task.resources() for task in tasks),
            "constraints": constraints,
            "finalization_wait": Units.finalization_wait_sum(t.finalization_wait() for t in tasks),
        }
        return cls._merged(tasks)(**{**merged, **overrides})

    @classmethod
    def simple(cls, name: str, command: str) -> Any:
        return Task(
            name=name,
            processes=[Process(name=name, cmdline=command)],
            resources=Resources(cpu=cls.SIMPLE_CPU, ram=cls.SIMPLE_RAM, disk=cls.SIMPLE_DISK),
        )

    @classmethod
    def sequential(cls, task: Any) -> Any:
        if task.constraints() is not Empty and task.constraints() != List(Constraint)([]):
            raise ValueError("Cannot turn a Task with existing constraints into a SequentialTask!")
        if task.processes() is Empty:
            return task
        return task(constraints=order(*task.processes()))


class Options:
    """Render command-line flags: `python_options('a', 'boo') == '-a --boo'`."""

    @classmethod
    def render_option(cls, short: str, long: str, option: str, value: Any = None) -> str:
        flag = f"{short if len(option) == 1 else long}{option}"
        return f"{flag} {value}" if value else flag

    @classmethod
    def render_options(cls, short: str, long: str, *options: Any, **named: Any) -> list[str]:
        rendered = []
        for option in options:
            if isinstance(option, str):
                rendered.append(cls.render_option(short, long, option))
            elif isinstance(option, dict):
                rendered.extend(
                    cls.render_option(short, long, key, val) for key, val in option.items()
                )
            else:
                raise ValueError(f"options must be strings or dicts, not {option!r}")
        rendered.extend(cls.render_option(short, long, key, val) for key, val in named.items())
        return rendered

    @classmethod
    def java(cls, *options: Any, **named: Any) -> str:
        return " ".join(cls.render_options("-", "-", *options, **named))

    @classmethod
    def python(cls, *options: Any, **named: Any) -> str:
        return " ".join(cls.render_options("-", "--", *options, **named))


def SimpleTask(name: str, command: str) -> Any:
    """A one-process Task with 1 cpu, 1 GB of ram and 1 GB of disk."""
    return Tasks.simple(name, command)


def SequentialTask(*args: Any, **kwargs: Any) -> Any:
    """A Task whose processes run one after another, in the order listed."""
    return Tasks.sequential(Task(*args, **kwargs))


order = Processes.order
combine_tasks = Tasks.combine
concat_tasks = Tasks.concat
python_options = Options.python
java_options = Options.java
