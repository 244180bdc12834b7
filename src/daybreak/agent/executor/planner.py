"""Which process of a task runs next, and when the task is over: Thermos' planner, pure.

The rules, as Thermos ran them:
- A task's processes run in parallel unless `order()` constrains them; a process is runnable
  once every process ordered before it has finished, and, after an earlier run of it ended,
  once `min_duration` seconds have passed since that end.
- `max_concurrency` (0 = unlimited) caps how many processes of the current plan run at once.
- A run that exits 0 finishes the process, except a `daemon`, which runs again. A run that
  fails counts against the process' `max_failures` (0 = retry forever); past the limit the
  process has failed, except an `ephemeral` one, which counts as finished.
- The regular plan is complete when every non-ephemeral process has finished or failed;
  ephemeral processes still running do not hold the task open.
- The task is healthy while fewer processes have failed than the task's `max_failures` (0 =
  unlimited) and the plan is not deadlocked (something left to do, but nothing running,
  runnable or waiting out `min_duration`).
- A task ends in three phases: ACTIVE (the regular plan), CLEANING (every process still
  running is asked to stop), FINALIZING (the `final` processes run, in their own order).
  CLEANING and FINALIZING together get `finalization_wait` seconds; past that, everything is
  killed outright. A kill may come with a grace period, during which the task's own code is
  asked to stop (Aurora's lifecycle endpoints) before anything is signalled; whatever exits
  during it has stopped, and nothing is restarted.
- The terminal phase is SUCCESS when the regular plan completed healthy, FAILED when it did
  not, KILLED when a kill came first (or FAILED, for a kill that says so: an unhealthy task).
  What the final processes do does not change it.

The planner does no I/O and reads no clock: the process layer tells it what happened and asks
`step(now)` what to do, and when to ask again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum

from daybreak.model.jobspec import Process, Task
from daybreak.model.units import SECOND_MS


class Phase(StrEnum):
    ACTIVE = "ACTIVE"
    CLEANING = "CLEANING"
    FINALIZING = "FINALIZING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    KILLED = "KILLED"


TERMINAL_PHASES = frozenset({Phase.SUCCESS, Phase.FAILED, Phase.KILLED})


class InvalidScheduleError(ValueError):
    """The task's process ordering cannot be run (a cycle, or a name that is no process)."""


@dataclass(slots=True)
class _ProcessProgress:
    spec: Process
    after: frozenset[str]
    runs: int = 0
    failures: int = 0
    running: bool = False
    finished: bool = False
    failed: bool = False
    last_end_ms: int | None = None

    @property
    def done(self) -> bool:
        return self.finished or self.failed

    def wait_ms(self, now: int) -> int:
        if self.last_end_ms is None:
            return 0
        return self.spec.min_duration * SECOND_MS - (now - self.last_end_ms)


@dataclass(frozen=True, slots=True)
class Step:
    start: tuple[str, ...] = ()  # fork these processes now, in this order
    terminate: bool = False  # ask every process of the task to stop (SIGTERM)
    kill: bool = False  # kill every process of the task outright (SIGKILL)
    wake_at_ms: int | None = None  # call `step` again by then, if nothing happens before


@dataclass
class _Plan:
    processes: dict[str, _ProcessProgress]
    max_concurrency: int

    def running(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.running]

    def eligible(self) -> list[_ProcessProgress]:
        """Not running, not done, and every predecessor finished."""
        finished = {name for name, p in self.processes.items() if p.finished}
        return [
            p
            for p in self.processes.values()
            if not p.running and not p.done and p.after <= finished
        ]

    def to_start(self, now: int) -> list[str]:
        ready = [p.spec.name for p in self.eligible() if p.wait_ms(now) <= 0]
        if self.max_concurrency > 0:
            ready = ready[: max(0, self.max_concurrency - len(self.running()))]
        return ready

    def next_ready_ms(self, now: int) -> int | None:
        waits = [p.wait_ms(now) for p in self.eligible() if p.wait_ms(now) > 0]
        return now + min(waits) if waits else None

    def complete(self) -> bool:
        return all(p.done or p.spec.ephemeral for p in self.processes.values())

    def failed(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.failed]

    def deadlocked(self, now: int) -> bool:
        if self.complete() or self.running():
            return False
        return not self.eligible()


def _dependencies(task: Task, names: set[str]) -> dict[str, set[str]]:
    after: dict[str, set[str]] = {name: set() for name in names}
    final = {p.name: p.final for p in task.processes}
    everyone = set(final)
    for order in task.orders:
        unknown = [name for name in order if name not in everyone]
        if unknown:
            raise InvalidScheduleError(f"order() names {unknown[0]!r}, which is not a process")
        for before, later in itertools.pairwise(order):
            if later in names and before in names:
                after[later].add(before)
            elif final[before] and not final[later]:
                raise InvalidScheduleError(
                    f"final process {before!r} cannot run before non-final {later!r}"
                )
            # A regular process before a final one: the plans' own order already ensures it.
    # Kahn's algorithm: whatever cannot be peeled off lies on a cycle.
    remaining = {name: set(deps) for name, deps in after.items()}
    while True:
        free = [name for name, deps in remaining.items() if not deps]
        if not free:
            break
        for name in free:
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(free)
    if remaining:
        raise InvalidScheduleError("ordering cycle among " + ", ".join(sorted(remaining)))
    return after


def _plan(task: Task, final: bool) -> _Plan:
    chosen = [p for p in task.processes if p.final == final]
    after = _dependencies(task, {p.name for p in chosen})
    return _Plan(
        processes={p.name: _ProcessProgress(p, frozenset(after[p.name])) for p in chosen},
        max_concurrency=task.max_concurrency,
    )


@dataclass(frozen=True, slots=True)
class _KillRequest:
    message: str
    outcome: Phase
    grace_ms: int


@dataclass
class TaskPlanner:
    task: Task
    phase: Phase = Phase.ACTIVE
    # Why the task ended (or is ending), for its status message.
    message: str | None = None
    _regular: _Plan = field(init=False)
    _final: _Plan = field(init=False)
    _terminal: Phase | None = field(default=None, init=False)
    _deadline_ms: int | None = field(default=None, init=False)
    _terminate_at_ms: int | None = field(default=None, init=False)
    _kill_requested: _KillRequest | None = field(default=None, init=False)
    _terminate_sent: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._regular = _plan(self.task, final=False)
        self._final = _plan(self.task, final=True)

    def _progress(self, name: str) -> _ProcessProgress:
        for plan in (self._regular, self._final):
            if name in plan.processes:
                return plan.processes[name]
        raise KeyError(name)

    @property
    def outcome(self) -> Phase | None:
        """How the task will end, once it is ending."""
        return self._terminal

    @property
    def deadline_ms(self) -> int | None:
        """When everything still running gets SIGKILL, once the task is ending."""
        return self._deadline_ms

    @property
    def terminate_at_ms(self) -> int | None:
        """When the processes get SIGTERM, once the task is ending (after any grace period)."""
        return self._terminate_at_ms

    def resume(
        self,
        phase: Phase,
        outcome: Phase | None,
        deadline_ms: int | None,
        terminate_at_ms: int | None = None,
    ) -> None:
        """Put the planner back in a phase its checkpoint recorded (after an agent restart)."""
        self.phase = phase
        self._terminal = phase if phase in TERMINAL_PHASES else outcome or self._terminal
        self._deadline_ms = deadline_ms if deadline_ms is not None else self._deadline_ms
        if terminate_at_ms is not None:
            self._terminate_at_ms = terminate_at_ms

    def run_number(self, name: str) -> int:
        """The number the next run of this process gets (0 for its first)."""
        return self._progress(name).runs

    @property
    def running(self) -> list[str]:
        return self._regular.running() + self._final.running()

    def started(self, name: str) -> None:
        progress = self._progress(name)
        progress.running = True
        progress.runs += 1

    def exited(self, name: str, succeeded: bool, now: int, detail: str = "") -> None:
        progress = self._progress(name)
        progress.running = False
        progress.last_end_ms = now
        if (
            self.phase in TERMINAL_PHASES
            or self.phase is Phase.CLEANING
            or (self.phase is Phase.FINALIZING and not progress.spec.final)
        ):
            return  # stopped on purpose: neither a success nor a failure
        spec = progress.spec
        if succeeded:
            progress.finished = not spec.daemon
            return
        progress.failures += 1
        if spec.max_failures == 0 or progress.failures < spec.max_failures:
            return
        if spec.ephemeral:
            progress.finished = True
        else:
            progress.failed = True
            self.message = f"Process {name!r} failed {progress.failures} time(s)" + (
                f"; last run {detail}" if detail else ""
            )

    def request_kill(self, message: str, outcome: Phase = Phase.KILLED, grace_ms: int = 0) -> None:
        """End the task with `outcome`; its processes are signalled after `grace_ms`."""
        if self.phase is Phase.ACTIVE and self._kill_requested is None:
            self._kill_requested = _KillRequest(message, outcome, grace_ms)

    def terminate_now(self, now: int) -> bool:
        """Cut a kill's grace period short; True if there was one left to cut."""
        if self.phase is not Phase.CLEANING or self._terminate_at_ms is None:
            return False
        if self._terminate_at_ms <= now:
            return False
        self._terminate_at_ms = now
        self._deadline_ms = now + self.task.finalization_wait * SECOND_MS
        return True

    def _healthy(self) -> bool:
        limit = self.task.max_failures
        return limit == 0 or len(self._regular.failed()) < limit

    def _end_active(
        self, terminal: Phase, now: int, message: str | None, grace_ms: int = 0
    ) -> None:
        self._terminal = terminal
        if message is not None:
            self.message = message
        self.phase = Phase.CLEANING
        self._terminate_at_ms = now + grace_ms
        self._deadline_ms = self._terminate_at_ms + self.task.finalization_wait * SECOND_MS

    def step(self, now: int, strays_alive: bool = False) -> Step:
        """What to do now. `strays_alive` says whether processes the planner did not start
        (children that daemonised themselves) are still alive in the task."""
        if self.phase is Phase.ACTIVE:
            active = self._step_active(now)
            if active is not None:
                return active
        if self.phase is Phase.CLEANING:
            if self.running or strays_alive:
                if self._terminate_at_ms is not None and now < self._terminate_at_ms:
                    return Step(wake_at_ms=self._terminate_at_ms)  # the grace period
                return self._before_deadline(now, Step(terminate=not self._terminate_sent))
            self.phase = Phase.FINALIZING
        if self.phase is Phase.FINALIZING:
            if self._final.complete() and not self._final.running():
                return self._finish(kill=strays_alive)
            start = tuple(self._final.to_start(now))
            wake = self._final.next_ready_ms(now)
            return self._before_deadline(now, Step(start=start, wake_at_ms=wake))
        return Step()

    def _step_active(self, now: int) -> Step | None:
        kill = self._kill_requested
        if kill is not None:
            self._end_active(kill.outcome, now, kill.message, kill.grace_ms)
        elif self._regular.complete():
            healthy = self._healthy()
            self._end_active(Phase.SUCCESS if healthy else Phase.FAILED, now, None)
        elif not self._healthy():
            self._end_active(Phase.FAILED, now, None)
        elif self._regular.deadlocked(now):
            self._end_active(Phase.FAILED, now, self.message or "No process left that can run")
        else:
            return Step(
                start=tuple(self._regular.to_start(now)),
                wake_at_ms=self._regular.next_ready_ms(now),
            )
        return None

    def _before_deadline(self, now: int, step: Step) -> Step:
        assert self._deadline_ms is not None
        if now >= self._deadline_ms:
            return self._finish(kill=True)
        if step.terminate:
            self._terminate_sent = True
        wake = (
            self._deadline_ms
            if step.wake_at_ms is None
            else min(step.wake_at_ms, self._deadline_ms)
        )
        return Step(start=step.start, terminate=step.terminate, wake_at_ms=wake)

    def _finish(self, kill: bool) -> Step:
        assert self._terminal is not None
        self.phase = self._terminal
        for plan in (self._regular, self._final):
            for progress in plan.processes.values():
                progress.running = False
        return Step(kill=kill)
