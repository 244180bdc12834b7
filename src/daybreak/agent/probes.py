"""The agent's conversations with a task's own code: health checks and lifecycle endpoints.

HTTP goes to `localhost` on the port the task was given, as Aurora's executor did; a shell
check runs `bash -c COMMAND` in the sandbox as the task's user, with the task's environment,
and whatever it starts is killed when it runs out of time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import httpx

from daybreak.agent.executor.orphans import AGENT_CHILDREN
from daybreak.agent.executor.processes import BASH, Launcher
from daybreak.model.jobspec import HealthChecker, HttpHealthChecker, HttpLifecycle, TaskInstance

# What a check found: healthy or not, and why not.
CheckResult = tuple[bool, str | None]
LIFECYCLE_REQUEST_TIMEOUT_S = 1.0
SNOOZE_FILE = ".healthchecksnooze"


def health_port(task: TaskInstance) -> int | None:
    return task.ports.get("health")


def has_health_check(task: TaskInstance) -> bool:
    # An HTTP check needs a `health` port, as in Aurora; without one there is no check.
    checker = task.health_check.checker
    return not isinstance(checker, HttpHealthChecker) or health_port(task) is not None


def lifecycle_of(task: TaskInstance) -> tuple[HttpLifecycle, int] | None:
    """The lifecycle endpoints to call before signalling, when the task has their port."""
    http = task.lifecycle.http
    if http is None or http.port not in task.ports:
        return None
    return http, task.ports[http.port]


def lifecycle_grace_ms(http: HttpLifecycle) -> int:
    """The longest the lifecycle escalation may take: two requests and their waits."""
    waits_s = http.graceful_shutdown_wait_secs + http.shutdown_wait_secs
    return round((waits_s + 2 * LIFECYCLE_REQUEST_TIMEOUT_S) * 1000)


async def run_check(
    checker: HealthChecker,
    timeout_s: float,
    client: httpx.AsyncClient,
    launcher: Launcher,
    health_port: int | None,
) -> CheckResult:
    if isinstance(checker, HttpHealthChecker):
        assert health_port is not None
        return await http_check(client, health_port, checker, timeout_s)
    return await shell_check(checker.shell_command, launcher, timeout_s)


async def http_check(
    client: httpx.AsyncClient, port: int, checker: HttpHealthChecker, timeout_s: float
) -> CheckResult:
    url = f"http://localhost:{port}{checker.endpoint}"
    try:
        response = await client.get(url, timeout=timeout_s)
    except httpx.TimeoutException:
        return False, f"Health check of {url} timed out after {timeout_s:g}s"
    except httpx.HTTPError as error:
        return False, f"Health check of {url} failed: {error or type(error).__name__}"
    if checker.expected_response_code:
        if response.status_code == checker.expected_response_code:
            return True, None
        return False, (
            f"Health check of {url} answered {response.status_code}, "
            f"expected {checker.expected_response_code}"
        )
    if response.is_error:
        return False, f"Health check of {url} answered {response.status_code}"
    body = response.text.strip()
    if body.lower() == checker.expected_response.strip().lower():
        return True, None
    return False, (
        f'Response differs from expected response (expected "{checker.expected_response}", '
        f'got "{body[:200]}")'
    )


async def shell_check(command: str, launcher: Launcher, timeout_s: float) -> CheckResult:
    account = launcher.account
    argv = [BASH, "-c", command]
    if launcher.container is not None:  # in the task's image, entered as root
        argv, account = launcher.in_container(command), None
    with AGENT_CHILDREN.starting() as register:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=launcher.paths.sandbox,
            env=launcher.environment,
            start_new_session=True,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
        )
        register(process.pid)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return False, f"Shell health check timed out after {timeout_s:g}s: {command}"
    finally:
        # A check that backgrounded something must not leave it behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.returncode is not None:  # reaped by asyncio (a cancelled check may not be)
            AGENT_CHILDREN.forget(process.pid)
    if process.returncode == 0:
        return True, None
    detail = stderr.decode(errors="replace").strip().splitlines()
    return False, (
        f"Shell health check exited with status {process.returncode}: {command}"
        + (f" ({detail[-1][:200]})" if detail else "")
    )


async def post_lifecycle(client: httpx.AsyncClient, port: int, endpoint: str) -> bool:
    """POST a lifecycle endpoint; True when the task took the request."""
    try:
        response = await client.post(
            f"http://localhost:{port}{endpoint}", timeout=LIFECYCLE_REQUEST_TIMEOUT_S
        )
    except httpx.HTTPError:
        return False
    return not response.is_error


async def ask_to_stop(
    client: httpx.AsyncClient, port: int, lifecycle: HttpLifecycle, stopped: asyncio.Event
) -> None:
    """Aurora's lifecycle escalation: POST the graceful endpoint and wait for the task to stop,
    then the shutdown endpoint and wait again. An endpoint that does not answer is skipped;
    the waiting ends as soon as `stopped` is set."""
    for endpoint, wait_s in (
        (lifecycle.graceful_shutdown_endpoint, lifecycle.graceful_shutdown_wait_secs),
        (lifecycle.shutdown_endpoint, lifecycle.shutdown_wait_secs),
    ):
        if stopped.is_set():
            return
        if not await post_lifecycle(client, port, endpoint):
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), wait_s)
