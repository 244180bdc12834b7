"""`daybreak task run`, `task ssh` and `task scp`: a command, a shell, or files copied, in tasks'
sandboxes.

A sandbox on this machine is entered directly; on another it is reached through `ssh` (`scp`),
as Aurora's client did. A task that runs in an image is entered in its container (`runc exec`,
which takes root on the task's machine). Commands may use Aurora's templates: `{{mesos.instance}}`,
`{{mesos.hostname}}`, `{{thermos.task_id}}` and `{{thermos.ports[NAME]}}`.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

import click

from daybreak.client.completion_commands import complete_job_key
from daybreak.client.connect import client_for
from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model.agent import CONTAINERS_DIR, SANDBOX_MOUNT
from daybreak.model.api import JobStatus, TaskSummary
from daybreak.model.jobkey import parse_instance_key
from daybreak.model.jobspec import image_reference
from daybreak.model.task_state import TaskState

EXECUTOR_SANDBOX = click.option(
    "--executor-sandbox",
    is_flag=True,
    help="Work in the directory above the sandbox: the task's logs (.logs) and checkpoint.",
)
TEMPLATE = re.compile(r"\{\{\s*(mesos\.instance|mesos\.hostname|thermos\.task_id|"
                      r"thermos\.ports\[(\w+)\])\s*\}\}")  # fmt: skip


@click.group()
def task() -> None:
    """Run commands in the sandboxes of a job's tasks."""


def bind_command(command: str, task: TaskSummary) -> str:
    """Fill Aurora's templates in `command` with this task's values."""

    def value(match: re.Match[str]) -> str:
        name, port = match[1], match[2]
        if port is not None:
            if port not in task.ports:
                known = ", ".join(sorted(task.ports)) or "none"
                raise InvalidParameterError(f"task {task.task_id} has no port {port!r} ({known})")
            return str(task.ports[port])
        return {"mesos.instance": str(task.instance), "mesos.hostname": task.hostname or "",
                "thermos.task_id": task.task_id}[name]  # fmt: skip

    return TEMPLATE.sub(value, command)


@functools.cache
def _local_names() -> frozenset[str]:
    return frozenset({"", "localhost", "127.0.0.1", socket.getfqdn(), socket.gethostname()})


def is_local(address: str | None) -> bool:
    return address is None or address in _local_names()


def working_directory(task: TaskSummary, executor_sandbox: bool) -> str:
    """The task's sandbox, or with `executor_sandbox` the directory above it, where its logs
    (`.logs`) and checkpoint are (Aurora's `--executor-sandbox`)."""
    assert task.sandbox is not None
    return str(PurePosixPath(task.sandbox).parent) if executor_sandbox else task.sandbox


def in_container(task: TaskSummary, command: str, tty: bool, executor_sandbox: bool) -> list[str]:
    """What runs `command` in the task's container, in its sandbox (`daybreak.agent.containers`:
    runc's state is under the agent's work directory, the container named by the task)."""
    assert task.sandbox is not None
    runtime_root = str(PurePosixPath(task.sandbox).parents[2] / CONTAINERS_DIR)
    terminal = ["-t"] if tty else []
    cwd = SANDBOX_MOUNT if executor_sandbox else f"{SANDBOX_MOUNT}/sandbox"
    return ["runc", "--root", runtime_root, "exec", *terminal, "--cwd", cwd,
            task.task_id, "/bin/sh", "-c", command]  # fmt: skip


def command_line(
    task: TaskSummary,
    command: str,
    ssh_user: str | None,
    tty: bool,
    *,
    in_image: bool = False,
    executor_sandbox: bool = False,
) -> list[str]:
    """What runs `command` in the task's sandbox (inside its image, if it runs in one): a local
    shell, or ssh to its machine."""
    if in_image:
        entered = in_container(task, command, tty, executor_sandbox)
        if is_local(task.address):
            return entered
        target = f"{ssh_user}@{task.address}" if ssh_user else str(task.address)
        return ["ssh", *(["-t"] if tty else []), target, shlex.join(entered)]
    if is_local(task.address):
        return ["/bin/sh", "-c", command]
    remote = f"cd {shlex.quote(working_directory(task, executor_sandbox))} && {command}"
    target = f"{ssh_user}@{task.address}" if ssh_user else str(task.address)
    return ["ssh", *(["-t"] if tty else []), target, remote]


def running_tasks(instance_key: str) -> tuple[bool, list[TaskSummary]]:
    """Whether the job runs in an image, and its RUNNING instances (of `instance_key`'s)."""
    key, instances = parse_instance_key(instance_key)
    with client_for(key.cluster) as client:
        status = client.call("GET", f"/jobs/{key}", JobStatus)
    chosen = [
        t for t in status.active
        if t.state is TaskState.RUNNING and (instances is None or t.instance in instances)
    ]  # fmt: skip
    if not chosen:
        which = "" if instances is None else f" among instances {instance_key.rsplit('/', 1)[1]}"
        raise InvalidParameterError(
            f"{key} has no RUNNING task{which}; `daybreak job status {key}`"
        )
    for found in chosen:
        if found.sandbox is None:
            raise DaybreakError(f"the agent of {found.task_id} did not say where its sandboxes are")
    in_image = status.spec is not None and image_reference(status.spec.container) is not None
    return in_image, chosen


@task.command("run")
@click.argument(
    "instance_key", metavar="CLUSTER/ROLE/ENV/NAME[/INSTANCES]", shell_complete=complete_job_key
)
@click.argument("command", nargs=-1, required=True)
@click.option(
    "-t",
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Instances run at once.",
)
@click.option("-l", "--ssh-user", help="User for ssh to other machines [yours].")
@EXECUTOR_SANDBOX
def task_run(
    instance_key: str,
    command: Sequence[str],
    threads: int,
    ssh_user: str | None,
    executor_sandbox: bool,
) -> None:
    """Run COMMAND in the sandbox of each RUNNING instance; print each output line as
    HOST[INSTANCE]: LINE. Fails if the command fails anywhere."""
    in_image, tasks = running_tasks(instance_key)
    text = " ".join(command)

    def run(found: TaskSummary) -> tuple[TaskSummary, int, str]:
        line = command_line(found, bind_command(text, found), ssh_user, False,
                            in_image=in_image, executor_sandbox=executor_sandbox)  # fmt: skip
        cwd = working_directory(found, executor_sandbox) if is_local(found.address) else None
        done = subprocess.run(line, cwd=cwd, capture_output=True, text=True, check=False)
        return found, done.returncode, done.stdout + done.stderr

    failed = []
    with ThreadPoolExecutor(threads) as pool:
        for found, code, output in pool.map(run, sorted(tasks, key=lambda t: t.instance)):
            for line in output.splitlines():
                click.echo(f"{found.hostname}[{found.instance}]: {line}")
            if code != 0:
                failed.append(f"{found.instance} (exit {code})")
    if failed:
        raise DaybreakError(f"the command failed on instance(s) {', '.join(failed)}")


@task.command("ssh")
@click.argument(
    "instance_key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCE", shell_complete=complete_job_key
)
@click.option("-c", "--command", help="Run this instead of an interactive shell.")
@click.option("-l", "--ssh-user", help="User for ssh to other machines [yours].")
@EXECUTOR_SANDBOX
def task_ssh(
    instance_key: str, command: str | None, ssh_user: str | None, executor_sandbox: bool
) -> None:
    """Open a shell in one instance's sandbox (through ssh when it runs elsewhere)."""
    _, instances = parse_instance_key(instance_key)
    if instances is None or len(instances) != 1:
        raise click.UsageError("name one instance: CLUSTER/ROLE/ENV/NAME/INSTANCE")
    in_image, (found,) = running_tasks(instance_key)
    shell = "/bin/sh" if in_image else os.environ.get("SHELL", "/bin/sh")
    line = command_line(found, bind_command(command, found) if command else f"exec {shell}",
                        ssh_user, command is None, in_image=in_image,
                        executor_sandbox=executor_sandbox)  # fmt: skip
    sys.stdout.flush()
    if is_local(found.address):
        os.chdir(working_directory(found, executor_sandbox))
    if command is not None:
        # Not replacing this process, so that the exit status reaches the caller as ours.
        sys.exit(subprocess.run(line, check=False).returncode)
    os.execvp(line[0], line)


# `CLUSTER/ROLE/ENV/NAME/INSTANCE:PATH`: a path in one instance's sandbox.
TASK_PATH = re.compile(r"^(?P<task>[^/:\s]+/[^/:\s]+/[^/:\s]+/[^/:\s]+/\d+):(?P<path>.*)$")


def scp_endpoint(argument: str, ssh_user: str | None, executor_sandbox: bool) -> str:
    """An argument of `task scp` as scp takes it: a task's path becomes the path in its sandbox,
    on its machine; anything else is left as it is."""
    matched = TASK_PATH.match(argument)
    if matched is None:
        return argument
    path = matched["path"]
    if path.startswith("~"):
        raise InvalidParameterError(
            f"{argument}: `~` means nothing in a sandbox; name a path in it"
        )
    in_image, (found,) = running_tasks(matched["task"])
    if in_image and path.startswith("/"):
        raise InvalidParameterError(
            f"{argument}: the task runs in an image, whose files are not the machine's: name a "
            f"path in its sandbox"
        )
    base = working_directory(found, executor_sandbox)
    located = path if path.startswith("/") else str(PurePosixPath(base) / path)
    if is_local(found.address):
        return located
    return f"{ssh_user}@{found.address}:{located}" if ssh_user else f"{found.address}:{located}"


@task.command("scp")
@click.argument("paths", metavar="[CLUSTER/ROLE/ENV/NAME/INSTANCE:]SRC... [..:]DEST", nargs=-1,
                required=True)  # fmt: skip
@click.option("--scp-options", default="", help='More for scp, as one string ("-r -p").')
@click.option("-l", "--ssh-user", help="User for ssh to other machines [yours].")
@EXECUTOR_SANDBOX
def task_scp(
    paths: Sequence[str], scp_options: str, ssh_user: str | None, executor_sandbox: bool
) -> None:
    """Copy files to, from or between tasks' sandboxes, with scp: a path after
    CLUSTER/ROLE/ENV/NAME/INSTANCE: is in that instance's sandbox (relative), or on its machine
    (absolute); other paths are this machine's."""
    if len(paths) < 2:
        raise click.UsageError("name what to copy and where: SRC... DEST")
    endpoints = [scp_endpoint(path, ssh_user, executor_sandbox) for path in paths]
    line = ["scp", *shlex.split(scp_options), *endpoints]
    sys.exit(subprocess.run(line, check=False).returncode)
