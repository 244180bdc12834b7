"""A task's processes as its checkpoint tells them: each run, and a state named as Thermos
named them."""

from __future__ import annotations

from daybreak.agent.executor.checkpoint import AnyRecord, ProcessExited, ProcessForked, TaskView


def fork(process: str, run: int, at_ms: int) -> ProcessForked:
    return ProcessForked(at_ms=at_ms, process=process, run=run, pid=100 + run, start_ticks=1)


def test_processes_are_described_in_the_config_order_with_every_run() -> None:
    view = TaskView()
    records: list[AnyRecord] = [
        fork("setup", 0, 10),
        ProcessExited(at_ms=20, process="setup", run=0, pid=100, exit_code=0),
        fork("flaky", 0, 30),
        ProcessExited(at_ms=40, process="flaky", run=0, pid=100, exit_code=3),
        fork("flaky", 1, 50),
        fork("stopped", 0, 60),
        ProcessExited(
            at_ms=70, process="stopped", run=0, pid=100, exit_code=None, signal=15, stopped=True
        ),
        fork("crashed", 0, 80),
        ProcessExited(at_ms=90, process="crashed", run=0, pid=100, exit_code=None, signal=9),
    ]
    for record in records:
        view.apply(record)
    described = view.describe(["setup", "flaky", "stopped", "crashed", "later"])
    assert [(p.name, p.state, len(p.runs)) for p in described] == [
        ("setup", "SUCCESS", 1),
        ("flaky", "RUNNING", 2),
        ("stopped", "KILLED", 1),
        ("crashed", "FAILED", 1),
        ("later", "WAITING", 0),
    ]
    flaky = described[1]
    assert (flaky.runs[0].exit_code, flaky.runs[0].ended_ms) == (3, 40)
    assert (flaky.runs[1].started_ms, flaky.runs[1].ended_ms) == (50, None)
    assert described[3].runs[0].signal == 9
