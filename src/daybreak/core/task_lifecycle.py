"""The task state machine: which state changes are legal and what each one sets in motion.

Rules this module owns (Aurora's, from its TaskStateMachine):

- A task moves only along the pairs of `TABLE`, which says what each move sets in motion;
  terminal states only go to DELETED.
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

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum

from daybreak.model.task_state import (
    BEING_KILLED_STATES,
    PLACED_STATES,
    TERMINAL_STATES,
    TaskState,
)

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


KILLED_BY_US = tuple(sorted(BEING_KILLED_STATES - {S.KILLING}))  # killed to do something else

INC, SAVE, RESCHEDULE, TO_LOST, KILL, DELETE = (
    Action.INCREMENT_FAILURES, Action.SAVE_STATE, Action.RESCHEDULE,
    Action.TRANSITION_TO_LOST, Action.KILL, Action.DELETE,
)  # fmt: skip
Actions = tuple[Action, ...]


def _failed(facts: TaskFacts) -> Actions:
    """A failure counts; it is retried for services, or while under the job's failure limit."""
    limit = facts.max_task_failures
    retry = facts.is_service or limit == -1 or facts.failure_count < limit - 1
    return (INC, SAVE, RESCHEDULE) if retry else (INC, SAVE)


def _finished(facts: TaskFacts) -> Actions:
    """A service that finishes is started again; a batch task that finishes is done."""
    return (SAVE, RESCHEDULE) if facts.is_service else (SAVE,)


def _partition_lost(facts: TaskFacts) -> Actions:
    """Given up while partitioned: it may still run there (kill it), and it comes back unless
    it was on its way out anyway."""
    return (SAVE, KILL) if facts.was_killing else (SAVE, RESCHEDULE, KILL)


Rule = Actions | Callable[[TaskFacts], Actions]


def _placed(source: TaskState) -> dict[tuple[State, State], Rule]:
    """The moves of a task placed on an agent (ASSIGNED, STARTING or RUNNING)."""
    rules: dict[tuple[State, State], Rule] = {
        (source, S.FINISHED): _finished,
        (source, S.FAILED): _failed,
        (source, S.KILLING): (SAVE, KILL),
        **{(source, state): (SAVE, KILL) for state in KILLED_BY_US},
        (source, S.KILLED): (SAVE, RESCHEDULE),
        # A launch that never reached the agent may still arrive there: kill it too.
        (source, S.LOST): (SAVE, RESCHEDULE, KILL) if source is S.ASSIGNED else (SAVE, RESCHEDULE),
    }
    if source is not S.ASSIGNED:
        rules[(source, S.PARTITIONED)] = (SAVE,)
    return rules


# (from, to) -> what the move sets in motion, in the order the shell carries it out; a
# function where it depends on the task. A pair not here is not a legal move.
TABLE: dict[tuple[State, State], Rule] = {
    (S.INIT, S.PENDING): (SAVE,),
    (S.INIT, S.THROTTLED): (SAVE,),
    (S.PENDING, S.ASSIGNED): (SAVE,),
    # A task that never left the queue is simply forgotten when killed.
    (S.PENDING, S.KILLING): (DELETE,),
    (S.THROTTLED, S.PENDING): (SAVE,),
    (S.THROTTLED, S.KILLING): (DELETE,),
    (S.ASSIGNED, S.STARTING): (SAVE,),
    (S.ASSIGNED, S.RUNNING): (SAVE,),
    (S.STARTING, S.RUNNING): (SAVE,),
    **_placed(S.ASSIGNED),
    **_placed(S.STARTING),
    **_placed(S.RUNNING),
    (S.PARTITIONED, S.LOST): _partition_lost,
    (S.PARTITIONED, S.FAILED): _failed,
    (S.PARTITIONED, S.FINISHED): _finished,
    (S.PARTITIONED, S.RUNNING): (SAVE,),
    (S.PARTITIONED, S.ASSIGNED): (SAVE,),
    (S.PARTITIONED, S.STARTING): (SAVE,),
    # Nothing can reach a partitioned task: give it up now rather than wait.
    (S.PARTITIONED, S.KILLING): (SAVE, TO_LOST),
    **{(S.PARTITIONED, state): (SAVE, TO_LOST) for state in KILLED_BY_US},
    # Killed by us to do something else (drain, preempt, restart): however it ends, it is
    # started again, and its failure is not counted.
    **{
        (source, target): actions
        for source in KILLED_BY_US
        for target, actions in (
            (S.FINISHED, (SAVE, RESCHEDULE)),
            (S.FAILED, (SAVE, RESCHEDULE)),
            (S.KILLED, (SAVE, RESCHEDULE)),
            (S.LOST, (SAVE, RESCHEDULE, KILL)),
            (S.KILLING, (SAVE,)),
            (S.PARTITIONED, (SAVE, TO_LOST)),
        )
    },
    (S.KILLING, S.FINISHED): (SAVE,),
    (S.KILLING, S.FAILED): (SAVE,),
    (S.KILLING, S.KILLED): (SAVE,),
    (S.KILLING, S.LOST): (SAVE,),
    (S.KILLING, S.PARTITIONED): (SAVE, TO_LOST),
    (S.KILLING, DELETED): (DELETE,),
    **{(state, DELETED): (DELETE,) for state in TERMINAL_STATES},
}  # fmt: skip

# from-state -> the states it may legally move to.
LEGAL: dict[State, frozenset[State]] = {
    source: frozenset(target for (origin, target) in TABLE if origin == source)
    for source in [*TaskState, DELETED]
}


def transition(source: State, target: State, facts: TaskFacts = TaskFacts()) -> Transition:
    """Decide the move of a task in state `source` to `target`."""
    if source == target:
        return Transition(Outcome.NOOP)
    rule = TABLE.get((source, target))
    if rule is not None:
        actions = rule if isinstance(rule, tuple) else rule(facts)
        return Transition(Outcome.APPLIED, tuple(sorted(actions)))
    reported_alive = target in PLACED_STATES
    if reported_alive and (
        source is DELETED or source in TERMINAL_STATES or source in BEING_KILLED_STATES
    ):
        return Transition(Outcome.ILLEGAL, (Action.KILL,))
    return Transition(Outcome.ILLEGAL)
