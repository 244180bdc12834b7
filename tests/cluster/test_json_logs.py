"""`--log-format json` (issue 19, item 3): the scheduler and the agent write one JSON object a
line, and the scheduler a line per task transition with fixed keys."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import running_cluster


def json_lines(path: Path) -> list[dict[str, object]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line, or the test fails here


def test_every_line_is_json_and_each_transition_has_its_keys(tmp_path: Path) -> None:
    with running_cluster("sqlite", tmp_path, "--log-format", "json",
                         agent_args=("--log-format", "json"), agents=1) as local:  # fmt: skip
        agent = local.agents[0]
        spec = local.job(instances=1)
        assert local.api.post("/jobs", content=msgspec.json.encode(spec)).status_code == 201
        local.wait_for_states(spec.key, TaskState.RUNNING, 1)
    lines = json_lines(tmp_path / "scheduler.log")
    assert all({"ts", "level", "logger"} <= line.keys() for line in lines)
    transitions = [line for line in lines if line.get("event") == "task_state"]
    states = [(line["previous"], line["state"]) for line in transitions]
    assert states == [(None, "PENDING"), ("PENDING", "ASSIGNED"), ("ASSIGNED", "RUNNING")]
    for line in transitions:
        assert line["job"] == str(spec.key) and line["instance"] == 0
        assert str(line["task"]).endswith(tuple("0123456789abcdef"))
    assert transitions[-1]["agent"] == "agent-1"
    assert any(line.get("event") == "job_created" for line in lines)
    agent_lines = json_lines(agent.log)
    assert agent_lines and all("level" in line for line in agent_lines)
