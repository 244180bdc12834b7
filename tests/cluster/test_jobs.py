"""Jobs on a real cluster: created, running, killed, on SQLite and PostgreSQL."""

from __future__ import annotations

import msgspec

from daybreak.model.api import JobList, Problem
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import LocalCluster


def test_a_job_runs_on_the_agents_and_dies_when_killed(cluster: LocalCluster) -> None:
    spec = cluster.job(instances=3)
    response = cluster.create(spec)
    assert response.status_code == 201, response.text

    status = cluster.wait_for_states(spec.key, TaskState.RUNNING, 3)
    assert sorted(t.instance for t in status.active) == [0, 1, 2]
    assert {t.hostname for t in status.active} <= {"agent-1", "agent-2"}
    assert status.spec == spec

    killed = cluster.api.post(f"/jobs/{spec.key}/kill", json={"instances": [0, 1]}).json()
    assert len(killed["killed"]) == 2
    status = cluster.wait_for_states(spec.key, TaskState.KILLED, 2)
    assert [t.instance for t in status.active] == [2]

    cluster.api.post(f"/jobs/{spec.key}/kill", json={})
    status = cluster.wait_for_states(spec.key, TaskState.KILLED, 3)
    assert status.active == () and status.spec is None
    jobs = msgspec.json.decode(cluster.api.get("/jobs").content, type=JobList).jobs
    assert [(j.key, j.states) for j in jobs] == [(spec.key, {})]


def test_creating_a_running_job_again_is_refused_with_what_to_do(cluster: LocalCluster) -> None:
    spec = cluster.job(instances=1)
    assert cluster.create(spec).status_code == 201
    again = cluster.create(spec)
    assert again.status_code == 409
    problem = msgspec.json.decode(again.content, type=Problem)
    assert "already has active instances" in problem.error
    assert f"daybreak job killall {spec.key}" in problem.error


def test_bad_requests_say_what_is_wrong(cluster: LocalCluster) -> None:
    broken = cluster.api.post("/jobs", content=b'{"key": {"cluster": "test"}}')
    assert broken.status_code == 400
    assert "role" in broken.json()["error"]
    other_cluster = msgspec.structs.replace(
        cluster.job(), key=msgspec.structs.replace(cluster.job().key, cluster="elsewhere")
    )
    refused = cluster.create(other_cluster)
    assert refused.status_code == 400
    assert "runs cluster 'test'" in refused.json()["error"]
    unknown = cluster.api.get("/jobs/test/nobody/devel/nothing")
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("no job test/nobody/devel/nothing")
