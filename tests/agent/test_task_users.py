"""Whom a task runs as when the agent is root: its role's Unix account, else the user the
operator named with `--task-user`, else nobody at all: the task is refused, never run as root
unasked (Aurora refused such tasks too)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daybreak.model.jobspec import Process
from daybreak.model.task_state import TaskState
from tests.agent.conftest import AgentFactory, AgentProcess, job, remove_cgroups, wait_for_file
from tests.agent.fake_scheduler import FakeScheduler

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only a root agent switches users")


def test_a_role_without_an_account_is_refused_unless_a_task_user_is_named(
    scheduler: FakeScheduler, tmp_path: Path, task_prefix: str
) -> None:
    agent = AgentProcess(scheduler.url, tmp_path / "agent")
    at = agent.args.index("--task-user")
    del agent.args[at : at + 2]  # as an operator who named none
    agent.start()
    try:
        scheduler.wait_for_hello()
        task_id = f"{task_prefix}-rootless"
        scheduler.launch(task_id, job(Process(name="main", cmdline="touch /tmp/ran-as-root")))
        update = scheduler.wait_for_state(task_id, TaskState.FAILED)
        assert update.message is not None
        assert "role 'nobody-here' has no Unix account on agent-test" in update.message
        assert "--task-user USER" in update.message
        assert not agent.task_dir(task_id).exists()  # nothing was prepared, nothing ran
    finally:
        agent.stop()
        remove_cgroups(agent.work_dir)


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A work directory every user can reach (pytest's own is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="daybreak-task-user-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_a_role_without_an_account_runs_as_the_named_task_user(
    scheduler: FakeScheduler, reachable_dir: Path, task_prefix: str
) -> None:
    agent = AgentProcess(scheduler.url, reachable_dir / "agent", "--task-user", "nobody")
    agent.start()
    try:
        scheduler.wait_for_hello()
        task_id = f"{task_prefix}-as-nobody"
        scheduler.launch(task_id, job(Process(name="main", cmdline="id -u")))
        scheduler.wait_for_state(task_id, TaskState.FINISHED)
        stdout = agent.task_dir(task_id) / ".logs" / "main" / "0" / "stdout"
        wait_for_file(stdout)
        assert stdout.read_text().strip() == str(pwd.getpwnam("nobody").pw_uid)
    finally:
        agent.stop()
        remove_cgroups(agent.work_dir)


def test_a_task_user_who_cannot_reach_the_work_directory_is_told_where(
    scheduler: FakeScheduler, start_agent: AgentFactory, tmp_path: Path, task_prefix: str
) -> None:
    start_agent("--task-user", "nobody")  # under pytest's directory, private to root
    task_id = f"{task_prefix}-blocked"
    scheduler.launch(task_id, job(Process(name="main", cmdline="id -u")))
    update = scheduler.wait_for_state(task_id, TaskState.FAILED)
    assert update.message is not None
    private = next(p for p in (*reversed(tmp_path.parents), tmp_path) if not p.stat().st_mode & 1)
    assert f"the task would run as nobody, who cannot enter {private} (mode drwx" in update.message


def test_a_task_user_that_does_not_exist_stops_the_start(tmp_path: Path) -> None:
    agent = AgentProcess("http://127.0.0.1:9", tmp_path / "agent", "--task-user", "no-such-u")
    agent.start()
    assert agent.process is not None
    assert agent.process.wait(30) != 0
    assert "--task-user no-such-u: no such user on this machine" in agent.log.read_text()
