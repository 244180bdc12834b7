"""Thousands of agents (simulated, speaking the real protocol through the real agent's link)
against a real scheduler on PostgreSQL: a scheduler paused past the agent timeout, then killed
and restarted, gives up no agent and restarts no task."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from benchmarks.simfleet.fleet import Fleet

from daybreak.agent.link import PING_S
from daybreak.model.api import AgentList, JobStatus
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import CLUSTER, SchedulerProcess, unique_role, wait_for
from tests.databases import BACKENDS, store_url

AGENTS = 2000
TIMEOUT_S = 15
# Long enough for thousands of agents on a loaded machine, far short of a test's timeout.
SETTLE_S = 90.0


def agents_online(api: httpx.Client) -> int:
    response = api.get("/agents")
    if response.status_code == 503:
        # On a starved machine PostgreSQL may not renew the lease in time: the scheduler
        # stands by until it leads again, and until then no agent is online.
        return 0
    assert response.status_code == 200, response.text
    listed = msgspec.json.decode(response.content, type=AgentList)
    return sum(agent.online for agent in listed.agents)


def job_status(api: httpx.Client, key: JobKey) -> JobStatus:
    response = api.get(f"/jobs/{key}")
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=JobStatus)


# Its phases (agents up, a pause past the timeout, a kill and restart) each settle within
# SETTLE_S; together, on a loaded machine, they took up to 107 s of the default 120 s budget.
@pytest.mark.timeout(360)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_paused_then_restarted_scheduler_gives_up_none_of_thousands_of_agents(
    tmp_path: Path, backend: str
) -> None:
    key = JobKey(cluster=CLUSTER, role=unique_role(), environment="prod", name="web")
    spec = JobSpec(
        key=key,
        task=Task(name="web", processes=(Process(name="main", cmdline="serve"),),
                  resources=Resources(cpu=0.5, ram_mb=64, disk_mb=64)),
        instances=AGENTS, service=True,
    )  # fmt: skip
    with store_url(backend, tmp_path) as url:
        scheduler = SchedulerProcess(
            url, tmp_path / "scheduler.log",
            "--heartbeat-interval", "5s", "--agent-timeout", f"{TIMEOUT_S}s",
            # 400 heartbeats a second: within budget, so that the timeout stays TIMEOUT_S.
            "--heartbeat-budget", "1000",
        )  # fmt: skip
        scheduler.start()
        api = httpx.Client(base_url=scheduler.url + "/api/v1", timeout=30)
        try:
            with Fleet([scheduler.url], tmp_path / "fleet", AGENTS) as fleet:
                fleet.start()
                wait_for(lambda: agents_online(api) == AGENTS, "every agent online", SETTLE_S)
                assert api.post("/jobs", content=msgspec.json.encode(spec)).status_code == 201
                wait_for(lambda: fleet.counts().tasks == {"RUNNING": AGENTS}, "all RUNNING",
                         SETTLE_S)  # fmt: skip
                before = sorted(t.task_id for t in job_status(api, key).active)
                assert len(before) == AGENTS

                def nothing_lost(what: str) -> None:
                    wait_for(lambda: agents_online(api) == AGENTS, f"every agent back {what}",
                             SETTLE_S)  # fmt: skip
                    # Reports the store had not taken before (a write cut short by the pause)
                    # come again from the agents' outboxes, after their hello.
                    wait_for(lambda: {t.state for t in job_status(api, key).active}
                             == {TaskState.RUNNING}, f"every task RUNNING {what}", SETTLE_S)  # fmt: skip
                    status = job_status(api, key)
                    assert status.finished == (), [(t.task_id, t.state) for t in status.finished]
                    assert sorted(t.task_id for t in status.active) == before
                    # And on the machines: not one task killed or started again.
                    assert fleet.counts().tasks == {"RUNNING": AGENTS}

                # A tenth of the agents go down with the scheduler and come back late: their
                # machines run on meanwhile.
                stragglers = fleet.agent_ids[: AGENTS // 10]
                fleet.stop(stragglers)
                # Paused past the timeout: on waking, every agent looks silent.
                assert scheduler.process is not None
                scheduler.process.send_signal(signal.SIGSTOP)
                time.sleep(TIMEOUT_S + 5)
                scheduler.process.send_signal(signal.SIGCONT)
                wait_for(lambda: "event=disruption_over" in scheduler.log.read_text(),
                         "most agents back", SETTLE_S)  # fmt: skip
                # Silent for longer than the timeout, but on their way: within a timeout of
                # the disruption's end, they are still welcome.
                time.sleep(TIMEOUT_S / 5)
                fleet.start(stragglers)
                nothing_lost("after the pause")
                assert "event=disruption " in scheduler.log.read_text()

                # Killed and started again: every agent reconnects and is reconciled.
                scheduler.kill9()
                scheduler.start()
                nothing_lost("after the restart")
                assert "event=agent_lost" not in scheduler.log.read_text()
        finally:
            api.close()
            scheduler.stop()


def test_a_large_fleet_is_paced_within_the_heartbeat_budget(tmp_path: Path) -> None:
    """300 agents told to beat every second would send 300 a second; with a budget of 40,
    every agent is told one slower pace that keeps the fleet within it (how much slower
    depends on how many had connected when it was set), and the timeout follows. The agents'
    pings slow down with their heartbeats."""
    scheduler = SchedulerProcess(
        f"sqlite:///{tmp_path / 'db'}", tmp_path / "scheduler.log",
        "--heartbeat-interval", "1s", "--agent-timeout", "5s", "--heartbeat-budget", "40",
    )  # fmt: skip
    scheduler.start()
    api = httpx.Client(base_url=scheduler.url + "/api/v1", timeout=30)

    def told() -> tuple[float, float]:
        lines = httpx.get(scheduler.url + "/metrics", timeout=10).text.splitlines()
        found = dict(line.split() for line in lines if line.startswith("daybreak_agent_"))
        return (float(found["daybreak_agent_heartbeat_interval_seconds"]),
                float(found["daybreak_agent_timeout_seconds"]))  # fmt: skip

    try:
        with Fleet([scheduler.url], tmp_path / "fleet", 300) as fleet:
            fleet.start()
            wait_for(lambda: agents_online(api) == 300, "every agent online", SETTLE_S)

            def paced() -> bool:
                interval, _ = told()
                return fleet.counts().paces == {f"{interval:g}": 300}

            wait_for(paced, "every agent told the same pace", SETTLE_S)
            interval, timeout = told()
            assert 300 / interval <= 40 and interval > PING_S
            assert round(timeout * 1000) == 3 * round(interval * 1000)
            assert fleet.counts().pings == {f"{max(PING_S, interval):g}": 300}
            assert "event=agents_repaced agents=" in scheduler.log.read_text()
    finally:
        api.close()
        scheduler.stop()
