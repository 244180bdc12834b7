"""Asking a job's SLA coordinator over real HTTP: what it is sent, and every kind of answer read
as a yes or a no with what it said."""

from __future__ import annotations

import asyncio

import pytest

from daybreak.core.commands import CoordinatorAnswer
from daybreak.core.ready import CoordinatorAsk
from daybreak.model.records import Changes
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TaskState
from daybreak.scheduler.coordinators import Coordinators
from daybreak.scheduler.read_model import ReadModel
from tests.coordinator import Coordinator
from tests.core.builders import job_spec

TASK = ScheduledTask(task_id="t-1", spec=job_spec("store"), instance=3, state=TaskState.RUNNING,
                     agent_id="a1", hostname="h1")  # fmt: skip


def ask(url: str, task_id: str = "t-1", timeout_s: float = 10) -> CoordinatorAnswer:
    view = ReadModel()
    view.apply(Changes(tasks={TASK.task_id: TASK}))
    answers: list[CoordinatorAnswer] = []

    async def run() -> None:
        coordinators = Coordinators(view, answers.append, timeout_s)
        coordinators.ask(CoordinatorAsk(task_id, url, "drain", 5000))
        while not answers:
            await asyncio.sleep(0.01)
        await coordinators.close()

    asyncio.run(run())
    [answer] = answers
    return answer


def test_the_coordinator_is_sent_the_task_and_a_true_is_a_yes() -> None:
    coordinator = Coordinator({"drain": True})
    try:
        answer = ask(coordinator.url)
    finally:
        coordinator.close()
    assert answer == CoordinatorAnswer("t-1", coordinator.url, True, "said yes")
    [(query, body)] = coordinator.asked
    assert query == "task=west%2Fwww%2Fprod%2Fstore%2F3"
    assert body["task"] == "west/www/prod/store/3"
    assert body["forceMaintenanceCountdownMs"] == "5000"
    assert body["taskConfig"]["task_id"] == "t-1" and body["taskConfig"]["hostname"] == "h1"


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        ({"drain": False}, "said no (drain=False)"),
        ({"drain": "yes"}, "said no (drain='yes')"),  # only true is a yes
        ({"other": True}, "said no (drain=None)"),
        ((503, b"busy"), "answered HTTP 503"),
        ((200, b"<html>"), "answered what is not JSON: '<html>'"),
        ((200, b"[true]"), "said no (drain=None)"),
    ],
)
def test_anything_but_true_under_the_status_key_is_a_no(
    reply: dict[str, object] | tuple[int, bytes], detail: str
) -> None:
    coordinator = Coordinator(reply)
    try:
        answer = ask(coordinator.url)
    finally:
        coordinator.close()
    assert (answer.allowed, answer.detail) == (False, detail)


def test_a_coordinator_that_cannot_be_reached_or_a_task_gone_is_a_no() -> None:
    unreachable = ask("http://127.0.0.1:1/sla")
    assert not unreachable.allowed and unreachable.detail.startswith("could not be asked (Connect")
    gone = ask("http://127.0.0.1:1/sla", task_id="t-9")
    assert (gone.allowed, gone.detail) == (False, "was not asked: the task is gone")
