"""`daybreak task logs` against a real scheduler and agent: a process's output and error of its
latest run through the scheduler's task API, followed as it grows, and the output of a run that
failed once its instance has moved on."""

from __future__ import annotations

import os
import subprocess
import sys

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import LocalCluster, sqlite_only, wait_for
from tests.conftest import run_cli

WRITES = "for i in 1 2 3; do echo out-$i; echo err-$i >&2; done; sleep 600"
TICKING = "for i in $(seq 1 100000); do echo tick-$i; sleep 0.2; done"


@sqlite_only
def test_logs_print_and_follow_a_process_output(cli_cluster: LocalCluster) -> None:
    spec = cli_cluster.job("writer", instances=1, cmdline=WRITES, service=True)
    assert cli_cluster.create(spec).status_code == 201
    cli_cluster.wait_for_states(spec.key, TaskState.RUNNING, 1)
    key = f"{spec.key}/0"

    def printed(*args: str) -> list[str]:
        def complete() -> list[str] | None:  # the process may not have written it all yet
            done = run_cli(["task", "logs", key, *args])
            assert done.code == 0, done.err
            return done.out.split() if done.out.count("-") >= 3 else None

        return wait_for(complete, f"the output of {key}")  # type: ignore[no-any-return]

    assert printed() == ["out-1", "out-2", "out-3"]
    assert printed("--stderr") == ["err-1", "err-2", "err-3"]
    assert printed("main", "--stderr") == ["err-1", "err-2", "err-3"]
    unknown = run_cli(["task", "logs", key, "nope"])
    assert unknown.code != 0 and "nope" in unknown.err
    several = run_cli(["task", "logs", str(spec.key)])
    assert several.code != 0 and "name one instance" in several.err

    ticking = cli_cluster.job("ticking", instances=1, cmdline=TICKING, service=True)
    assert cli_cluster.create(ticking).status_code == 201
    cli_cluster.wait_for_states(ticking.key, TaskState.RUNNING, 1)
    command = [sys.executable, "-m", "daybreak", "task", "logs", f"{ticking.key}/0", "--follow"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          env=dict(os.environ)) as follower:  # fmt: skip
        try:
            assert follower.stdout is not None
            seen = []
            for line in follower.stdout:
                seen.append(line.strip())
                if len(seen) == 5:
                    break
        finally:
            follower.kill()
    # The whole output from the start, then what was written since, in order.
    assert seen == [f"tick-{n}" for n in range(1, 6)]


@sqlite_only
def test_logs_of_a_failed_run(cli_cluster: LocalCluster) -> None:
    spec = cli_cluster.job("doomed", instances=1, cmdline="echo 'no config found' >&2; exit 2")
    assert cli_cluster.create(spec).status_code == 201
    cli_cluster.wait_for_states(spec.key, TaskState.FAILED, 1)
    shown = run_cli(["task", "logs", f"{spec.key}/0", "--stderr"])
    assert shown.code == 0, shown.err
    assert shown.out == "no config found\n"
