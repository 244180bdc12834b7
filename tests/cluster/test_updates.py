"""Rolling updates on a real cluster: the scheduler drives them batch by batch, rolls back a
version that fails, obeys people's operations, and carries on after its own restart."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from daybreak.agent.executor.checkpoint import read_checkpoint
from daybreak.model.jobspec import (
    CountSlaPolicy,
    HealthCheck,
    JobSpec,
    Process,
    QueueStrategy,
    ShellHealthChecker,
    UpdateSettings,
)
from daybreak.model.task_state import TaskState
from daybreak.model.update import (
    InstanceAction,
    JobUpdate,
    UpdateList,
    UpdateStarted,
    UpdateStatus,
)
from tests.cluster.conftest import LocalCluster, sqlite_only, wait_for

U = UpdateStatus
FAST = UpdateSettings(batch_size=2, watch_secs=1, max_total_failures=0)


def service(cluster: LocalCluster, instances: int = 3, cmdline: str = "sleep 600",
            update: UpdateSettings = FAST, **options: Any) -> JobSpec:  # fmt: skip
    return cluster.job(instances=instances, cmdline=cmdline, service=True, update=update, **options)


def running(cluster: LocalCluster, spec: JobSpec) -> JobSpec:
    assert cluster.create(spec).status_code == 201
    cluster.wait_for_states(spec.key, TaskState.RUNNING, spec.instances)
    return spec


def with_cmdline(spec: JobSpec, cmdline: str, **changes: Any) -> JobSpec:
    task = msgspec.structs.replace(spec.task, processes=(Process(name="main", cmdline=cmdline),))
    return msgspec.structs.replace(spec, task=task, **changes)


def start_update(cluster: LocalCluster, spec: JobSpec, instances: list[int] | None = None) -> str:
    response = cluster.api.post(f"/jobs/{spec.key}/update",
                                json={"spec": msgspec.to_builtins(spec), "instances": instances})  # fmt: skip
    assert response.status_code == 200, response.text
    started = msgspec.json.decode(response.content, type=UpdateStarted)
    assert started.update is not None, started.message
    return started.update.update_id


def details(cluster: LocalCluster, update_id: str) -> JobUpdate:
    response = cluster.api.get(f"/updates/{update_id}")
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=JobUpdate)


def wait_for_update(cluster: LocalCluster, update_id: str, status: UpdateStatus,
                    timeout: float = 40) -> JobUpdate:  # fmt: skip
    def reached() -> JobUpdate | None:
        update = details(cluster, update_id)
        return update if update.status is status else None

    return wait_for(reached, f"update {update_id} {status}", timeout)  # type: ignore[no-any-return]


def cmdlines(cluster: LocalCluster, spec: JobSpec) -> dict[int, str]:
    """What each instance's RUNNING task was launched with, read from its agent's checkpoint."""
    agents = {agent.work_dir.name: agent for agent in cluster.agents}
    found = {}
    for task in cluster.status(spec.key).active:
        assert task.state is TaskState.RUNNING and task.agent_id is not None, task
        launch = read_checkpoint(agents[task.agent_id].task_dir(task.task_id) / "checkpoint").launch
        assert launch is not None
        found[task.instance] = launch.task.task.processes[0].cmdline
    return found


def test_a_good_update_rolls_forward_and_the_job_takes_its_config(cluster: LocalCluster) -> None:
    spec = running(cluster, service(cluster, instances=3))
    new = with_cmdline(spec, "sleep 700")
    update_id = start_update(cluster, new)

    refused = cluster.api.post(f"/jobs/{spec.key}/kill", json={})
    assert refused.status_code == 409
    assert f"update {update_id}" in refused.json()["error"]
    assert "daybreak update abort" in refused.json()["error"]

    done = wait_for_update(cluster, update_id, U.ROLLED_FORWARD)
    assert cmdlines(cluster, spec) == dict.fromkeys(range(3), "sleep 700")
    assert cluster.status(spec.key).spec == new
    updating = [
        e.instance for e in done.instance_events if e.action is InstanceAction.INSTANCE_UPDATING
    ]
    assert updating == [0, 1, 2]
    again = cluster.api.post(f"/jobs/{spec.key}/update", json={"spec": msgspec.to_builtins(new)})
    assert again.json()["message"] == "Job is unchanged by proposed update."
    assert again.json()["update"] is None


@sqlite_only
def test_a_failing_version_is_rolled_back_in_reverse_order(cluster: LocalCluster) -> None:
    spec = running(cluster, service(cluster, instances=3,
                                    update=UpdateSettings(batch_size=1, watch_secs=1)))  # fmt: skip
    update_id = start_update(cluster, with_cmdline(spec, "exit 1"))
    done = wait_for_update(cluster, update_id, U.ROLLED_BACK)
    assert done.progress.message == "Latest failure: instance 0 exited."
    assert [e.status for e in done.events] == [U.ROLLING_FORWARD, U.ROLLING_BACK, U.ROLLED_BACK]
    cluster.wait_for_states(spec.key, TaskState.RUNNING, 3)
    wait_for(lambda: cmdlines(cluster, spec) == dict.fromkeys(range(3), "sleep 600"),
             "every instance back on the old config")  # fmt: skip
    assert cluster.status(spec.key).spec == spec


@sqlite_only
def test_a_version_failing_its_health_check_is_rolled_back(cluster: LocalCluster) -> None:
    def checked(command: str) -> HealthCheck:
        return HealthCheck(checker=ShellHealthChecker(shell_command=command),
                           initial_interval_secs=0.2, interval_secs=0.2)  # fmt: skip

    spec = running(cluster, service(cluster, instances=2, health_check=checked("true"),
                                    update=UpdateSettings(watch_secs=1)))  # fmt: skip
    sick = msgspec.structs.replace(spec, health_check=checked("exit 1"))
    done = wait_for_update(cluster, start_update(cluster, sick), U.ROLLED_BACK)
    assert done.progress.message == "Latest failure: instance 0 exited."
    failed = [t for t in cluster.status(spec.key).finished if t.state is TaskState.FAILED]
    assert failed and all("health" in (t.events[-1].message or "").lower() for t in failed)
    cluster.wait_for_states(spec.key, TaskState.RUNNING, 2)
    assert cluster.status(spec.key).spec == spec


@sqlite_only
def test_pause_resume_and_abort(cluster: LocalCluster) -> None:
    settings = UpdateSettings(batch_size=1, watch_secs=2)
    spec = running(cluster, service(cluster, instances=3, update=settings))
    update_id = start_update(cluster, with_cmdline(spec, "sleep 700"))
    key = spec.key
    paused = cluster.api.post(f"/jobs/{key}/update/pause", json={"message": "lunch"}).json()
    assert paused["status"] == "ROLL_FORWARD_PAUSED"
    again = cluster.api.post(f"/jobs/{key}/update/pause", json={})
    assert again.status_code == 409 and "already ROLL_FORWARD_PAUSED" in again.json()["error"]
    assert cluster.api.post(f"/jobs/{key}/update/resume", json={}).json()["status"] == (
        "ROLLING_FORWARD"
    )
    aborted = cluster.api.post(f"/jobs/{key}/update/abort", json={}).json()
    assert aborted["status"] == "ABORTED"
    none_left = cluster.api.post(f"/jobs/{key}/update/resume", json={})
    assert none_left.status_code == 404 and "has no active update" in none_left.json()["error"]
    listed = msgspec.json.decode(
        cluster.api.get("/updates", params={"role": key.role}).content, type=UpdateList
    )
    assert [(u.update_id, u.status) for u in listed.updates] == [(update_id, U.ABORTED)]
    events = details(cluster, update_id).events
    assert [(e.status, e.message) for e in events] == [
        (U.ROLLING_FORWARD, None), (U.ROLL_FORWARD_PAUSED, "lunch"), (U.ROLLING_FORWARD, None),
        (U.ABORTED, None),
    ]  # fmt: skip
    assert {e.user for e in events} == {"anonymous"}  # who, where the scheduler has no users


@sqlite_only
def test_a_canary_then_the_rest_with_instances_added_and_removed(cluster: LocalCluster) -> None:
    spec = running(cluster, service(cluster, instances=3))
    canary = with_cmdline(spec, "sleep 700")
    wait_for_update(cluster, start_update(cluster, canary, [0]), U.ROLLED_FORWARD)
    assert cmdlines(cluster, spec) == {0: "sleep 700", 1: "sleep 600", 2: "sleep 600"}
    assert cluster.status(spec.key).spec == spec  # a canary leaves the job's config

    fewer = with_cmdline(spec, "sleep 700", instances=2)
    wait_for_update(cluster, start_update(cluster, fewer), U.ROLLED_FORWARD)
    assert cmdlines(cluster, spec) == {0: "sleep 700", 1: "sleep 700"}
    more = msgspec.structs.replace(fewer, instances=4)
    wait_for_update(cluster, start_update(cluster, more), U.ROLLED_FORWARD)
    assert cmdlines(cluster, spec) == dict.fromkeys(range(4), "sleep 700")


@sqlite_only
def test_a_coordinated_update_waits_for_pulses(cluster: LocalCluster) -> None:
    settings = UpdateSettings(batch_size=1, watch_secs=0, pulse_interval_secs=60)
    spec = running(cluster, service(cluster, instances=2, update=settings))
    update_id = start_update(cluster, with_cmdline(spec, "sleep 700"))
    assert details(cluster, update_id).status is U.ROLL_FORWARD_AWAITING_PULSE
    assert cmdlines(cluster, spec) == dict.fromkeys(range(2), "sleep 600")  # nothing moved
    pulsed = cluster.api.post(f"/jobs/{spec.key}/update/pulse", json={}).json()
    assert pulsed["status"] == "ROLLING_FORWARD"
    wait_for_update(cluster, update_id, U.ROLLED_FORWARD)


def test_an_update_carries_on_after_the_scheduler_restarts(cluster: LocalCluster) -> None:
    settings = UpdateSettings(batch_size=1, watch_secs=2)
    spec = running(cluster, service(cluster, instances=3, update=settings))
    update_id = start_update(cluster, with_cmdline(spec, "sleep 700"))
    wait_for(lambda: details(cluster, update_id).instance_events, "the update under way")
    cluster.scheduler.kill9()
    cluster.scheduler.start()
    done = wait_for_update(cluster, update_id, U.ROLLED_FORWARD, timeout=60)
    assert done.status is U.ROLLED_FORWARD
    assert cmdlines(cluster, spec) == dict.fromkeys(range(3), "sleep 700")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_updates_refuse_batch_jobs_and_foreign_configs(cluster: LocalCluster) -> None:
    batch = cluster.job(instances=1)
    assert cluster.create(batch).status_code == 201
    refused = cluster.api.post(f"/jobs/{batch.key}/update",
                               json={"spec": msgspec.to_builtins(with_cmdline(batch, "true"))})  # fmt: skip
    assert refused.status_code == 400 and "is not a service" in refused.json()["error"]
    other = cluster.job(name="other", instances=1, service=True)
    wrong = cluster.api.post(f"/jobs/{batch.key}/update", json={"spec": msgspec.to_builtins(other)})
    assert wrong.status_code == 400 and "not " + str(batch.key) in wrong.json()["error"]


@sqlite_only
def test_an_sla_aware_update_rolls_on_as_its_policy_allows(cluster: LocalCluster) -> None:
    settings = UpdateSettings(batch_size=3, watch_secs=0, sla_aware=True,
                              strategy=QueueStrategy(batch_size=3))  # fmt: skip
    plain = msgspec.structs.replace(settings, sla_aware=False)
    careless = running(cluster, service(cluster, instances=3, update=plain))
    unsafe = with_cmdline(careless, "sleep 1", update=settings)  # SLA-aware, with no policy
    refused = cluster.api.post(f"/jobs/{careless.key}/update",
                               json={"spec": msgspec.to_builtins(unsafe)})  # fmt: skip
    assert refused.status_code == 400
    assert "an SLA-aware update needs the job's sla_policy set" in refused.json()["error"]

    policy = CountSlaPolicy(count=2, duration_secs=1)
    careful = with_cmdline(careless, "sleep 700", sla_policy=policy, update=settings)
    done = wait_for_update(cluster, start_update(cluster, careful), U.ROLLED_FORWARD)
    assert cmdlines(cluster, careless) == dict.fromkeys(range(3), "sleep 700")
    # One instance at a time: each waited for the one before to be up for a second.
    starts = [e.timestamp_ms for e in done.instance_events
              if e.action is InstanceAction.INSTANCE_UPDATING]  # fmt: skip
    assert len(starts) == 3 and len({*starts}) == 1  # the batch of 3 began at once
    updated = sorted(e.timestamp_ms for e in done.instance_events
                     if e.action is InstanceAction.INSTANCE_UPDATED)  # fmt: skip
    assert updated[2] - updated[0] >= 2000
