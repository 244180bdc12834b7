"""Aurora's Docker examples, unchanged, on `daybreak up --registry` against a local registry:
the names they use (`debian:slim-stretch`, `python:2.7`, `library/python:2.7`) are stand-ins
built here from busybox and pushed to it, as a newcomer without Docker Hub would mirror them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daybreak.model.api import JobStatus
from daybreak.model.task_state import TaskState
from tests.agent.conftest import kill_tasks_where, remove_cgroups
from tests.cluster.conftest import free_port, wait_for
from tests.conftest import EXAMPLES, run_cli
from tests.images import build_image, push, registry

STAND_IN = 'NAME="a stand-in built from busybox"\n'


@pytest.fixture
def data() -> Iterator[Path]:
    """The dev cluster's directory, where the task's user (www-data) may reach its sandbox."""
    directory = Path(tempfile.mkdtemp(prefix="daybreak-devcluster-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def status(key: str) -> JobStatus:
    import msgspec

    shown = run_cli(["job", "status", key, "--json"])
    assert shown.code == 0, shown.err
    return msgspec.json.decode(shown.out, type=JobStatus)


def test_aurora_docker_examples_run_on_the_dev_cluster_against_a_local_registry(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with registry(tmp_path / "registry") as address:
        stand_in = build_image(tmp_path / "stand-in", {"/etc/os-release": STAND_IN})
        for name in ("debian:slim-stretch", "python:2.7", "library/python:2.7",
                     "python:3.11-slim", "busybox"):  # fmt: skip
            push(stand_in, address, name)
        port = free_port()
        # As a person starts it: its processes are not this test's children.
        up = subprocess.run(
            [sys.executable, "-m", "daybreak", "up", "--detach", "--agents", "1", "--port",
             str(port), "--data", str(data), "--registry", address],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert up.returncode == 0, up.stderr
        try:
            clusters = json.loads((tmp_path / "config" / "clusters.json").read_text())
            assert clusters[0]["docker_registry"] == f"http://{address}"
            for file, name in (
                ("hello_docker_image.aurora", "hello_docker_image"),
                ("hello_docker_engine.aurora", "hello_docker_engine"),
                ("hello_docker_engine.aurora", "hello_docker_engine_binding"),
                ("containers.aurora", "docker"),
                ("containers.aurora", "mesos_docker"),
                ("containers.aurora", "wrapped"),
            ):
                key = f"devcluster/www-data/devel/{name}"
                created = run_cli(["job", "create", key, str(EXAMPLES / file),
                                   "--wait-until", "RUNNING"])  # fmt: skip
                assert created.code == 0, created.err
                (task,) = status(key).active
                assert task.state is TaskState.RUNNING and task.sandbox is not None
                if name.startswith("hello"):
                    stdout = Path(task.sandbox).parent / ".logs" / "hello" / "0" / "stdout"
                    wait_for(lambda: "hello world" in stdout.read_text(), "hello world")  # noqa: B023
                ran = run_cli(["task", "run", key, "cat /etc/os-release; ls /data || true"])
                assert ran.code == 0 and STAND_IN.strip() in ran.out, ran
                if name == "mesos_docker":  # the volume, read-only
                    assert "GPL-3" in ran.out, ran.out
                spec = status(key).spec
                assert spec is not None and spec.container is not None
                if name.endswith("_binding"):  # pinned by `job create`
                    assert f"{address}/library/python@sha256:" in str(spec.container)
                # One cpu each, on a machine that may have two: one at a time.
                assert run_cli(["job", "killall", key]).code == 0
        finally:
            run_cli(["down", "--data", str(data)])
            ours = (
                "hello_docker_image",
                "hello_docker_engine",
                "docker",
                "mesos_docker",
                "wrapped",
            )
            kill_tasks_where(lambda task_id: any(f"-www-data-devel-{name}-" in task_id
                                                 for name in ours))  # fmt: skip
            remove_cgroups(data / "agent-1")
