"""A task's checkpoint: the executor's record of everything that happened, one JSON line each.

The first line is the task as launched; the agent appends as it runs the task, including each
state it reported to the scheduler. After an agent restart, the new agent replays the lines to
rebuild the task's planner and its `TaskView`. One file holds it all because creating files is
most of what launching costs on some filesystems. Only whole lines count, so a torn last line is
ignored. Nothing is fsynced: the checkpoint must survive the agent being killed, which the page
cache already guarantees; a machine that loses power loses the task's processes as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from daybreak.agent.containers import ContainerLaunch
from daybreak.agent.executor.planner import TERMINAL_PHASES, Phase
from daybreak.model.agent_protocol import ProcessInfo, ProcessRunInfo
from daybreak.model.jobspec import TaskInstance
from daybreak.model.task_state import TaskState


class TaskLaunch(msgspec.Struct, frozen=True, kw_only=True):
    """A task as the agent launched it: the rendered task and how to run it on this machine."""

    task: TaskInstance
    launched_ms: int
    # Processes run as this user; None keeps the agent's user.
    user: str | None = None
    # `cgroup.procs` files every process of the task joins before it executes.
    cgroup_procs: tuple[str, ...] = ()
    # What every process gets besides the fixed variables: where the cluster's API is, and
    # the task's credential for it (`daybreak.agent.identity`).
    environment: dict[str, str] = msgspec.field(default_factory=dict)
    # Set where the task runs in its image (`daybreak.agent.containers`).
    container: ContainerLaunch | None = None


class Record(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    at_ms: int


class Launched(Record, frozen=True, kw_only=True, tag="launch"):
    launch: TaskLaunch


class Reported(Record, frozen=True, kw_only=True, tag="reported"):
    """A state the agent sent the scheduler (STARTING is implied by the launch)."""

    state: TaskState


class PhaseChanged(Record, frozen=True, kw_only=True, tag="phase"):
    phase: Phase
    message: str | None = None
    # Set on entering CLEANING: how the task will end, when its processes get SIGTERM (after
    # a kill's grace period) and when everything gets SIGKILL.
    outcome: Phase | None = None
    deadline_ms: int | None = None
    terminate_at_ms: int | None = None


class KillRequested(Record, frozen=True, kw_only=True, tag="kill"):
    message: str
    outcome: Phase = Phase.KILLED
    grace_ms: int = 0


class ProcessForked(Record, frozen=True, kw_only=True, tag="fork"):
    process: str
    run: int
    pid: int  # the waiter's
    # The waiter's start time in clock ticks since boot (/proc/PID/stat), so that a reused pid
    # is not mistaken for it.
    start_ticks: int


class ProcessExited(Record, frozen=True, kw_only=True, tag="exit"):
    process: str
    run: int
    pid: int
    exit_code: int | None  # None when a signal ended it
    signal: int | None = None
    # Ended while the task was being stopped: neither a success nor a failure.
    stopped: bool = False

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return f"exit status {self.exit_code}"


AnyRecord = Launched | Reported | PhaseChanged | KillRequested | ProcessForked | ProcessExited
_decoder = msgspec.json.Decoder(AnyRecord)
_encoder = msgspec.json.Encoder()


@dataclass
class ProcessRun:
    run: int
    pid: int
    start_ticks: int
    started_ms: int
    ended_ms: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    stopped: bool = False


@dataclass
class TaskView:
    """A task as its checkpoint tells it."""

    launch: TaskLaunch | None = None
    phase: Phase | None = None
    message: str | None = None
    ended_ms: int | None = None
    reported: TaskState | None = None
    reported_ms: int | None = None
    processes: dict[str, list[ProcessRun]] = field(default_factory=dict)

    def live_runs(self) -> list[tuple[str, ProcessRun]]:
        return [
            (name, run)
            for name, runs in self.processes.items()
            for run in runs
            if run.ended_ms is None
        ]

    def describe(self, process_names: list[str]) -> tuple[ProcessInfo, ...]:
        """Each process of the task, in the config's order, with its runs and a state named
        as Thermos named them."""
        described = []
        for name in process_names:
            runs = self.processes.get(name, [])
            described.append(
                ProcessInfo(
                    name=name,
                    state=_process_state(runs[-1]) if runs else "WAITING",
                    runs=tuple(
                        ProcessRunInfo(
                            run=run.run,
                            pid=run.pid,
                            started_ms=run.started_ms,
                            ended_ms=run.ended_ms,
                            exit_code=run.exit_code,
                            signal=run.signal,
                            stopped=run.stopped,
                        )
                        for run in runs
                    ),
                )
            )
        return tuple(described)

    def apply(self, record: AnyRecord) -> None:
        if isinstance(record, KillRequested):
            return
        if isinstance(record, Launched):
            self.launch = record.launch
        elif isinstance(record, Reported):
            self.reported, self.reported_ms = record.state, record.at_ms
        elif isinstance(record, PhaseChanged):
            self.phase, self.message = record.phase, record.message
            if record.phase in TERMINAL_PHASES:
                self.ended_ms = record.at_ms
        elif isinstance(record, ProcessForked):
            runs = self.processes.setdefault(record.process, [])
            runs.append(
                ProcessRun(
                    run=record.run,
                    pid=record.pid,
                    start_ticks=record.start_ticks,
                    started_ms=record.at_ms,
                )
            )
        else:
            for run in self.processes.get(record.process, []):
                if run.run == record.run:
                    run.ended_ms, run.exit_code = record.at_ms, record.exit_code
                    run.signal, run.stopped = record.signal, record.stopped


def _process_state(run: ProcessRun) -> str:
    if run.ended_ms is None:
        return "RUNNING"
    if run.exit_code == 0:
        return "SUCCESS"
    return "KILLED" if run.stopped else "FAILED"


class CheckpointWriter:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def write(self, record: AnyRecord) -> None:
        # One write per line: with O_APPEND a reader never sees two records interleaved.
        os.write(self._fd, _encoder.encode(record) + b"\n")

    def close(self) -> None:
        os.close(self._fd)


def read_records(path: Path) -> list[AnyRecord]:
    """Every whole, readable record; a torn line from a machine crash is skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            records.append(_decoder.decode(line))
        except msgspec.DecodeError:
            continue
    return records


def read_checkpoint(path: Path) -> TaskView:
    view = TaskView()
    for record in read_records(path):
        view.apply(record)
    return view
