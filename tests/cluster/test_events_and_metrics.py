"""Following the cluster live (server-sent events) and scraping it (Prometheus metrics)."""

from __future__ import annotations

import json
import time

import httpx

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import WAIT_S, LocalCluster, sqlite_only


@sqlite_only
def test_a_follower_sees_its_jobs_tasks_change_and_nothing_else(cluster: LocalCluster) -> None:
    spec, other = cluster.job("web", instances=2), cluster.job("other", instances=1)
    seen: list[tuple[str, dict[str, object]]] = []
    url = f"{cluster.scheduler.url}/api/v1/events"
    with httpx.stream("GET", url, params={"job": str(spec.key)}, timeout=WAIT_S) as stream:
        lines = stream.iter_lines()
        # Subscribed before it says so: nothing after this line is missed.
        assert (next(lines), next(lines)) == ("event: following", "data: {}")
        assert cluster.create(other).status_code == 201
        assert cluster.create(spec).status_code == 201
        running: set[int] = set()
        kind = ""
        deadline = time.monotonic() + WAIT_S
        for line in lines:
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                seen.append((kind, json.loads(line.removeprefix("data: "))))
                task = seen[-1][1].get("task")
                if isinstance(task, dict) and task["state"] == "RUNNING":
                    running.add(int(task["instance"]))
            if running == {0, 1} or time.monotonic() > deadline:
                break
    assert running == {0, 1}
    assert ("job", {"job": msgspec_key(spec.key), "configured": True}) in seen
    states = [event["task"]["state"] for kind, event in seen if kind == "task"]  # type: ignore[index]
    assert states.index("PENDING") < states.index("ASSIGNED") < states.index("RUNNING")
    jobs = {json.dumps(event.get("job") or event["task"]["job"]) for _, event in seen}  # type: ignore[index]
    assert jobs == {json.dumps(msgspec_key(spec.key))}


def msgspec_key(key: object) -> dict[str, str]:
    cluster, role, environment, name = str(key).split("/")
    return {"cluster": cluster, "role": role, "environment": environment, "name": name}


@sqlite_only
def test_metrics_describe_the_cluster_as_it_is(cluster: LocalCluster) -> None:
    spec = cluster.job(instances=2)
    assert cluster.create(spec).status_code == 201
    cluster.wait_for_states(spec.key, TaskState.RUNNING, 2)
    scraped = httpx.get(cluster.scheduler.url + "/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = dict(
        line.rsplit(" ", 1) for line in scraped.text.splitlines() if not line.startswith("#")
    )
    assert float(samples['daybreak_tasks{state="RUNNING"}']) == 2
    assert float(samples['daybreak_agents{online="true"}']) == 2
    assert float(samples["daybreak_jobs"]) == 1
    assert float(samples["daybreak_store_transactions_total"]) >= 3
    assert float(samples["daybreak_scheduling_rounds_total"]) >= 1
