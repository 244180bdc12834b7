"""Fail-stop: a decision that raises, or a write the store refuses, ends the scheduler process
with a non-zero status and the cause in its log, never a silent hang. Real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.server import EXIT_STOPPED
from daybreak.store.store import engine_url
from tests.cluster.conftest import SchedulerProcess, wait_for
from tests.databases import BACKENDS, store_url

STOPPED_WITHIN_S = 20


def job(name: str) -> bytes:
    spec = JobSpec(
        key=JobKey(cluster="test", role="www", environment="prod", name=name),
        task=Task(name=name, processes=(Process(name="main", cmdline="sleep 1"),),
                  resources=Resources(cpu=0.1, ram_mb=16, disk_mb=16)),
    )  # fmt: skip
    return msgspec.json.encode(spec)


def test_a_decision_that_raises_stops_the_process_with_the_command_in_its_log(
    tmp_path: Path,
) -> None:
    """A bug in the core, injected: the scheduler exits rather than run on a state that may be
    half changed."""
    log = tmp_path / "scheduler.log"
    scheduler = SchedulerProcess(f"sqlite:///{tmp_path / 'db'}", log)
    script = textwrap.dedent(f"""
        import sys
        from daybreak.core import state
        from daybreak.core.commands import CreateJob

        def broken(*args):
            raise RuntimeError("injected bug")

        state.HANDLERS[CreateJob] = broken
        from daybreak.main import main
        sys.argv = ["daybreak", *{scheduler.args[3:]!r}]
        main()
    """)
    with log.open("ab") as output:
        scheduler.process = subprocess.Popen([sys.executable, "-c", script],
                                             stdout=output, stderr=output)  # fmt: skip
    try:
        wait_for(scheduler._healthy, "the scheduler")
        response = httpx.post(scheduler.url + "/api/v1/jobs", content=job("web"), timeout=10)
        assert response.status_code == 503
        assert "injected bug" in response.json()["error"]
        assert scheduler.process.wait(STOPPED_WITHIN_S) == EXIT_STOPPED
    finally:
        scheduler.stop()
    text = log.read_text()
    assert "event=decision_failed command=CreateJob(spec=JobSpec(" in text
    assert "RuntimeError: injected bug" in text
    assert "event=scheduler_stopped" in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_write_the_store_refuses_stops_the_process_and_a_restart_finds_what_was_said(
    backend: str, tmp_path: Path
) -> None:
    """Black box: the jobs table goes away under a running scheduler (as a broken disk or a
    lost database would make writes fail). The create is refused with 503, the process exits,
    and a scheduler started on the mended store has the first job and not the second."""
    with store_url(backend, tmp_path) as url:
        engine = sa.create_engine(engine_url(url))
        try:
            refused_then_restarted(url, engine, tmp_path)
        finally:
            engine.dispose()


def refused_then_restarted(url: str, engine: sa.Engine, tmp_path: Path) -> None:
    log = tmp_path / "scheduler.log"
    scheduler = SchedulerProcess(url, log).start()
    try:
        assert httpx.post(scheduler.url + "/api/v1/jobs", content=job("kept")).status_code == 201
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE jobs RENAME TO jobs_away"))
        response = httpx.post(scheduler.url + "/api/v1/jobs", content=job("lost"), timeout=10)
        assert response.status_code == 503
        assert "store refused a write" in response.json()["error"]
        assert scheduler.process is not None
        assert scheduler.process.wait(STOPPED_WITHIN_S) == EXIT_STOPPED
        assert "event=scheduler_stopped" in log.read_text()
    finally:
        scheduler.stop()
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE jobs_away RENAME TO jobs"))
    again = SchedulerProcess(url, tmp_path / "again.log").start()
    try:
        jobs = httpx.get(again.url + "/api/v1/jobs").json()["jobs"]
        assert [j["key"]["name"] for j in jobs] == ["kept"]
    finally:
        again.stop()
