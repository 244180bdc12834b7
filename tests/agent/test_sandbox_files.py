"""The sandbox file API: list, read, follow, and never a byte from outside the task."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from daybreak.model import agent_protocol as protocol
from daybreak.model.jobspec import Process
from daybreak.model.task_state import TaskState
from tests.agent.conftest import AgentProcess, job, wait_for_file
from tests.agent.fake_scheduler import FakeScheduler

WRITER = (
    "ln -s /etc/passwd leak; ln -s / everything; echo first; "
    "until [ -e more ]; do sleep 0.02; done; echo second; echo ok > done; exec sleep 1000"
)


@pytest.fixture
def task_id(scheduler: FakeScheduler, agent: AgentProcess, task_prefix: str) -> str:
    task_id = f"{task_prefix}-files"
    scheduler.launch(task_id, job(Process(name="writer", cmdline=WRITER)))
    scheduler.wait_for_state(task_id, TaskState.RUNNING)
    wait_for_file(agent.task_dir(task_id) / ".logs" / "writer" / "0" / "stdout")
    return task_id


def read(
    task_id: str, path: str, offset: int = 0, wait_ms: int = 0
) -> Callable[[int], protocol.Message]:
    def build(request_id: int) -> protocol.ReadFile:
        return protocol.ReadFile(
            request_id=request_id, task_id=task_id, path=path, offset=offset, wait_ms=wait_ms
        )

    return build


def test_listing_and_reading_the_sandbox(scheduler: FakeScheduler, task_id: str) -> None:
    listing = scheduler.request(
        lambda rid: protocol.ListFiles(request_id=rid, task_id=task_id, path="")
    )
    assert isinstance(listing, protocol.FileList)
    names = {entry.path: entry.is_dir for entry in listing.entries}
    assert names["sandbox"] is True and names["checkpoint"] is False
    stdout = ".logs/writer/0/stdout"
    chunk = scheduler.request(read(task_id, stdout, offset=2))
    assert isinstance(chunk, protocol.FileChunk)
    assert (chunk.data, chunk.offset, chunk.size) == (b"rst\n", 2, 6)


def test_following_a_file_waits_for_what_comes_next(
    scheduler: FakeScheduler, agent: AgentProcess, task_id: str
) -> None:
    stdout = ".logs/writer/0/stdout"
    asked = scheduler.ask(read(task_id, stdout, offset=6, wait_ms=10_000))
    (agent.task_dir(task_id) / "sandbox" / "more").touch()
    chunk = scheduler.reply(asked)
    assert isinstance(chunk, protocol.FileChunk)
    assert chunk.data == b"second\n"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../../agent.json", "outside the sandbox"),
        ("sandbox/../../../outbox", "outside the sandbox"),
        ("/etc/passwd", "give a path relative to the sandbox"),
        ("sandbox/leak", "outside the sandbox"),
        ("sandbox/everything/etc/passwd", "outside the sandbox"),
        ("sandbox/nothing-here", "no such file in the sandbox"),
        ("sandbox", "not a regular file"),
    ],
)
def test_no_path_leaves_the_sandbox(
    scheduler: FakeScheduler, task_id: str, path: str, problem: str
) -> None:
    reply = scheduler.request(read(task_id, path))
    assert isinstance(reply, protocol.RequestFailed)
    assert problem in reply.error


def test_listing_through_a_symlink_out_is_refused(scheduler: FakeScheduler, task_id: str) -> None:
    reply = scheduler.request(
        lambda rid: protocol.ListFiles(request_id=rid, task_id=task_id, path="sandbox/everything")
    )
    assert isinstance(reply, protocol.RequestFailed)
    assert "outside the sandbox" in reply.error


def test_an_unknown_task_has_no_files(scheduler: FakeScheduler, agent: AgentProcess) -> None:
    reply = scheduler.request(
        lambda rid: protocol.ListFiles(request_id=rid, task_id="nope", path="")
    )
    assert isinstance(reply, protocol.RequestFailed)
    assert reply.error.startswith("no task nope on agent agent-test-")


def test_an_agent_request_that_fails_unexpectedly_is_answered_with_the_error(
    scheduler: FakeScheduler, task_id: str
) -> None:
    reply = scheduler.request(read(task_id, ".logs/writer/0/stdout", offset=2**64))
    assert isinstance(reply, protocol.RequestFailed)
    assert reply.error.startswith("the agent failed to answer: OverflowError")
