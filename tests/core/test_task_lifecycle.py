"""Every from-state x every to-state of the task state machine, against a table written here.

As Aurora's own testAllTransitions did: the expectations below are spelled out pair by pair,
not derived from the code under test. A pair missing from both tables must be rejected with
no side effect.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from daybreak.core.task_lifecycle import (
    DELETED,
    Action,
    Outcome,
    State,
    TaskFacts,
    transition,
)
from daybreak.model.task_state import TaskState as S

INC, SAVE, RESCHED, TO_LOST, KILL, DELETE = (
    Action.INCREMENT_FAILURES,
    Action.SAVE_STATE,
    Action.RESCHEDULE,
    Action.TRANSITION_TO_LOST,
    Action.KILL,
    Action.DELETE,
)
ALL_STATES: list[State] = [*S, DELETED]

BATCH = TaskFacts(is_service=False, max_task_failures=1, failure_count=0)
SERVICE = TaskFacts(is_service=True, max_task_failures=1, failure_count=0)
BATCH_RETRYING = TaskFacts(is_service=False, max_task_failures=3, failure_count=1)
BATCH_AT_LIMIT = TaskFacts(is_service=False, max_task_failures=3, failure_count=2)
BATCH_UNLIMITED = TaskFacts(is_service=False, max_task_failures=-1, failure_count=99)
WAS_KILLING = TaskFacts(is_service=True, was_killing=True)
FLAVOURS = [BATCH, SERVICE, BATCH_RETRYING, BATCH_AT_LIMIT, BATCH_UNLIMITED, WAS_KILLING]


def failed(facts: TaskFacts) -> tuple[Action, ...]:
    retries = (
        facts.is_service
        or facts.max_task_failures == -1
        or (facts.failure_count < facts.max_task_failures - 1)
    )
    return (INC, SAVE, RESCHED) if retries else (INC, SAVE)


def finished(facts: TaskFacts) -> tuple[Action, ...]:
    return (SAVE, RESCHED) if facts.is_service else (SAVE,)


def partitioned_lost(facts: TaskFacts) -> tuple[Action, ...]:
    return (SAVE, KILL) if facts.was_killing else (SAVE, RESCHED, KILL)


Expected = tuple[Action, ...] | Callable[[TaskFacts], tuple[Action, ...]]

# (from, to) -> the actions of the legal move, or a function of the task's facts.
LEGAL: dict[tuple[State, State], Expected] = {
    (S.INIT, S.PENDING): (SAVE,),
    (S.INIT, S.THROTTLED): (SAVE,),
    (S.PENDING, S.ASSIGNED): (SAVE,),
    (S.PENDING, S.KILLING): (DELETE,),
    (S.THROTTLED, S.PENDING): (SAVE,),
    (S.THROTTLED, S.KILLING): (DELETE,),
    (S.ASSIGNED, S.STARTING): (SAVE,),
    (S.ASSIGNED, S.RUNNING): (SAVE,),
    (S.ASSIGNED, S.FINISHED): finished,
    (S.ASSIGNED, S.FAILED): failed,
    (S.ASSIGNED, S.RESTARTING): (SAVE, KILL),
    (S.ASSIGNED, S.DRAINING): (SAVE, KILL),
    (S.ASSIGNED, S.PREEMPTING): (SAVE, KILL),
    (S.ASSIGNED, S.KILLING): (SAVE, KILL),
    (S.ASSIGNED, S.KILLED): (SAVE, RESCHED),
    (S.ASSIGNED, S.LOST): (SAVE, RESCHED, KILL),
    (S.STARTING, S.RUNNING): (SAVE,),
    (S.STARTING, S.FINISHED): finished,
    (S.STARTING, S.FAILED): failed,
    (S.STARTING, S.RESTARTING): (SAVE, KILL),
    (S.STARTING, S.DRAINING): (SAVE, KILL),
    (S.STARTING, S.PREEMPTING): (SAVE, KILL),
    (S.STARTING, S.KILLING): (SAVE, KILL),
    (S.STARTING, S.KILLED): (SAVE, RESCHED),
    (S.STARTING, S.LOST): (SAVE, RESCHED),
    (S.STARTING, S.PARTITIONED): (SAVE,),
    (S.RUNNING, S.FINISHED): finished,
    (S.RUNNING, S.FAILED): failed,
    (S.RUNNING, S.RESTARTING): (SAVE, KILL),
    (S.RUNNING, S.DRAINING): (SAVE, KILL),
    (S.RUNNING, S.PREEMPTING): (SAVE, KILL),
    (S.RUNNING, S.KILLING): (SAVE, KILL),
    (S.RUNNING, S.KILLED): (SAVE, RESCHED),
    (S.RUNNING, S.LOST): (SAVE, RESCHED),
    (S.RUNNING, S.PARTITIONED): (SAVE,),
    (S.PARTITIONED, S.LOST): partitioned_lost,
    (S.PARTITIONED, S.FAILED): failed,
    (S.PARTITIONED, S.FINISHED): finished,
    (S.PARTITIONED, S.RUNNING): (SAVE,),
    (S.PARTITIONED, S.ASSIGNED): (SAVE,),
    (S.PARTITIONED, S.STARTING): (SAVE,),
    (S.PARTITIONED, S.RESTARTING): (SAVE, TO_LOST),
    (S.PARTITIONED, S.DRAINING): (SAVE, TO_LOST),
    (S.PARTITIONED, S.PREEMPTING): (SAVE, TO_LOST),
    (S.PARTITIONED, S.KILLING): (SAVE, TO_LOST),
    (S.KILLING, S.FINISHED): (SAVE,),
    (S.KILLING, S.FAILED): (SAVE,),
    (S.KILLING, S.KILLED): (SAVE,),
    (S.KILLING, S.LOST): (SAVE,),
    (S.KILLING, S.PARTITIONED): (SAVE, TO_LOST),
    (S.KILLING, DELETED): (DELETE,),
    (S.FINISHED, DELETED): (DELETE,),
    (S.FAILED, DELETED): (DELETE,),
    (S.KILLED, DELETED): (DELETE,),
    (S.LOST, DELETED): (DELETE,),
}
for interrupted in (S.PREEMPTING, S.RESTARTING, S.DRAINING):
    LEGAL |= {
        (interrupted, S.FINISHED): (SAVE, RESCHED),
        (interrupted, S.FAILED): (SAVE, RESCHED),
        (interrupted, S.KILLED): (SAVE, RESCHED),
        (interrupted, S.KILLING): (SAVE,),
        (interrupted, S.LOST): (SAVE, RESCHED, KILL),
        (interrupted, S.PARTITIONED): (SAVE, TO_LOST),
    }

# Illegal moves that still kill: an agent reports alive a task we consider gone or going.
KILL_ON_REPORT = {
    (source, alive)
    for source in (S.FINISHED, S.FAILED, S.KILLED, S.LOST, DELETED, S.KILLING, S.PREEMPTING,
                   S.RESTARTING, S.DRAINING)
    for alive in (S.ASSIGNED, S.STARTING, S.RUNNING)
}  # fmt: skip

PAIRS = list(itertools.product(ALL_STATES, ALL_STATES))


@pytest.mark.parametrize("facts", FLAVOURS, ids=lambda f: repr(f)[9:-1])
@pytest.mark.parametrize(("source", "target"), PAIRS, ids=lambda s: getattr(s, "value", s))
def test_all_transitions(source: State, target: State, facts: TaskFacts) -> None:
    result = transition(source, target, facts)
    if source == target:
        assert (result.outcome, result.actions) == (Outcome.NOOP, ())
    elif (source, target) in LEGAL:
        expected = LEGAL[source, target]
        actions = expected(facts) if callable(expected) else expected
        assert (result.outcome, result.actions) == (Outcome.APPLIED, actions)
    elif (source, target) in KILL_ON_REPORT:
        assert (result.outcome, result.actions) == (Outcome.ILLEGAL, (KILL,))
    else:
        assert (result.outcome, result.actions) == (Outcome.ILLEGAL, ())


def test_the_table_covers_every_pair() -> None:
    assert len(PAIRS) == 16 * 16
    assert not set(LEGAL) & KILL_ON_REPORT


def test_actions_come_in_the_fixed_order() -> None:
    for source, target in PAIRS:
        for facts in FLAVOURS:
            actions = transition(source, target, facts).actions
            assert list(actions) == sorted(actions)


def test_terminal_states_never_change() -> None:
    for source in (S.FINISHED, S.FAILED, S.KILLED, S.LOST):
        for target in S:
            assert not transition(source, target).applied


@pytest.mark.parametrize(
    ("max_failures", "failures_so_far", "retried"),
    [(1, 0, False), (2, 0, True), (2, 1, False), (3, 1, True), (3, 2, False), (-1, 1000, True)],
)
def test_the_failure_limit_as_aurora_counts_it(
    max_failures: int, failures_so_far: int, retried: bool
) -> None:
    facts = TaskFacts(max_task_failures=max_failures, failure_count=failures_so_far)
    assert (RESCHED in transition(S.RUNNING, S.FAILED, facts).actions) is retried


def test_state_groups_are_auroras() -> None:
    from daybreak.model import task_state as groups

    assert {S.FAILED, S.FINISHED, S.KILLED, S.LOST} == groups.TERMINAL_STATES
    assert {
        S.ASSIGNED, S.DRAINING, S.KILLING, S.PENDING, S.PREEMPTING, S.RESTARTING, S.RUNNING,
        S.STARTING, S.PARTITIONED, S.THROTTLED,
    } == groups.ACTIVE_STATES  # fmt: skip
    assert {
        S.ASSIGNED, S.DRAINING, S.KILLING, S.PREEMPTING, S.RESTARTING, S.RUNNING,
        S.PARTITIONED, S.STARTING,
    } == groups.AGENT_ASSIGNED_STATES  # fmt: skip
    assert {
        S.KILLING, S.PREEMPTING, S.RESTARTING, S.DRAINING, S.PARTITIONED, S.RUNNING,
    } == groups.LIVE_STATES  # fmt: skip
    assert {
        S.ASSIGNED,
        S.PREEMPTING,
        S.RESTARTING,
        S.KILLING,
        S.DRAINING,
    } == groups.TRANSIENT_STATES
    assert groups.ACTIVE_STATES | groups.TERMINAL_STATES | {S.INIT} == set(S)
