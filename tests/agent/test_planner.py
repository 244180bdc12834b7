"""Thermos' planner rules, decided without a process or a clock."""

from __future__ import annotations

import pytest

from daybreak.agent.executor.planner import InvalidScheduleError, Phase, Step, TaskPlanner
from daybreak.model.jobspec import Process, Task
from tests.agent.conftest import job

S = 1000  # ms


def task(
    *processes: Process,
    orders: tuple[tuple[str, ...], ...] = (),
    max_failures: int = 1,
    max_concurrency: int = 0,
    finalization_wait: int = 30,
) -> Task:
    spec = job(
        *processes,
        orders=orders,
        max_failures=max_failures,
        max_concurrency=max_concurrency,
        finalization_wait=finalization_wait,
    )
    return spec.task


def p(name: str, **fields: object) -> Process:
    return Process(name=name, cmdline="true", **fields)  # type: ignore[arg-type]


def phase_of(planner: TaskPlanner) -> Phase:
    """Read afresh each time (mypy would otherwise keep an earlier assertion's narrowing)."""
    return planner.phase


def run(planner: TaskPlanner, now: int) -> Step:
    step = planner.step(now)
    for name in step.start:
        planner.started(name)
    return step


def test_unordered_processes_start_together_and_ordered_ones_wait() -> None:
    planner = TaskPlanner(task(p("a"), p("b"), p("c"), orders=(("a", "b"),)))
    assert set(run(planner, 0).start) == {"a", "c"}
    assert run(planner, 0).start == ()
    planner.exited("a", True, 10)
    assert run(planner, 10).start == ("b",)


def test_max_concurrency_caps_running_processes() -> None:
    planner = TaskPlanner(task(p("a"), p("b"), p("c"), max_concurrency=2))
    assert len(run(planner, 0).start) == 2
    planner.exited(planner.running[0], True, 5)
    assert len(run(planner, 5).start) == 1


def test_a_failed_run_waits_min_duration_before_the_next() -> None:
    planner = TaskPlanner(task(p("a", max_failures=3, min_duration=5)))
    run(planner, 0)
    planner.exited("a", False, 1 * S)
    step = run(planner, 2 * S)
    assert step.start == () and step.wake_at_ms == 6 * S
    assert run(planner, 6 * S).start == ("a",)
    assert planner.run_number("a") == 2


def test_failures_up_to_the_limit_then_the_process_and_task_fail() -> None:
    planner = TaskPlanner(task(p("a", max_failures=2, min_duration=0)))
    run(planner, 0)
    planner.exited("a", False, 1, "exit status 1")
    assert run(planner, 1).start == ("a",)
    planner.exited("a", False, 2, "exit status 4")
    assert run(planner, 2) == Step()
    assert phase_of(planner) is Phase.FAILED
    assert planner.message == "Process 'a' failed 2 time(s); last run exit status 4"


def test_zero_max_failures_retries_forever() -> None:
    planner = TaskPlanner(task(p("a", max_failures=0, min_duration=0)))
    for now in range(100):
        assert run(planner, now).start == ("a",)
        planner.exited("a", False, now)
    assert phase_of(planner) is Phase.ACTIVE


def test_a_daemon_runs_again_after_success() -> None:
    planner = TaskPlanner(task(p("d", daemon=True, min_duration=0), p("main")))
    run(planner, 0)
    planner.exited("d", True, 1)
    assert run(planner, 1).start == ("d",)


def test_ephemeral_processes_do_not_hold_the_task_open_and_are_stopped() -> None:
    planner = TaskPlanner(task(p("main"), p("side", ephemeral=True)))
    run(planner, 0)
    planner.exited("main", True, 10)
    step = run(planner, 10)
    assert phase_of(planner) is Phase.CLEANING and step.terminate
    planner.exited("side", False, 20)  # stopped on purpose: not a failure
    assert run(planner, 20) == Step()
    assert phase_of(planner) is Phase.SUCCESS


def test_an_ephemeral_process_past_its_failures_counts_as_finished() -> None:
    planner = TaskPlanner(task(p("e", ephemeral=True, min_duration=0)))
    run(planner, 0)
    planner.exited("e", False, 1)
    run(planner, 1)
    assert phase_of(planner) is Phase.SUCCESS


def test_the_task_tolerates_failed_processes_below_its_max_failures() -> None:
    planner = TaskPlanner(task(p("a"), p("b"), max_failures=2))
    run(planner, 0)
    planner.exited("a", False, 1)
    planner.exited("b", True, 2)
    run(planner, 2)
    assert phase_of(planner) is Phase.SUCCESS


def test_a_failed_predecessor_deadlocks_the_task_into_failure() -> None:
    planner = TaskPlanner(task(p("a"), p("b"), orders=(("a", "b"),), max_failures=0))
    run(planner, 0)
    planner.exited("a", False, 1, "exit status 2")
    run(planner, 1)
    assert phase_of(planner) is Phase.FAILED
    assert planner.message == "Process 'a' failed 1 time(s); last run exit status 2"


def test_kill_stops_everything_then_runs_final_processes_in_order() -> None:
    planner = TaskPlanner(
        task(p("main"), p("f1", final=True), p("f2", final=True), orders=(("f1", "f2"),))
    )
    run(planner, 0)
    planner.request_kill("Killed by alice")
    step = run(planner, 10)
    assert step.terminate and phase_of(planner) is Phase.CLEANING
    assert step.wake_at_ms == 10 + 30 * S  # finalization_wait
    assert run(planner, 11) == Step(wake_at_ms=10 + 30 * S)  # SIGTERM only once
    planner.exited("main", False, 12)
    assert run(planner, 12).start == ("f1",)
    planner.exited("f1", True, 13)
    assert run(planner, 13).start == ("f2",)
    planner.exited("f2", True, 14)
    assert run(planner, 14) == Step()
    assert phase_of(planner) is Phase.KILLED and planner.message == "Killed by alice"


def test_a_kill_with_grace_waits_before_signalling_and_restarts_nothing() -> None:
    planner = TaskPlanner(task(p("web", daemon=True), p("side"), finalization_wait=5))
    run(planner, 0)
    planner.request_kill("Failed health check! down", Phase.FAILED, grace_ms=12 * S)
    assert run(planner, 10) == Step(wake_at_ms=10 + 12 * S)  # no SIGTERM yet
    planner.exited("web", True, 20)  # it took the hint; a daemon, yet not run again
    assert run(planner, 20) == Step(wake_at_ms=10 + 12 * S)
    assert planner.terminate_now(30)
    assert not planner.terminate_now(31)  # once over, the grace period stays over
    step = run(planner, 30)
    assert step.terminate and step.wake_at_ms == 30 + 5 * S
    planner.exited("side", False, 40)
    run(planner, 40)
    assert phase_of(planner) is Phase.FAILED
    assert planner.message == "Failed health check! down"


def test_everything_exiting_during_the_grace_period_ends_the_task_at_once() -> None:
    planner = TaskPlanner(task(p("web")))
    run(planner, 0)
    planner.request_kill("stop", grace_ms=10 * S)
    run(planner, 0)
    planner.exited("web", True, 5)
    assert run(planner, 5) == Step()
    assert phase_of(planner) is Phase.KILLED


def test_a_regular_process_ordered_before_a_final_one_is_simply_run_first() -> None:
    planner = TaskPlanner(task(p("a"), p("f", final=True), orders=(("a", "f"),)))
    assert run(planner, 0).start == ("a",)
    planner.exited("a", True, 1)
    assert run(planner, 1).start == ("f",)


def test_past_finalization_wait_everything_is_killed() -> None:
    planner = TaskPlanner(task(p("main"), p("f", final=True), finalization_wait=2))
    run(planner, 0)
    planner.request_kill("stop")
    run(planner, 0)
    assert run(planner, 2 * S) == Step(kill=True)
    assert phase_of(planner) is Phase.KILLED


def test_strays_keep_cleaning_going_until_they_are_gone() -> None:
    planner = TaskPlanner(task(p("main")))
    run(planner, 0)
    planner.exited("main", True, 1)
    assert planner.step(1, strays_alive=True).terminate
    assert phase_of(planner) is Phase.CLEANING
    assert planner.step(2, strays_alive=False) == Step()
    assert phase_of(planner) is Phase.SUCCESS


def test_resume_puts_a_planner_back_where_its_checkpoint_left_it() -> None:
    planner = TaskPlanner(task(p("main"), p("f", final=True)))
    planner.resume(Phase.CLEANING, Phase.KILLED, deadline_ms=5 * S)
    assert run(planner, 1).start == ("f",)
    assert run(planner, 5 * S) == Step(kill=True)
    assert phase_of(planner) is Phase.KILLED


def test_resume_keeps_a_grace_period_that_was_running() -> None:
    planner = TaskPlanner(task(p("main")))
    run(planner, 0)
    planner.resume(Phase.CLEANING, Phase.KILLED, deadline_ms=40 * S, terminate_at_ms=10 * S)
    assert run(planner, 1) == Step(wake_at_ms=10 * S)
    assert run(planner, 10 * S).terminate


@pytest.mark.parametrize(
    ("processes", "orders", "problem"),
    [
        ((p("a"), p("b")), (("a", "b"), ("b", "a")), "ordering cycle among a, b"),
        ((p("a"),), (("a", "ghost"),), "order() names 'ghost', which is not a process"),
        ((p("a"), p("f", final=True)), (("f", "a"),), "final process 'f' cannot run before"),
    ],
)
def test_impossible_orders_are_refused(
    processes: tuple[Process, ...], orders: tuple[tuple[str, ...], ...], problem: str
) -> None:
    with pytest.raises(InvalidScheduleError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        TaskPlanner(task(*processes, orders=orders))
