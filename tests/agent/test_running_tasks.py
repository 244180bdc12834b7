"""The agent runs tasks the way Thermos did: real processes, real sandboxes, real signals."""

from __future__ import annotations

import time

import psutil

from daybreak.agent.executor.checkpoint import read_checkpoint
from daybreak.agent.executor.tree import ProcessTable
from daybreak.model.jobspec import Logger, Process, RotatePolicy
from daybreak.model.task_state import TaskState
from tests.agent.conftest import ESCAPE, AgentFactory, AgentProcess, job, wait_for_file
from tests.agent.fake_scheduler import WAIT_S, FakeScheduler


def test_ordered_processes_run_one_after_another_and_the_task_finishes(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-order"
    spec = job(
        Process(name="second", cmdline="echo second >> order"),
        Process(name="first", cmdline="sleep 0.2; echo 'first on {{mesos.hostname}}' >> order"),
        orders=(("first", "second"),),
    )
    scheduler.launch(task_id, spec)
    scheduler.wait_for_state(task_id, TaskState.FINISHED)
    # Running as soon as it is launched: the agent does not say STARTING first.
    assert scheduler.states(task_id) == [TaskState.RUNNING, TaskState.FINISHED]
    sandbox = agent.task_dir(task_id) / "sandbox"
    assert (sandbox / "order").read_text() == "first on agent-test\nsecond\n"


def test_max_concurrency_keeps_processes_apart(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-one-at-a-time"
    step = "echo start >> log; sleep 0.1; echo end >> log"
    spec = job(*(Process(name=f"p{i}", cmdline=step) for i in range(3)), max_concurrency=1)
    scheduler.launch(task_id, spec)
    scheduler.wait_for_state(task_id, TaskState.FINISHED)
    lines = (agent.task_dir(task_id) / "sandbox" / "log").read_text().split()
    assert lines == ["start", "end"] * 3


def test_a_failing_process_is_retried_up_to_its_limit_then_fails_the_task(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-fails"
    spec = job(
        Process(name="flaky", cmdline="echo try >> tries; exit 3", max_failures=2, min_duration=0)
    )
    scheduler.launch(task_id, spec)
    failed = scheduler.wait_for_state(task_id, TaskState.FAILED)
    assert failed.message == "Process 'flaky' failed 2 time(s); last run exit status 3"
    assert (agent.task_dir(task_id) / "sandbox" / "tries").read_text() == "try\ntry\n"
    view = read_checkpoint(agent.task_dir(task_id) / "checkpoint")
    assert [run.exit_code for run in view.processes["flaky"]] == [3, 3]


def test_daemon_ephemeral_and_final_processes(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    """The classic sidecar shape: a daemon ticks, an ephemeral one idles, neither holds the
    task open; when the main process is done, both are stopped and the final one runs."""
    task_id = f"{task_prefix}-shapes"
    spec = job(
        Process(name="main", cmdline="until [ $(wc -l < ticks) -ge 3 ]; do sleep 0.02; done"),
        Process(
            name="ticker", cmdline="echo tick >> ticks", daemon=True, ephemeral=True, min_duration=0
        ),
        Process(name="idler", cmdline="echo $$ > idler.pid; exec sleep 1000", ephemeral=True),
        Process(name="cleanup", cmdline="echo done > final.txt", final=True),
    )
    scheduler.launch(task_id, spec)
    scheduler.wait_for_state(task_id, TaskState.FINISHED)
    sandbox = agent.task_dir(task_id) / "sandbox"
    assert (sandbox / "final.txt").read_text() == "done\n"
    assert len((sandbox / "ticks").read_text().split()) >= 3
    assert not psutil.pid_exists(int((sandbox / "idler.pid").read_text()))


def test_kill_stops_the_processes_runs_final_ones_and_reports_killed(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-kill"
    spec = job(
        Process(
            name="server",
            cmdline="trap 'echo bye; exit 0' TERM; echo up > ready; while :; do sleep 0.05; done",
        ),
        Process(name="goodbye", cmdline="echo final >> final.txt", final=True),
    )
    scheduler.launch(task_id, spec)
    wait_for_file(agent.task_dir(task_id) / "sandbox" / "ready")  # its trap is set
    scheduler.kill(task_id, "Killed by alice")
    killed = scheduler.wait_for_state(task_id, TaskState.KILLED)
    assert killed.message == "Killed by alice"
    root = agent.task_dir(task_id)
    assert (root / ".logs" / "server" / "0" / "stdout").read_text() == "bye\n"
    assert (root / "sandbox" / "final.txt").read_text() == "final\n"


def test_a_process_that_daemonises_itself_still_dies_with_the_task(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-escape"
    scheduler.launch(task_id, job(Process(name="forks", cmdline=ESCAPE)))
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    daemon = psutil.Process(int(wait_for_file(agent.task_dir(task_id) / "sandbox" / "daemon.pid")))
    assert daemon.ppid() != 0
    scheduler.kill(task_id)
    scheduler.wait_for_state(task_id, TaskState.KILLED)
    daemon.wait(WAIT_S)  # raises if it outlives the deadline


def test_a_plain_command_runs_without_bash_and_one_with_shell_syntax_in_bash(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    plain, shell = f"{task_prefix}-plain", f"{task_prefix}-shell"
    scheduler.launch(plain, job(Process(name="p", cmdline="sleep 600")))
    scheduler.launch(shell, job(Process(name="p", cmdline="exec sleep 601")))
    scheduler.wait_for_state(plain, TaskState.RUNNING)
    scheduler.wait_for_state(shell, TaskState.RUNNING)

    def command_environment(task_id: str, cmdline: list[str]) -> dict[str, str]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for pid in ProcessTable.scan().by_task.get(task_id, ()):
                process = psutil.Process(pid)
                if process.cmdline() == cmdline:
                    return dict(process.environ())
            time.sleep(0.05)
        raise AssertionError(f"no {cmdline} in {task_id}")

    # bash sets SHLVL for what it runs; the waiter, a plain POSIX shell, does not.
    assert "SHLVL" not in command_environment(plain, ["sleep", "600"])
    assert "SHLVL" in command_environment(shell, ["sleep", "601"])
    for task_id in (plain, shell):
        scheduler.kill(task_id)
        scheduler.wait_for_state(task_id, TaskState.KILLED)


def test_without_cgroups_a_daemonised_process_is_the_agents_to_find_kill_and_reap(
    scheduler: FakeScheduler, start_agent: AgentFactory, task_prefix: str
) -> None:
    agent = start_agent("--no-cgroups")
    assert agent.process is not None
    task_id = f"{task_prefix}-escape-nocg"
    scheduler.launch(task_id, job(Process(name="forks", cmdline=ESCAPE)))
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    daemon = psutil.Process(int(wait_for_file(agent.task_dir(task_id) / "sandbox" / "daemon.pid")))
    assert daemon.ppid() == agent.process.pid  # adopted, not handed to init
    scheduler.kill(task_id)
    scheduler.wait_for_state(task_id, TaskState.KILLED)
    daemon.wait(WAIT_S)  # raises if it outlives the deadline, or stays a zombie


def test_a_kill_right_after_the_launch_still_reaches_the_command(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    """SIGTERM can land between a waiter's fork and its command's exec, where it is lost;
    the young run gets it again rather than living on until finalization_wait (30 s)."""
    task_ids = [f"{task_prefix}-hasty-{n}" for n in range(24)]
    for n, task_id in enumerate(task_ids):
        scheduler.launch(task_id, job(Process(name="p", cmdline="sleep 600")))
        # Not waiting for anything: the kill is meant to land at different moments of the
        # run's start, from at once to a few milliseconds in.
        time.sleep(n * 0.0005)
        scheduler.kill(task_id)
    for task_id in task_ids:
        scheduler.wait_for_state(task_id, TaskState.KILLED)


def test_a_both_logger_writes_file_and_console_and_rotate_keeps_the_file_small(
    scheduler: FakeScheduler, start_agent: AgentFactory, task_prefix: str
) -> None:
    agent = start_agent("--usage-interval", "100ms")
    task_id = f"{task_prefix}-logs"
    logger = Logger(destination="both", mode="rotate", rotate=RotatePolicy(log_size=200, backups=1))
    command = "for i in $(seq 1 60); do echo line-$i; echo oops-$i >&2; done; sleep 600"
    scheduler.launch(task_id, job(Process(name="p", cmdline=command, logger=logger)))
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    root = agent.task_dir(task_id)
    console = wait_for_file(root / "stdout")
    wait_for_file(root / ".logs" / "p" / "0" / "stdout.1")
    rotated = (root / ".logs" / "p" / "0" / "stdout.1").read_text()
    assert "line-1\n" in rotated and "line-1\n" in console
    assert "oops-1\n" in wait_for_file(root / "stderr")
