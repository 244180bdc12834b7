"""`daybreak admin install-units` writes systemd units that systemd itself accepts (every key
known, every value parsed), start this installation's daybreak with --config, and leave an
agent's tasks running when the agent stops (issue 19, item 3)."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_units_are_valid_for_systemd_and_start_this_daybreak(tmp_path: Path) -> None:
    written = run_cli(["admin", "install-units", "--dir", str(tmp_path), "--config-dir",
                       "/etc/dbk", "--user", "sched"])  # fmt: skip
    assert written.code == 0, written.err
    scheduler = unit(tmp_path / "daybreak-scheduler.service")["Service"]
    agent = unit(tmp_path / "daybreak-agent.service")["Service"]
    assert scheduler["ExecStart"] == (
        f"{sys.executable} -m daybreak scheduler --config /etc/dbk/scheduler.toml"
    )
    assert agent["ExecStart"] == f"{sys.executable} -m daybreak agent --config /etc/dbk/agent.toml"
    assert scheduler["User"] == "sched" and scheduler["NoNewPrivileges"] == "yes"
    assert scheduler["ExecReload"] == "/bin/kill -HUP $MAINPID"  # a renewed certificate
    assert agent["KillMode"] == "process" and agent["Delegate"] == "yes"
    verified = subprocess.run(
        ["systemd-analyze", "verify", *map(str, sorted(tmp_path.glob("*.service")))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # systemd says what it ignores (an unknown key, a value it cannot parse) on stderr.
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


def test_existing_units_are_kept_unless_forced(tmp_path: Path) -> None:
    assert run_cli(["admin", "install-units", "--dir", str(tmp_path)]).code == 0
    again = run_cli(["admin", "install-units", "--dir", str(tmp_path)])
    assert again.code != 0 and "--force replaces them" in again.err
    assert run_cli(["admin", "install-units", "--dir", str(tmp_path), "--force"]).code == 0
