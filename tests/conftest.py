from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import pytest

from daybreak.main import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


class CliResult(NamedTuple):
    code: int
    out: str
    err: str


def run_cli(args: Sequence[str]) -> CliResult:
    """Run the real entry point in-process, as a user would, capturing what it prints."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as done:
            code = int(done.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "job.aurora") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


# A valid job to vary in tests: `MINIMAL_JOB.format(extra=...)` adds Job fields.
MINIMAL_JOB = """
task = Task(
  name = 'main',
  processes = [Process(name = 'main', cmdline = 'sleep 60')],
  resources = Resources(cpu = 1, ram = 64*MB, disk = 64*MB))
jobs = [Job(cluster = 'west', role = 'www', environment = 'prod', name = 'app', task = task,
            {extra})]
"""
KEY = "west/www/prod/app"
