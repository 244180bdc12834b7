"""The API's task routes, answered by the task's agent: processes, files, and following one."""

from __future__ import annotations

import json

import httpx
import msgspec

from daybreak.model.api import SandboxListing, TaskDetails
from tests.cluster.conftest import wait_for
from tests.ui.conftest import UiCluster

STDOUT = ".logs/main/0/stdout"


def test_a_task_says_what_its_processes_do(ui: UiCluster) -> None:
    response = ui.local.api.get(f"/tasks/{ui.task_id}")
    assert response.status_code == 200, response.text
    details = msgspec.json.decode(response.content, type=TaskDetails)
    assert details.task.task_id == ui.task_id
    assert details.phase == "ACTIVE"
    [process] = details.processes
    assert (process.name, process.state) == ("main", "RUNNING")
    assert process.runs[0].run == 0 and process.runs[0].exit_code is None


def test_files_are_listed_and_read(ui: UiCluster) -> None:
    listing = msgspec.json.decode(
        ui.local.api.get(f"/tasks/{ui.task_id}/files", params={"path": ".logs/main/0"}).content,
        type=SandboxListing,
    )
    assert STDOUT in {entry.path for entry in listing.entries}

    def first_line() -> httpx.Response | None:
        response = ui.local.api.get(
            f"/tasks/{ui.task_id}/file", params={"path": STDOUT, "offset": 0, "length": 7}
        )
        assert response.status_code == 200, response.text
        return response if response.content else None  # not written yet

    response = wait_for(first_line, "the first line of output")
    assert response.content == b"tick-1\n"
    assert int(response.headers["x-file-size"]) >= 7


def test_bad_paths_and_tasks_are_refused_with_the_reason(ui: UiCluster) -> None:
    outside = ui.local.api.get(f"/tasks/{ui.task_id}/file", params={"path": "../../agent.json"})
    assert outside.status_code == 404
    assert "outside the sandbox" in outside.json()["error"]
    unknown = ui.local.api.get("/tasks/no-such-task")
    assert unknown.status_code == 404
    assert "no task 'no-such-task'" in unknown.json()["error"]


def follow(
    ui: UiCluster, headers: dict[str, str], offset: int, lines: int
) -> list[dict[str, object]]:
    """The first `lines` tick lines the follow stream sends, as its `output` events."""
    events: list[dict[str, object]] = []
    text = ""
    with httpx.stream(
        "GET", f"{ui.local.scheduler.url}/api/v1/tasks/{ui.task_id}/file/follow",
        params={"path": STDOUT, "offset": offset}, headers=headers, timeout=20,
    ) as stream:  # fmt: skip
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "output":
                chunk = json.loads(line.removeprefix("data: "))
                events.append(chunk)
                text += chunk["text"]
                if text.count("\n") >= lines:
                    return events
    raise AssertionError(f"the stream ended after {text!r}")


def test_a_growing_file_is_followed_and_resumed(ui: UiCluster) -> None:
    events = follow(ui, {}, offset=0, lines=3)
    text = "".join(str(e["text"]) for e in events)
    assert text.startswith("tick-1\ntick-2\ntick-3\n")
    resumed = follow(ui, {"Last-Event-ID": "7"}, offset=0, lines=1)
    assert resumed[0]["offset"] == 7
    assert str(resumed[0]["text"]).startswith("tick-2\n")


def test_following_a_missing_file_fails_at_once(ui: UiCluster) -> None:
    response = ui.local.api.get(f"/tasks/{ui.task_id}/file/follow", params={"path": "no-such-file"})
    assert response.status_code == 404
    assert "no such file" in response.json()["error"]
