"""The task state machine: which state changes are legal and what each one sets in motion.

Rules this module owns (Aurora's, from its TaskStateMachine):

- A task moves only along the edges of `LEGAL`; terminal states only go to DELETED.
- Every legal change is saved (SAVE_STATE), except deleting, and killing a task that never
  left the queue (PENDING or THROTTLED), which is simply deleted.
- Side effects are data (`Action`) and always come out in one fixed order, the order the
  shell must carry them out in: count the failure, save, reschedule, mark lost, kill, delete.
- An agent saying a task runs when we think it is over, unknown, or being killed is how errant
  tasks are found: that report is not applied, but it yields a KILL.
- Anything else illegal is a rejection, not an exception: in a cluster, a late status update
  for a task already killed is an expected race.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from daybreak.model.task_state import BEING_KILLED_STATES, TERMINAL_STATES, TaskState

S = TaskState


class Deleted(Enum):
    """The pseudo-state of a task that is not (or no longer) in the store."""

    DELETED = "DELETED"


DELETED = Deleted.DELETED
State = TaskState | Deleted


class Action(IntEnum):
    """A side effect of a transition; the values are the order they are carried out in."""

    INCREMENT_FAILURES = 1
    SAVE_STATE = 2
    RESCHEDULE = 3
    TRANSITION_TO_LOST = 4
    KILL = 5
    DELETE = 6


class Outcome(Enum):
    APPLIED = "applied"  # the task is now in the target state
    NOOP = "noop"  # it was already there
    ILLEGAL = "illegal"  # not a legal move; the state is unchanged (actions may still say KILL)


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What the rules need to know about the task itself."""

    is_service: bool = False
    max_task_failures: int = 1  # -1 = unlimited
    failure_count: int = 0
    was_killing: bool = False  # it passed through KILLING at some point


@dataclass(frozen=True, slots=True)
class Transition:
    outcome: Outcome
    actions: tuple[Action, ...] = ()

    @property
    def applied(self) -> bool:
        return self.outcome is Outcome.APPLIED


ASSIGNED_STATES = (S.ASSIGNED, S.STARTING, S.RUNNING)
KILLED_BY_US = tuple(sorted(BEING_KILLED_STATES - {S.KILLING}))  # killed to do something else

# from-state -> the states it may legally move to.
LEGAL: dict[State, frozenset[State]] = {
    S.INIT: frozenset({S.PENDING, S.THROTTLED}),
    S.PENDING: frozenset({S.ASSIGNED, S.KILLING}),
    S.THROTTLED: frozenset({S.PENDING, S.KILLING}),
    S.ASSIGNED: frozenset(
        {S.STARTING, S.RUNNING, S.FINISHED, S.FAILED, S.RESTARTING, S.DRAINING, S.KILLED,
         S.KILLING, S.LOST, S.PREEMPTING}
    ),
    S.STARTING: frozenset(
        {S.RUNNING, S.FINISHED, S.FAILED, S.RESTARTING, S.DRAINING, S.KILLING, S.KILLED, S.LOST,
         S.PREEMPTING, S.PARTITIONED}
    ),
    S.RUNNING: frozenset(
        {S.FINISHED, S.RESTARTING, S.DRAINING, S.FAILED, S.KILLING, S.KILLED, S.LOST,
         S.PREEMPTING, S.PARTITIONED}
    ),
    S.PARTITIONED: frozenset(
        {S.LOST, S.FAILED, S.FINISHED, S.RUNNING, S.ASSIGNED, S.STARTING, S.RESTARTING,
         S.DRAINING, S.PREEMPTING, S.KILLING}
    ),
    **{
        state: frozenset({S.FINISHED, S.FAILED, S.KILLING, S.KILLED, S.LOST, S.PARTITIONED})
        for state in KILLED_BY_US
    },
    S.KILLING: frozenset({S.FINISHED, S.FAILED, S.KILLED, S.LOST, DELETED, S.PARTITIONED}),
    **{state: frozenset({DELETED}) for state in TERMINAL_STATES},
    DELETED: frozenset(),
}  # fmt: skip


def _failed(facts: TaskFacts) -> tuple[Action, ...]:
    """A failure counts; it is retried for services, or while under the job's failure limit."""
    limit = facts.max_task_failures
    retry = facts.is_service or limit == -1 or facts.failure_count < limit - 1
    return (Action.INCREMENT_FAILURES, Action.RESCHEDULE) if retry else (Action.INCREMENT_FAILURES,)


def _finished(facts: TaskFacts) -> tuple[Action, ...]:
    """A service that finishes is started again; a batch task that finishes is done."""
    return (Action.RESCHEDULE,) if facts.is_service else ()


def _deletes(source: State, target: State) -> bool:
    """Removed rather than saved: a deletion, or a kill of a task that never left the queue."""
    return target is DELETED or (source in (S.PENDING, S.THROTTLED) and target is S.KILLING)


def _effects(source: State, target: State, facts: TaskFacts) -> tuple[Action, ...]:
    """The side effects of a legal move, before SAVE_STATE is added."""
    if _deletes(source, target):
        return (Action.DELETE,)
    if source in (S.ASSIGNED, S.STARTING, S.RUNNING, S.PARTITIONED):
        if target is S.FINISHED:
            return _finished(facts)
        if target is S.FAILED:
            return _failed(facts)
    if source in (S.ASSIGNED, S.STARTING, S.RUNNING):
        if target in (S.KILLING, *KILLED_BY_US):
            return (Action.KILL,)
        if target is S.KILLED:
            return (Action.RESCHEDULE,)
        if target is S.LOST:
            # A launch that never reached the agent may still arrive there: kill it too.
            return (
                (Action.RESCHEDULE, Action.KILL) if source is S.ASSIGNED else (Action.RESCHEDULE,)
            )
        return ()
    if source is S.PARTITIONED:
        if target is S.LOST:
            return (Action.KILL,) if facts.was_killing else (Action.RESCHEDULE, Action.KILL)
        if target in (S.KILLING, *KILLED_BY_US):
            # Nothing can reach a partitioned task: give it up now rather than wait.
            return (Action.TRANSITION_TO_LOST,)
        return ()
    if source in KILLED_BY_US:
        if target in (S.FINISHED, S.FAILED, S.KILLED):
            return (Action.RESCHEDULE,)  # interrupted by us: the failure is not counted
        if target is S.LOST:
            return (Action.RESCHEDULE, Action.KILL)
        if target is S.PARTITIONED:
            return (Action.TRANSITION_TO_LOST,)
        return ()
    if source is S.KILLING and target is S.PARTITIONED:
        return (Action.TRANSITION_TO_LOST,)
    return ()


def transition(source: State, target: State, facts: TaskFacts = TaskFacts()) -> Transition:
    """Decide the move of a task in state `source` to `target`."""
    if source == target:
        return Transition(Outcome.NOOP)
    if target in LEGAL[source]:
        saved = () if _deletes(source, target) else (Action.SAVE_STATE,)
        actions = _effects(source, target, facts) + saved
        return Transition(Outcome.APPLIED, tuple(sorted(set(actions))))
    reported_alive = target in ASSIGNED_STATES
    if reported_alive and (
        source is DELETED or source in TERMINAL_STATES or source in BEING_KILLED_STATES
    ):
        return Transition(Outcome.ILLEGAL, (Action.KILL,))
    return Transition(Outcome.ILLEGAL)
