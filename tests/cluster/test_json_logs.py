"""`--log-format json` (issue 19, item 3): the scheduler and the agent write one JSON object a
line, and the scheduler a line per task transition with fixed keys."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import LocalCluster, SchedulerProcess, unique_role


def json_lines(path: Path) -> list[dict[str, object]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line, or the test fails here


def test_every_line_is_json_and_each_transition_has_its_keys(tmp_path: Path) -> None:
    scheduler = SchedulerProcess(f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "scheduler.log",
                                 "--log-format", "json")  # fmt: skip
    local = LocalCluster(scheduler, tmp_path, unique_role(), agent_args=("--log-format", "json"))
    try:
        scheduler.start()
        agent = local.add_agent()
        spec = local.job(instances=1)
        assert local.api.post("/jobs", content=msgspec.json.encode(spec)).status_code == 201
        local.wait_for_states(spec.key, TaskState.RUNNING, 1)
    finally:
        local.api.close()
        for started in local.agents:
            started.stop()
        scheduler.stop()
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
