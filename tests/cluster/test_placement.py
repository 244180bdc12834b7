"""Placement on a real cluster: constraints held, production preempting the preemptible, a
failing task rescheduled and throttled, quotas refusing what is over them."""

from __future__ import annotations

import msgspec

from daybreak.model.api import Problem
from daybreak.model.jobspec import JobSpec, LimitConstraint, Resources, ValueConstraint
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import LocalCluster, wait_for


def with_resources(spec: JobSpec, cpu: float, ram_mb: int = 64, disk_mb: int = 64) -> JobSpec:
    resources = Resources(cpu=cpu, ram_mb=ram_mb, disk_mb=disk_mb)
    task = msgspec.structs.replace(spec.task, resources=resources)
    return msgspec.structs.replace(spec, task=task)


def set_quota(cluster: LocalCluster, cpu: float, ram_mb: float, disk_mb: float) -> None:
    answer = cluster.api.put(
        f"/quotas/{cluster.role}", json={"cpu": cpu, "ram_mb": ram_mb, "disk_mb": disk_mb}
    )
    assert answer.status_code == 200, answer.text


def test_limit_and_dedicated_constraints_hold(cluster: LocalCluster) -> None:
    cluster.add_agent(dedicated=f"{cluster.role}/db")
    web = cluster.job("web", instances=3, constraints=(LimitConstraint(attribute="host", limit=1),))
    db = cluster.job(
        "db",
        instances=2,
        constraints=(ValueConstraint(attribute="dedicated", values=(f"{cluster.role}/db",)),),
    )
    assert cluster.create(web).status_code == 201
    assert cluster.create(db).status_code == 201

    status = cluster.wait_for_states(web.key, TaskState.RUNNING, 2)
    # One per host, and never on the host dedicated to the db.
    assert sorted(str(t.hostname) for t in status.active if t.state is TaskState.RUNNING) == [
        "agent-1",
        "agent-2",
    ]

    def pending_with_reason() -> str | None:
        waiting = [t for t in cluster.status(web.key).active if t.state is TaskState.PENDING]
        return waiting[0].pending_reason if waiting else None

    reason = wait_for(pending_with_reason, "the third web instance pending, with a reason")
    assert "limit host:1" in reason and "dedicated to others" in reason

    status = cluster.wait_for_states(db.key, TaskState.RUNNING, 2)
    assert {t.hostname for t in status.active} == {"agent-3"}


def test_a_production_job_preempts_a_preemptible_one(cluster: LocalCluster) -> None:
    # Each agent offers 2 cpus: the batch job fills both.
    batch = with_resources(cluster.job("batch", instances=2), cpu=2)
    assert cluster.create(batch).status_code == 201
    cluster.wait_for_states(batch.key, TaskState.RUNNING, 2)

    set_quota(cluster, cpu=2, ram_mb=1024, disk_mb=1024)
    prod = with_resources(cluster.job("prod", instances=1, production=True), cpu=1.5)
    assert cluster.create(prod).status_code == 201

    status = cluster.wait_for_states(prod.key, TaskState.RUNNING, 1)
    winner = status.active[0]
    batch_status = cluster.wait_for_states(batch.key, TaskState.KILLED, 1)
    victim = next(t for t in batch_status.finished if t.state is TaskState.KILLED)
    assert victim.hostname == winner.hostname
    preempting = next(e for e in victim.events if e.state is TaskState.PREEMPTING)
    assert preempting.message is not None and winner.task_id in preempting.message
    # The victim's instance waits for room again; the other batch instance was left alone.
    states = sorted(t.state for t in batch_status.active)
    assert TaskState.RUNNING in states and len(batch_status.active) == 2


def test_a_failing_task_is_rescheduled_and_throttled(cluster: LocalCluster) -> None:
    spec = cluster.job("crashy", instances=1, cmdline="exit 1", service=True)
    assert cluster.create(spec).status_code == 201

    status = cluster.wait_for_states(spec.key, TaskState.FAILED, 2)
    failed = [t for t in status.finished if t.state is TaskState.FAILED]
    assert len({t.task_id for t in failed}) >= 2  # each run is a new task
    # A run that failed soon after it started flapped: its replacement waited, throttled,
    # for the initial delay (2 s here) before it went back to PENDING.
    rerun = failed[1]
    states = [e.state for e in rerun.events]
    assert states[:2] == [TaskState.THROTTLED, TaskState.PENDING], states
    waited_ms = rerun.events[1].timestamp_ms - rerun.events[0].timestamp_ms
    assert waited_ms >= 2000


def test_a_quota_rejects_production_work_beyond_it(cluster: LocalCluster) -> None:
    prod = with_resources(cluster.job("prod", instances=4, production=True), cpu=0.5)
    refused = cluster.create(prod)
    assert refused.status_code == 403
    error = msgspec.json.decode(refused.content, type=Problem).error
    assert f"Insufficient resource quota for role {cluster.role}" in error

    set_quota(cluster, cpu=1, ram_mb=1024, disk_mb=1024)
    refused = cluster.create(prod)
    assert refused.status_code == 403
    assert "cpu requested 2, used 0, quota 1 (exceeded by 1)" in refused.json()["error"]

    fits = msgspec.structs.replace(prod, instances=2)
    assert cluster.create(fits).status_code == 201
    report = cluster.api.get(f"/quotas/{cluster.role}").json()
    assert report["production"]["cpu"] == 1.0
    # Non-production work does not count against the quota.
    batch = cluster.job("batch", instances=2)
    assert cluster.create(batch).status_code == 201
    assert cluster.api.get(f"/quotas/{cluster.role}").json()["non_production"]["cpu"] == 0.2
