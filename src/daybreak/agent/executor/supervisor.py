"""One task on this machine: the planner's decisions carried out with real processes.

The supervisor is synchronous and owns no loop: the agent calls `advance(now)` when something
happened (a waiter exited, a kill arrived, a planned time came) and schedules the next call
for the time it returns. Every decision and every exit goes to the checkpoint before anything
else sees it, so a new agent can rebuild the supervisor with `recover` and carry on.
"""

from __future__ import annotations

import functools
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from daybreak.agent.containers import init_pid
from daybreak.agent.executor.checkpoint import (
    AnyRecord,
    CheckpointWriter,
    KillRequested,
    Launched,
    PhaseChanged,
    ProcessExited,
    ProcessForked,
    Reported,
    TaskLaunch,
    TaskView,
    read_records,
)
from daybreak.agent.executor.planner import TERMINAL_PHASES, Phase, TaskPlanner
from daybreak.agent.executor.processes import Launcher, account_of, read_exit_status
from daybreak.agent.executor.tree import (
    ProcessTables,
    cgroup_members,
    live_descendants,
    process_group,
    signal_groups,
    signal_pids,
    start_ticks,
    stat_fields,
)
from daybreak.agent.paths import TaskPaths
from daybreak.model.task_state import TaskState

# How often to look for processes that left the waiters' trees while waiting for them to go.
STRAY_POLL_MS = 100
# A run forked less than this before SIGTERM may have lost it: between the waiter's fork and
# the command's exec the waiter's handler is still in place and swallows it. Such runs get
# SIGTERM once more, this long after the first.
YOUNG_RUN_MS = 1000


@dataclass(frozen=True, slots=True)
class _Run:
    process: str
    run: int
    exit_file: Path
    started_ms: int


class TaskSupervisor:
    def __init__(self, paths: TaskPaths, launch: TaskLaunch) -> None:
        self.paths = paths
        self.launch = launch
        self.task_id = launch.task.task_id
        self.planner = TaskPlanner(launch.task.task)
        self.launcher = Launcher(
            paths,
            launch.task,
            launch.user,
            launch.cgroup_procs,
            launch.environment,
            launch.container,
        )
        self.view = TaskView()
        self.waiters: dict[int, _Run] = {}
        self._writer: CheckpointWriter | None = None
        # Runs that were young when SIGTERM went out, and when they get it again.
        self._young: set[int] = set()
        self._resignal_at_ms: int | None = None
        # Started by an earlier agent: its orphans from before went to init, not to this agent.
        self.recovered = False

    @functools.cached_property
    def _container_init(self) -> set[int]:
        """The process that holds the task's container open: it waits, it is not the task's
        (the container goes when the task has ended)."""
        pid = None if self.launch.container is None else init_pid(self.paths)
        return set() if pid is None else {pid}

    # Creating and recovering.

    @classmethod
    def create(cls, paths: TaskPaths, launch: TaskLaunch) -> TaskSupervisor:
        # One mkdir each, parents first: launching is where an agent spends its time.
        for directory in (
            paths.root,
            paths.sandbox,
            paths.logs,
            *(paths.logs / process.name for process in launch.task.task.processes),
        ):
            directory.mkdir(exist_ok=True)
        account = account_of(launch.user)
        if account is not None:
            os.chown(paths.sandbox, account.pw_uid, account.pw_gid)
        supervisor = cls(paths, launch)
        supervisor._writer = CheckpointWriter(paths.checkpoint)
        supervisor._record(Launched(at_ms=launch.launched_ms, launch=launch))
        supervisor._record(PhaseChanged(at_ms=launch.launched_ms, phase=Phase.ACTIVE))
        return supervisor

    @classmethod
    def recover(cls, paths: TaskPaths, now: int) -> TaskSupervisor:
        """Rebuild a task from its directory after an agent restart: runs whose waiters still
        live are watched again, runs that ended meanwhile are recorded with their real status."""
        records = read_records(paths.checkpoint)
        if not records or not isinstance(records[0], Launched):
            raise ValueError(f"{paths.checkpoint} does not begin with the task's launch")
        supervisor = cls(paths, records[0].launch)
        supervisor.recovered = True
        for record in records:
            supervisor._replay(record)
        supervisor._writer = CheckpointWriter(paths.checkpoint)
        for name, run in supervisor.view.live_runs():
            exit_file = paths.exit_file(name, run.run)
            if start_ticks(run.pid) == run.start_ticks:
                supervisor.waiters[run.pid] = _Run(name, run.run, exit_file, run.started_ms)
            else:
                supervisor._run_ended(name, run.run, run.pid, exit_file, now)
        return supervisor

    def _replay(self, record: AnyRecord) -> None:
        self.view.apply(record)
        if isinstance(record, Launched | Reported):
            return
        if isinstance(record, PhaseChanged):
            self.planner.resume(
                record.phase, record.outcome, record.deadline_ms, record.terminate_at_ms
            )
        elif isinstance(record, KillRequested):
            self.planner.request_kill(record.message, record.outcome, record.grace_ms)
        elif isinstance(record, ProcessForked):
            self.planner.started(record.process)
        else:
            self.planner.exited(record.process, record.succeeded, record.at_ms, record.describe())

    def _record(self, record: AnyRecord) -> None:
        assert self._writer is not None
        self._writer.write(record)
        self.view.apply(record)

    def reported(self, state: TaskState, now: int) -> None:
        """Note a state sent to the scheduler, so a restarted agent knows what it last said."""
        closed = self._writer is None  # a finished task's last word may come after its end
        if closed:
            self._writer = CheckpointWriter(self.paths.checkpoint)
        self._record(Reported(at_ms=now, state=state))
        if closed:
            self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # Events.

    @property
    def finished(self) -> bool:
        return self.planner.phase in TERMINAL_PHASES

    def request_kill(
        self, message: str, now: int, outcome: Phase = Phase.KILLED, grace_ms: int = 0
    ) -> None:
        """End the task; its processes get SIGTERM after `grace_ms` (see `terminate_now`)."""
        if self.planner.phase is Phase.ACTIVE:
            self._record(
                KillRequested(at_ms=now, message=message, outcome=outcome, grace_ms=grace_ms)
            )
            self.planner.request_kill(message, outcome, grace_ms)

    def terminate_now(self, now: int) -> None:
        """The grace period of a kill is over early: signal the processes at the next advance."""
        if self.planner.terminate_now(now):
            self._record_ending_phase(now)

    def waiter_exited(self, pid: int, now: int) -> None:
        run = self.waiters.pop(pid, None)
        if run is not None:
            self._run_ended(run.process, run.run, pid, run.exit_file, now)

    def _run_ended(self, process: str, run: int, pid: int, exit_file: Path, now: int) -> None:
        code = read_exit_status(exit_file)
        ending = self.planner.phase is not Phase.ACTIVE and not self._is_final(process)
        signal_number = None
        if code is None:
            # The waiter died before the command's status reached it: only SIGKILL does that.
            signal_number = signal.SIGKILL.value
        exited = ProcessExited(
            at_ms=now,
            process=process,
            run=run,
            pid=pid,
            exit_code=code,
            signal=signal_number,
            stopped=ending or self.finished,
        )
        self._record(exited)
        self.planner.exited(process, exited.succeeded, now, exited.describe())

    def _is_final(self, process: str) -> bool:
        return self.launcher.process(process).final

    # Deciding and acting.

    def advance(self, now: int, tables: ProcessTables) -> int | None:
        """Carry out what the planner wants now; returns when to be called again, or None."""
        if self.finished:
            return None  # what is left is waiters of killed runs exiting: nothing to decide
        ending = self.planner.phase in (Phase.CLEANING, Phase.FINALIZING)
        # Strays only matter once the known runs are gone; until then their exits wake us.
        strays = ending and not self.planner.running and bool(self._strays(tables))
        before = self.planner.phase
        step = self.planner.step(now, strays_alive=strays)
        after = self.planner.phase
        if after is not before and after not in TERMINAL_PHASES:
            self._record_ending_phase(now)
        if step.terminate:
            signal_groups(self.waiters, signal.SIGTERM)
            signal_pids(self._strays(tables), signal.SIGTERM)
            self._young = {
                pid for pid, run in self.waiters.items() if now - run.started_ms < YOUNG_RUN_MS
            }
            self._resignal_at_ms = now + YOUNG_RUN_MS if self._young else None
        elif self._resignal_at_ms is not None and now >= self._resignal_at_ms:
            signal_groups(self._young & self.waiters.keys(), signal.SIGTERM)
            self._young, self._resignal_at_ms = set(), None
        if step.kill:
            signal_groups(self.waiters, signal.SIGKILL)
            signal_pids(self.processes(tables, fresh=True), signal.SIGKILL)
        for process in step.start:
            self._start(process, now)
        if after in TERMINAL_PHASES:
            self._record(PhaseChanged(at_ms=now, phase=after, message=self.planner.message))
            return None
        wake = step.wake_at_ms
        if self._resignal_at_ms is not None and after is Phase.CLEANING:
            wake = self._resignal_at_ms if wake is None else min(wake, self._resignal_at_ms)
        if after is not Phase.ACTIVE and not self.planner.running:
            # Strays signal nothing when they exit: look again soon.
            wake = now + STRAY_POLL_MS if wake is None else min(wake, now + STRAY_POLL_MS)
        return wake

    def _record_ending_phase(self, now: int) -> None:
        """The phase the ending task is in, with its times, for a restarted agent."""
        self._record(
            PhaseChanged(
                at_ms=now,
                phase=self.planner.phase,
                message=self.planner.message,
                outcome=self.planner.outcome,
                deadline_ms=self.planner.deadline_ms,
                terminate_at_ms=self.planner.terminate_at_ms,
            )
        )

    def _start(self, process: str, now: int) -> None:
        run = self.planner.run_number(process)
        started = self.launcher.start(process, run)
        self.planner.started(process)
        self.waiters[started.pid] = _Run(process, run, started.exit_file, now)
        self._record(
            ProcessForked(
                at_ms=now,
                process=process,
                run=run,
                pid=started.pid,
                start_ticks=start_ticks(started.pid) or 0,
            )
        )

    def processes(self, tables: ProcessTables, fresh: bool = False) -> set[int]:
        """Every live process of the task, waiters included: its cgroups' members where it has
        some, otherwise the tree below its waiters and the orphans the agent adopted for it."""
        if self.launch.cgroup_procs:
            members = cgroup_members(self.launch.cgroup_procs) - self._container_init
            return members | self.waiters.keys()
        if self.recovered:
            return tables.scan(fresh).task_processes(self.task_id, self.waiters)
        return live_descendants(self.waiters.keys() | tables.adopted(self.task_id, fresh))

    def _strays(self, tables: ProcessTables) -> set[int]:
        """Living processes of the task that signalling the waiters' process groups does not
        reach."""
        reached = self.waiters.keys()
        return {
            pid
            for pid in self.processes(tables)
            if process_group(pid) not in reached and stat_fields(pid) is not None
        }
