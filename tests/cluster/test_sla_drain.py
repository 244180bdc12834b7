"""Host drain that honours each job's SLA, and the SLA domain tools, from the CLI against a real
scheduler and agents: a task waits on its draining host (and the CLI says why) while its job
cannot spare it, moves as soon as it can, `--force` moves everything at once, and
`sla-probe-hosts`/`sla-list-safe-domain` predict what a host going down would leave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import msgspec
import pytest

from daybreak.model.api import AgentList, AgentSummary
from daybreak.model.jobspec import CoordinatorSlaPolicy, CountSlaPolicy, LimitConstraint
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import (
    CLUSTER,
    LocalCluster,
    register_for_cli,
    running_cluster,
    wait_for,
)
from tests.conftest import run_cli
from tests.coordinator import Coordinator


@pytest.fixture
def sla_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCluster]:
    """Two agents, and a scheduler that checks every job's SLA, however small or
    non-production."""
    flags = ("--min-required-instances-for-sla-check", "1", "--sla-aware-kill-non-prod",
             "--host-maintenance-polling-interval", "1s")  # fmt: skip
    with running_cluster("sqlite", tmp_path, *flags) as local:
        register_for_cli(local, tmp_path, monkeypatch)
        yield local


def agent(local: LocalCluster, agent_id: str) -> AgentSummary:
    agents = msgspec.json.decode(local.api.get("/agents").content, type=AgentList).agents
    return next(a for a in agents if a.agent_id == agent_id)


def test_a_drain_waits_for_the_jobs_sla_then_moves_the_task(sla_cluster: LocalCluster) -> None:
    local = sla_cluster
    # Three instances, one per rack, on two agents: instance 2 waits for room. Two must be
    # up, so neither running instance may leave until the third runs.
    spec = local.job("web", instances=3, service=True,
                     constraints=(LimitConstraint(attribute="rack", limit=1),),
                     sla_policy=CountSlaPolicy(count=2, duration_secs=0))  # fmt: skip
    assert local.create(spec).status_code == 201
    local.wait_for_states(spec.key, TaskState.RUNNING, 2)
    on_agent_1 = next(t for t in local.status(spec.key).active if t.hostname == "agent-1")

    drained = run_cli(["admin", "host-drain", CLUSTER, "--hosts", "agent-1", "--no-wait"])
    assert drained.code == 0, drained.err
    assert "agent-1  agent-1  DRAINING  yes     1" in drained.out
    assert "agent-1: 1 task(s) wait for their job's SLA (moved regardless from " in drained.out
    assert (
        f"  {spec.key}/{on_agent_1.instance}: job {spec.key} would have 1 of 3 instances up 0s "
        "or more without it; its policy (2 instance(s) up for 0 s) needs 2"
    ) in drained.out
    status = run_cli(["admin", "host-status", CLUSTER, "--hosts", "agent-1"])
    assert "1 task(s) wait for their job's SLA" in status.out
    page = httpx.get(local.scheduler.url + "/agents", timeout=10).text
    assert "1 task(s) wait for their job's SLA before the drain moves them" in page
    assert f'href="/scheduler/{local.role}/devel/web/{on_agent_1.instance}"' in page
    still = next(t for t in local.status(spec.key).active if t.task_id == on_agent_1.task_id)
    assert still.state is TaskState.RUNNING

    # Room for the third: once it runs, the job can spare the one on agent-1.
    local.add_agent()
    wait_for(lambda: agent(local, "agent-1").maintenance == "DRAINED", "agent-1 DRAINED")
    moved = local.status(spec.key)
    assert on_agent_1.task_id in {t.task_id for t in moved.finished}
    assert agent(local, "agent-1").drain_waits == ()


def test_force_moves_every_task_at_once(sla_cluster: LocalCluster) -> None:
    local = sla_cluster
    spec = local.job("web", instances=2, service=True,
                     constraints=(LimitConstraint(attribute="rack", limit=1),),
                     sla_policy=CountSlaPolicy(count=2, duration_secs=3600))  # fmt: skip
    assert local.create(spec).status_code == 201
    local.wait_for_states(spec.key, TaskState.RUNNING, 2)
    forced = run_cli(["admin", "sla-host-drain", CLUSTER, "--hosts", "agent-2", "--force"])
    assert forced.code == 0, forced.err
    assert "agent-2  agent-2  DRAINED" in forced.out
    bad = run_cli(["admin", "host-drain", CLUSTER, "--hosts", "agent-1",
                   "--default-duration", "soon"])  # fmt: skip
    assert bad.code != 0 and "--default-duration: cannot read 'soon'" in bad.err
    assert agent(local, "agent-1").maintenance == "NONE"


def test_probe_hosts_and_safe_domain_predict_a_host_going_down(sla_cluster: LocalCluster) -> None:
    local = sla_cluster
    spec = local.job("web", instances=2,
                     constraints=(LimitConstraint(attribute="rack", limit=1),))  # fmt: skip
    assert local.create(spec).status_code == 201
    local.wait_for_states(spec.key, TaskState.RUNNING, 2)
    args = ["--min-job-instance-count", "1"]

    probed = run_cli(["admin", "sla-probe-hosts", CLUSTER, "50", "0s", "--hosts",
                      "agent-1,agent-2", *args])  # fmt: skip
    assert probed.code == 0, probed.err
    assert probed.out.splitlines()[1:] == [
        f"agent-1  {spec.key}  50.00          Y      0s",
        f"agent-2  {spec.key}  50.00          Y      0s",
    ]
    never = run_cli(["admin", "sla-probe-hosts", CLUSTER, "100", "0s", "--hosts", "agent-1",
                     *args])  # fmt: skip
    assert never.out.splitlines()[1].split() == ["agent-1", str(spec.key), "50.00", "N", "n/a"]

    safe = run_cli(["admin", "sla-list-safe-domain", CLUSTER, "50", "0s", *args])
    assert safe.code == 0, safe.err
    assert safe.out.split() == ["agent-1", "agent-2"]
    excluded = run_cli(["admin", "sla-list-safe-domain", CLUSTER, "50", "0s", "-x", "agent-2",
                        *args])  # fmt: skip
    assert excluded.out.split() == ["agent-1"]
    unsafe = run_cli(["admin", "sla-list-safe-domain", CLUSTER, "95", "0s", *args])
    assert unsafe.code == 0 and unsafe.out == ""
    # Jobs below the instance count are left out: nothing is at risk.
    small = run_cli(["admin", "sla-list-safe-domain", CLUSTER, "95", "0s",
                     "--min-job-instance-count", "3"])  # fmt: skip
    assert small.out.split() == []
    bad = run_cli(["admin", "sla-probe-hosts", CLUSTER, "150", "0s", "--hosts", "agent-1"])
    assert bad.code != 0 and "PERCENTAGE: '150' is not a percentage" in bad.err


def test_a_coordinator_decides_when_the_task_leaves(sla_cluster: LocalCluster) -> None:
    local = sla_cluster
    coordinator = Coordinator({"ok": False}, {"ok": True})
    try:
        policy = CoordinatorSlaPolicy(coordinator_url=coordinator.url, status_key="ok")
        spec = local.job("store", instances=2, service=True, sla_policy=policy,
                         constraints=(LimitConstraint(attribute="rack", limit=1),))  # fmt: skip
        assert local.create(spec).status_code == 201
        local.wait_for_states(spec.key, TaskState.RUNNING, 2)
        on_agent_1 = next(t for t in local.status(spec.key).active if t.hostname == "agent-1")

        drained = run_cli(["admin", "host-drain", CLUSTER, "--hosts", "agent-1"])
        assert drained.code == 0, drained.err
        assert "agent-1  agent-1  DRAINED" in drained.out
        # Asked twice: a no, then (a second later) a yes.
        assert f"coordinator {coordinator.url} said no (ok=False); asking again in" in drained.out
        key = f"{spec.key}/{on_agent_1.instance}"
        assert [query for query, _body in coordinator.asked] == [f"task={quote(key, safe='')}"] * 2
        body = coordinator.asked[0][1]
        assert body["task"] == key and body["taskConfig"]["task_id"] == on_agent_1.task_id
        assert 0 < int(body["forceMaintenanceCountdownMs"]) <= 7 * 86_400_000
        finished = {t.task_id for t in local.status(spec.key).finished}
        assert on_agent_1.task_id in finished
    finally:
        coordinator.close()
