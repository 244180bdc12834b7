"""Jobs that start jobs: a task calls the API as its role with the credential its agent gives
it, and nothing more; the credential is renewed while the task runs and dies with it."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from daybreak.model.audit import AuditList
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import TaskState
from tests.agent.conftest import wait_for_file
from tests.cluster.conftest import CLUSTER, LocalCluster, wait_for
from tests.cluster.test_security import OPS_TOKEN, bearer, secured_cluster

TTL_S = 3
DAYBREAK = Path(sys.executable).parent / "daybreak"  # the CLI as installed beside the tests


def job_config(path: Path, role: str, name: str) -> Path:
    path.write_text(f"""
jobs = [Job(cluster = '{CLUSTER}', role = '{role}', environment = 'devel', name = '{name}',
            task = Task(name = 'main', processes = [Process(name = 'main', cmdline = 'sleep 600')],
                        resources = Resources(cpu = 0.1, ram = 32*MB, disk = 32*MB)))]
""")
    return path


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[LocalCluster]:
    with secured_cluster("sqlite", tmp_path, "--workload-credential-ttl", f"{TTL_S}s") as local:
        yield local


def test_a_task_creates_a_job_of_its_role_and_is_refused_another_role(
    secured: LocalCluster, tmp_path: Path
) -> None:
    role = secured.role
    child = job_config(tmp_path / "child.aurora", role, "child")
    stranger = job_config(tmp_path / "stranger.aurora", "someone-else", "stranger")
    out = tmp_path / "out"
    out.mkdir()
    # No clusters file, no token: the task finds both in what its agent gave it.
    pipeline = (
        f"{DAYBREAK} job create {CLUSTER}/{role}/devel/child {child} > {out}/mine 2>&1;"
        f" echo $? > {out}/mine.rc;"
        f" {DAYBREAK} job create {CLUSTER}/someone-else/devel/stranger {stranger}"
        f" > {out}/other 2>&1; echo $? > {out}/other.rc; sleep 600"
    )
    parent = secured.job(name="pipeline", instances=1, cmdline=pipeline)
    assert secured.create(parent).status_code == 401  # the test itself holds no credential
    ops = bearer(OPS_TOKEN)
    created = secured.api.post("/jobs", content=msgspec.json.encode(parent), headers=ops)
    assert created.status_code == 201, created.text

    assert wait_for_file(out / "mine.rc").strip() == "0", (out / "mine").read_text()
    assert wait_for_file(out / "other.rc").strip() != "0"
    refusal = (out / "other").read_text()
    assert "may not change jobs of role 'someone-else'" in refusal, refusal
    child_tasks = secured.wait_for_states(
        JobKey(cluster=CLUSTER, role=role, environment="devel", name="child"),
        TaskState.RUNNING,
        1,
    )
    assert child_tasks.active
    assert secured.api.get(f"/jobs/{CLUSTER}/someone-else/devel/stranger").status_code == 404

    # The audit log says which task asked.
    (task,) = secured.status(parent.key).active
    audit = msgspec.json.decode(
        secured.api.get("/audit", headers=ops).content, type=AuditList
    ).records
    who = f"task:{task.task_id}"
    by_task = {(r.entry.status, r.entry.target) for r in audit if r.entry.who == who}
    assert by_task == {
        (201, f"{CLUSTER}/{role}/devel/child"),
        (403, f"{CLUSTER}/someone-else/devel/stranger"),
    }


def test_the_credential_is_renewed_while_the_task_runs_and_dies_with_it(
    secured: LocalCluster,
) -> None:
    parent = secured.job(name="holder", instances=1)
    ops = bearer(OPS_TOKEN)
    created = secured.api.post("/jobs", content=msgspec.json.encode(parent), headers=ops)
    assert created.status_code == 201, created.text
    (task,) = secured.wait_for_states(parent.key, TaskState.RUNNING, 1).active
    token_file = secured.agents[0].task_dir(task.task_id) / ".daybreak" / "token"
    first = wait_for_file(token_file).strip()
    assert token_file.stat().st_mode & 0o777 == 0o600

    def call(credential: str) -> tuple[int, str]:
        # Reads of jobs are open here; the audit log is an admin's: an authenticated task is
        # refused it (403), an unauthenticated caller is asked who it is (401).
        response = secured.api.get("/audit", headers=bearer(credential))
        return response.status_code, response.json()["error"]

    assert call(first) == (403, f"task:{task.task_id} is not an admin")
    renewed = wait_for(
        lambda: (text := token_file.read_text().strip()) != first and text,
        "a fresh credential",
    )
    # The first expires; the one the agent keeps writing does not.
    time.sleep(TTL_S + 1)
    status, error = call(first)
    assert (status, "has expired" in error) == (401, True), error
    current = token_file.read_text().strip()
    assert current != renewed
    assert call(current)[0] == 403

    # Forged: the claims of the current one, with another role, under the same signature.
    prefix, claims, signature = current.split(".")
    forged_claims = claims[:-4] + ("AAAA" if not claims.endswith("AAAA") else "BBBB")
    assert call(f"{prefix}.{forged_claims}.{signature}")[0] == 401

    killed = secured.api.post(f"/jobs/{parent.key}/kill", json={}, headers=ops)
    assert killed.status_code == 200, killed.text
    secured.wait_for_states(parent.key, TaskState.KILLED, 1)
    status, error = call(current)
    assert status == 401 and "dies with its task" in error, error
