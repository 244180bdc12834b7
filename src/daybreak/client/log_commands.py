"""`daybreak task logs`: a task's output through the scheduler's task API, from any machine
that reaches the scheduler (no ssh, no shared filesystem), and followed as it grows."""

from __future__ import annotations

import codecs

import click
import msgspec

from daybreak.client.api_client import ApiClient
from daybreak.client.completion_commands import complete_job_key
from daybreak.client.connect import client_for
from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model.api import JobStatus, OutputChunk, SandboxListing, TaskSummary, process_log
from daybreak.model.jobkey import parse_instance_key
from daybreak.model.task import log_process

CHUNK_BYTES = 256 * 1024


def _task_of(status: JobStatus, instance: int) -> TaskSummary:
    """The instance's task placed on an agent now, else its newest that was."""
    placed = [t for t in status.active if t.instance == instance and t.agent_id is not None]
    if placed:
        return placed[0]
    ended = [t for t in status.finished if t.instance == instance and t.agent_id is not None]
    if not ended:
        raise InvalidParameterError(
            f"instance {instance} of {status.key} has not run on an agent yet; "
            f"`daybreak job status {status.key}` says why"
        )
    return max(ended, key=lambda t: t.events[-1].timestamp_ms if t.events else 0)


def _process_of(task: TaskSummary, status: JobStatus) -> str:
    """The process that failed, else the job's first."""
    process = log_process(task.events, status.spec)
    if process is None:
        raise InvalidParameterError(f"name the process of task {task.task_id}")
    return process


def _print_all(client: ApiClient, task_id: str, path: str) -> None:
    # A chunk may end inside a character: decoded across chunks, as the follower's are.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = 0
    while True:
        params = {"path": path, "offset": str(offset), "length": str(CHUNK_BYTES)}
        chunk = client.call("GET", f"/tasks/{task_id}/file", bytes, params=params, raw=True)
        if not chunk:
            click.echo(decoder.decode(b"", final=True), nl=False)
            return
        click.echo(decoder.decode(chunk), nl=False)
        offset += len(chunk)


def _follow(client: ApiClient, task_id: str, path: str) -> None:
    events = client.events(f"/tasks/{task_id}/file/follow", {"path": path, "offset": "0"})
    for event in events:
        if event.event == "output":
            click.echo(msgspec.json.decode(event.data, type=OutputChunk).text, nl=False)
        elif event.event == "failed":
            raise DaybreakError(f"following {path} of task {task_id} ended: {event.data}")


@click.command("logs")
@click.argument(
    "instance_key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCE", shell_complete=complete_job_key
)
@click.argument("process", required=False)
@click.option("--stderr", is_flag=True, help="Standard error instead of standard output.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing what the process writes.")
def task_logs(instance_key: str, process: str | None, stderr: bool, follow: bool) -> None:
    """Print a process's output of its latest run: the instance's task on an agent now, else
    its last one. PROCESS defaults to the one that failed, else the first."""
    key, instances = parse_instance_key(instance_key)
    if instances is None or len(instances) != 1:
        raise click.UsageError("name one instance: CLUSTER/ROLE/ENV/NAME/INSTANCE")
    with client_for(key.cluster) as client:
        status = client.call("GET", f"/jobs/{key}", JobStatus)
        task = _task_of(status, instances[0])
        name = process or _process_of(task, status)
        runs = client.call("GET", f"/tasks/{task.task_id}/files", SandboxListing,
                           params={"path": f".logs/{name}"})  # fmt: skip
        run = runs.latest_run()
        if run is None:
            raise InvalidParameterError(f"process {name!r} of task {task.task_id} has not run")
        path = process_log(name, run, "stderr" if stderr else "stdout")
        (_follow if follow else _print_all)(client, task.task_id, path)
