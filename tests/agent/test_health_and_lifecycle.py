"""Health checks and the lifecycle escalation against a real service in a real task."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import msgspec
import pytest

from daybreak.model.jobspec import (
    HealthCheck,
    HealthChecker,
    HttpHealthChecker,
    HttpLifecycle,
    JobSpec,
    Lifecycle,
    Process,
    Resources,
    ShellHealthChecker,
)
from daybreak.model.task_state import TaskState
from tests.agent.conftest import AgentProcess, job, wait_for_file
from tests.agent.fake_scheduler import FakeScheduler

SERVICE = Path(__file__).parent / "programs" / "service.py"
ROOMY = Resources(cpu=1, ram_mb=256, disk_mb=64)
QUICK_LIFECYCLE = Lifecycle(http=HttpLifecycle(graceful_shutdown_wait_secs=1, shutdown_wait_secs=1))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service(
    checker: HealthChecker | None = None,
    before: str = "",
    lifecycle: Lifecycle = QUICK_LIFECYCLE,
    **health: float,
) -> JobSpec:
    """The test service as a task's only process, checked every 100 ms unless told."""
    command = f"{before}exec {sys.executable} {SERVICE}"
    # A whole core: under a cgroup cpu quota, Python's start-up at 0.1 cores takes seconds.
    spec = job(Process(name="service", cmdline=command), finalization_wait=5, resources=ROOMY)
    check = HealthCheck(
        checker=checker or HttpHealthChecker(),
        initial_interval_secs=health.pop("initial_interval_secs", 1.0),
        interval_secs=health.pop("interval_secs", 0.1),
        **health,  # type: ignore[arg-type]
    )
    return msgspec.structs.replace(spec, health_check=check, lifecycle=lifecycle)


def launch(scheduler: FakeScheduler, task_id: str, spec: JobSpec) -> None:
    scheduler.launch(task_id, spec, ports={"health": free_port()})


def test_a_task_is_running_only_once_its_health_check_passes(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-healthy"
    launch(scheduler, task_id, service(before="sleep 0.5; "))
    running = scheduler.wait_for_state(task_id, TaskState.RUNNING)
    listening = float(wait_for_file(agent.task_dir(task_id) / "sandbox" / "listening"))
    assert running.timestamp_ms >= listening * 1000
    assert scheduler.states(task_id) == [TaskState.STARTING, TaskState.RUNNING]


def test_a_task_that_never_answers_as_expected_fails_with_the_reason(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-sick"
    launch(scheduler, task_id, service(HttpHealthChecker(expected_response="fine")))
    failed = scheduler.wait_for_state(task_id, TaskState.FAILED)
    assert failed.message == (
        "Failed health check! Not enough successful health checks in time. Last check: "
        'Response differs from expected response (expected "fine", got "ok")'
    )
    assert TaskState.RUNNING not in scheduler.states(task_id)
    # The service was asked to stop through its lifecycle endpoints before any signal.
    log = (agent.task_dir(task_id) / "sandbox" / "lifecycle.log").read_text().split()
    assert log == ["quitquitquit", "abortabortabort", "SIGTERM"]


def test_a_health_check_that_takes_too_long_counts_as_failed(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-slow"
    launch(scheduler, task_id, service(before="echo 2 > hang; ", timeout_secs=0.2))
    failed = scheduler.wait_for_state(task_id, TaskState.FAILED)
    assert failed.message is not None
    assert failed.message.endswith("/health timed out after 0.2s")


def test_a_healthy_task_that_turns_unhealthy_is_killed_as_failed(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-turns"
    launch(scheduler, task_id, service(max_consecutive_failures=2))
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    (agent.task_dir(task_id) / "sandbox" / "health_body").write_text("gone bad")
    failed = scheduler.wait_for_state(task_id, TaskState.FAILED)
    assert failed.message == (
        'Failed health check! Response differs from expected response (expected "ok", '
        'got "gone bad")'
    )


def test_a_snoozed_task_is_not_checked(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-snooze"
    command = "touch .healthchecksnooze; sleep 600"
    spec = service(ShellHealthChecker(shell_command="false"))
    spec = msgspec.structs.replace(
        spec, task=msgspec.structs.replace(spec.task, processes=(
            Process(name="quiet", cmdline=command),
        )),
    )  # fmt: skip
    scheduler.launch(task_id, spec)
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    (agent.task_dir(task_id) / "sandbox" / ".healthchecksnooze").unlink()
    failed = scheduler.wait_for_state(task_id, TaskState.FAILED)
    assert failed.message == "Failed health check! Shell health check exited with status 1: false"


@pytest.mark.parametrize(
    ("obey", "expected_log"),
    [
        ("quitquitquit", ["quitquitquit"]),
        ("abortabortabort", ["quitquitquit", "abortabortabort"]),
        ("", ["quitquitquit", "abortabortabort", "SIGTERM"]),
    ],
)
def test_kill_escalates_through_the_lifecycle_endpoints_and_stops_when_the_service_does(
    scheduler: FakeScheduler,
    agent: AgentProcess,
    task_prefix: str,
    obey: str,
    expected_log: list[str],
) -> None:
    task_id = f"{task_prefix}-lifecycle-{obey or 'deaf'}"
    launch(scheduler, task_id, service(before=f"echo '{obey}' > obey; "))
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    scheduler.kill(task_id, "Killed by alice")
    killed = scheduler.wait_for_state(task_id, TaskState.KILLED)
    assert killed.message == "Killed by alice"
    log = (agent.task_dir(task_id) / "sandbox" / "lifecycle.log").read_text().split()
    assert log == expected_log


def test_a_shell_health_check_runs_in_the_sandbox_with_the_task_environment(
    scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str
) -> None:
    task_id = f"{task_prefix}-shell"
    spec = service(
        ShellHealthChecker(shell_command='test -f listening && test -n "$DAYBREAK_PORT_HEALTH"'),
        before="sleep 0.3; ",
        lifecycle=Lifecycle(http=None),
    )
    launch(scheduler, task_id, spec)
    running = scheduler.wait_for_state(task_id, TaskState.RUNNING)
    listening = float(wait_for_file(agent.task_dir(task_id) / "sandbox" / "listening"))
    assert running.timestamp_ms >= listening * 1000
    scheduler.kill(task_id)
    scheduler.wait_for_state(task_id, TaskState.KILLED)
    log = (agent.task_dir(task_id) / "sandbox" / "lifecycle.log").read_text().split()
    assert log == ["SIGTERM"]  # lifecycle turned off: straight to the signal
