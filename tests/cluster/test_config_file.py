"""`daybreak scheduler --config FILE` and `daybreak agent --config FILE` (issue 19, item 3): every
flag has a key, the command line wins over the file, and a wrong key or value is named with
its file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import running_cluster


def daybreak(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daybreak", *args], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_a_scheduler_and_an_agent_run_from_config_files(tmp_path: Path) -> None:
    scheduler_toml = tmp_path / "scheduler.toml"
    # The file's cluster name loses to the harness's --cluster; its job limit holds.
    scheduler_toml.write_text('cluster = "from-file"\nmax-instances-per-job = 3\n'
                              'usage_history_step = "30s"\n')  # fmt: skip
    agent_toml = tmp_path / "agent.toml"
    agent_toml.write_text('cgroups = false\nattributes = "zone=from-file"\n')
    # Its --attributes flag, given by the harness, wins over the file's.
    with running_cluster("sqlite", tmp_path, "--config", str(scheduler_toml),
                         agent_args=("--config", str(agent_toml)), agents=1) as local:  # fmt: skip
        too_many = local.api.post("/jobs", content=msgspec.json.encode(local.job(instances=4)))
        assert too_many.status_code == 400 and "3" in too_many.text, too_many.text
        spec = local.job(instances=2)
        assert local.api.post("/jobs", content=msgspec.json.encode(spec)).status_code == 201
        local.wait_for_states(spec.key, TaskState.RUNNING, 2)


def test_a_wrong_key_or_value_is_named_with_its_file(tmp_path: Path) -> None:
    config = tmp_path / "scheduler.toml"
    config.write_text('heartbeat-intervall = "1s"\n')
    unknown = daybreak("scheduler", "--config", str(config))
    assert unknown.returncode != 0
    assert f"{config}: unknown key 'heartbeat-intervall'; the keys are: " in unknown.stderr
    config.write_text('port = "eighty"\n')
    wrong = daybreak("scheduler", "--config", str(config))
    assert f"{config}: port: 'eighty' is not a valid integer" in wrong.stderr
    config.write_text("port = \n")
    broken = daybreak("scheduler", "--config", str(config))
    assert f"{config} is not TOML" in broken.stderr
    agent = tmp_path / "agent.toml"
    agent.write_text('cgroups = "yes"\n')
    flag = daybreak("agent", "--config", str(agent), "--scheduler", "http://127.0.0.1:1")
    assert f"{agent}: cgroups: true or false, not 'yes'" in flag.stderr
