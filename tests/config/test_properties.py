"""Property tests: malformed and random configs never escape as anything but a ConfigError."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daybreak.config import Limits, load_config
from daybreak.errors import ConfigError
from daybreak.model.jobspec import JobSpec
from tests.conftest import EXAMPLES, run_cli

FAST = Limits(seconds=5, memory_mb=256)
SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Values a careless edit might put in place of any literal in a config.
ODD_VALUES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: f"float('{f}')"),
    st.text(alphabet="abc{}[]. -_0123456789'", max_size=12).map(repr),
    st.sampled_from(
        ["None", "[]", "{}", "True", "'{{mesos.instance}}'", "'{{undefined}}'", "'{{thermos.ports[x]}}'",
         "Process()", "Resources()", "'limit:0'", "'!'", "'* * *'", "0", "-1", "1.5", "'{{name}}'"]
    ),
)  # fmt: skip

LITERAL = re.compile(r"'[^'\n]*'|\b\d+(?:\.\d+)?\b")


def outcome(path: Path) -> str:
    """Load a config and classify the result; anything but ConfigError fails the test."""
    try:
        jobs = load_config(path, limits=FAST)
    except ConfigError as error:
        assert str(error), "an error must say something"
        assert "Traceback" not in str(error)
        return "file error"
    for job in jobs:
        if job.spec is not None:
            encoded = msgspec.json.encode(job.spec)
            assert msgspec.json.decode(encoded, type=JobSpec) == job.spec
        else:
            assert job.issues and all(issue.problem for issue in job.issues)
            assert not any("internal error" in issue.problem for issue in job.issues), job.issues
            assert all(
                issue.where is None or issue.where.startswith(("Job", str(path)))
                for issue in job.issues
            ), job.issues
    return "loaded"


example_texts = [
    path.read_text()
    for path in sorted(EXAMPLES.glob("*.aurora"))
    if "include(" not in path.read_text()
]


@SETTINGS
@given(
    text=st.sampled_from(example_texts),
    edits=st.lists(st.tuples(st.integers(min_value=0), ODD_VALUES), min_size=1, max_size=4),
)
def test_examples_with_literals_replaced(
    tmp_path: Path, text: str, edits: list[tuple[int, str]]
) -> None:
    for position, replacement in edits:
        literals = list(LITERAL.finditer(text))
        chosen = literals[position % len(literals)]
        text = text[: chosen.start()] + replacement + text[chosen.end() :]
    path = tmp_path / "mutated.aurora"
    path.write_text(text)
    outcome(path)


@SETTINGS
@given(text=st.sampled_from(example_texts), data=st.data())
def test_examples_with_lines_dropped(tmp_path: Path, text: str, data: st.DataObject) -> None:
    lines = text.splitlines()
    dropped = data.draw(st.sets(st.integers(min_value=0, max_value=len(lines) - 1), max_size=3))
    path = tmp_path / "dropped.aurora"
    path.write_text("\n".join(line for index, line in enumerate(lines) if index not in dropped))
    outcome(path)


PYTHONISH = st.lists(
    st.sampled_from(
        ["jobs", "=", "[", "]", "(", ")", "Job", "Task", "Process", "Resources", "Service", "name",
         "'x'", "1", ",", "\n", "cpu", "ram", "*", "MB", "task", "processes", "include", ":", "lambda",
         "{", "}", "'{{'", "order", "SequentialTask", "cluster='c'", "role='r'", "environment='prod'"]
    ),
    max_size=40,
).map(" ".join)  # fmt: skip


@SETTINGS
@given(text=st.one_of(PYTHONISH, st.text(max_size=200)))
def test_random_text_is_a_config_error_or_a_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "random.aurora"
    path.write_text(text)
    outcome(path)


@SETTINGS
@given(document=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["jobs", "cluster", "role", "environment", "name", "task", "processes",
                         "resources", "cpu", "ram", "disk", "cmdline", "instances", "container",
                         "image", "update_config", "update_strategy", "batch_sizes"]),
        inner, max_size=5),
    max_leaves=20,
))  # fmt: skip
def test_random_json_is_a_config_error_or_a_config(tmp_path: Path, document: object) -> None:
    path = tmp_path / "random.json"
    path.write_bytes(msgspec.json.encode(document))
    try:
        load_config(path, read_json=True, limits=FAST)
    except ConfigError as error:
        assert str(error)


@settings(max_examples=40, deadline=None)
@given(args=st.lists(st.sampled_from(
    ["job", "inspect", "config", "list", "help", "--json", "--bind", "a=b", "=", "--read-json",
     "west/www/prod/app", "a/b", str(EXAMPLES / "hello_world.aurora"), str(EXAMPLES / "hello_world.json"),
     "devcluster/www-data/devel/hello_world", "--version", "-h", "nonexistent.aurora"]), max_size=6))  # fmt: skip
def test_no_command_line_shows_a_traceback(args: list[str]) -> None:
    result = run_cli(args)
    assert "Traceback" not in result.err + result.out
    assert result.code in (0, 3, 4, 5, 6)
