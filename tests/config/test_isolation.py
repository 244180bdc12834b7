"""Config evaluation in its own process: CPU time, not the wall clock, is limited; whatever a
config starts ends with it; what it prints stays off the command's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daybreak.config import Limits, load_config
from daybreak.errors import ConfigError
from daybreak.model.jobkey import parse_job_key
from tests.config.test_validation import job_with
from tests.conftest import KEY, run_cli


def test_an_endless_loop_is_stopped_by_its_cpu_time(write_config: Callable[..., Path]) -> None:
    path = write_config("while True:\n    pass\n")
    with pytest.raises(ConfigError, match=r"used more than 0.5 s of CPU time .* and was stopped"):
        load_config(path, limits=Limits(seconds=0.5))


def test_waiting_is_not_cpu_time(write_config: Callable[..., Path]) -> None:
    """A busy machine (here, a config that sleeps) does not make a config fail."""
    path = write_config("import time\ntime.sleep(1.5)\n" + job_with("instances = 2"))
    [entry] = load_config(path, limits=Limits(seconds=1))
    assert entry.spec is not None and entry.spec.instances == 2


def test_a_config_that_waits_forever_is_stopped_at_the_wall_limit(
    write_config: Callable[..., Path],
) -> None:
    path = write_config("import time\ntime.sleep(600)\n")
    with pytest.raises(ConfigError, match=r"or took 1 s in all\) and was stopped"):
        load_config(path, limits=Limits(seconds=5, wall_seconds=1))


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("ends", ["finishes", "loops"])
def test_what_a_config_starts_ends_with_it(
    write_config: Callable[..., Path], tmp_path: Path, ends: str
) -> None:
    pid_file = tmp_path / "spinner.pid"
    spin = (
        "import os, subprocess, sys\n"
        "spinner = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(spinner.pid))\n"
    )
    rest = "while True:\n    pass\n" if ends == "loops" else job_with("instances = 1")
    path = write_config(spin + rest)
    if ends == "loops":
        with pytest.raises(ConfigError, match="CPU time"):
            load_config(path, limits=Limits(seconds=1))
    else:
        assert load_config(path)[0].spec is not None
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid), f"the config's process {pid} outlived the evaluation"
    assert pid != os.getpid()


def test_print_in_a_config_stays_off_the_commands_output(
    write_config: Callable[..., Path],
) -> None:
    path = write_config(
        "import os\nprint('hello from the config', flush=True)\nos.system('echo and its child')\n"
        + job_with("instances = 2")
    )
    for args in (["config", "list", str(path)],
                 ["job", "inspect", "west/www/prod/app", str(path), "--json"]):  # fmt: skip
        # A real process: stdout is the file descriptor a script would read.
        done = subprocess.run(
            [sys.executable, "-m", "daybreak", *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "hello" not in done.stdout and "child" not in done.stdout
        assert "hello from the config" in done.stderr and "and its child" in done.stderr
    assert json.loads(done.stdout)["instances"] == 2


def test_a_job_missing_part_of_its_key_says_which(write_config: Callable[..., Path]) -> None:
    text = job_with("instances = 2").replace("environment = 'prod', ", "")
    path = write_config(text)
    [entry] = load_config(path)
    assert entry.key == "west/www/{MISSING}/app" and entry.spec is None
    [issue] = entry.issues
    assert str(issue) == (
        "Job.environment: required: a job's key is cluster/role/environment/name, and this job "
        "has no environment"
    )
    listed = run_cli(["config", "list", str(path)])
    assert listed.out == "west/www/{MISSING}/app\n"
    assert f"is invalid: {issue}" in listed.err
    inspected = run_cli(["job", "inspect", "west/www/prod/app", str(path)])
    assert "west/www/{MISSING}/app  (Job.environment: required" in inspected.err


def test_only_the_job_asked_for_is_converted(write_config: Callable[..., Path]) -> None:
    path = write_config(
        job_with("instances = 2") + "jobs.append(jobs[0](name = 'broken', instances = 0))\n"
    )
    everything = {entry.key: entry for entry in load_config(path)}
    assert everything["west/www/prod/broken"].issues  # checked when all are loaded
    asked = {entry.key: entry for entry in load_config(path, only=parse_job_key(KEY))}
    assert asked[KEY].spec is not None
    assert asked["west/www/prod/broken"].spec is None and not asked["west/www/prod/broken"].issues


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("def f(n):\n    return f(n + 1)\n\nf(0)\n", "job.aurora:2"),
        ("x = '1' + '+1' * 100000\ny = eval(x)\n", "job.aurora:2"),
    ],
    ids=["endless-recursion", "deep-expression"],
)
def test_recursion_too_deep_names_the_file_and_line(
    write_config: Callable[..., Path], text: str, where: str
) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError, match="recursion too deep") as caught:
        load_config(path)
    assert str(caught.value.issues[0].where).endswith(where)


def test_a_value_nested_too_deeply_is_refused_not_an_internal_error(
    write_config: Callable[..., Path],
) -> None:
    deep = "deep = 'x'\nfor i in range(3000):\n    deep = {'a': deep}\n"
    path = write_config(deep + job_with("task_links = deep"))
    [entry] = load_config(path)
    assert [str(issue) for issue in entry.issues] == [
        "Job: nested too deeply to check (a value that contains itself?)"
    ]
