"""A failover in the middle of a rolling update: two schedulers on one PostgreSQL database.

A throwaway database on the local PostgreSQL, two `daybreak scheduler`s and 10 agents that know
both, a service of 1,000 `sleep 600` instances RUNNING and an update of it under way (batches of
100, `watch_secs=10`); then the leader is `kill -9`ed. Prints one JSON object:

- `failover_s`: from the kill to the new leader answering `job status` with all agents
  connected to it;
- `tasks_restarted`: tasks of the job that ended LOST (a failover must restart none);
- `jobs_lost`: 0 if the job is still there;
- `update_status`: the update's end state (ROLLED_FORWARD expected);
- `deposed_writes`: writes that reached the store under the old leader's epoch after the new
  leader's first write, counted by a trigger on every table (0: fenced); `writes_by_epoch`
  the trigger's totals.

    python benchmarks/failover.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import msgspec
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.agent.conftest import AgentProcess, kill_tasks_where, remove_cgroups
from tests.cluster.conftest import CLUSTER, SchedulerProcess, wait_for
from tests.cluster.write_audit import deposed_writes, install_write_audit, writes_by_epoch
from tests.databases import postgres_database

from benchmarks.update import INSTANCES, sleeper
from daybreak.model.api import AgentList, JobStatus
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import TaskState
from daybreak.model.update import JobUpdate, UpdateStarted, UpdateStatus

AGENTS = 10
TIMEOUT_S = 300.0


def health(scheduler: SchedulerProcess) -> str:
    try:
        return httpx.get(scheduler.url + "/health", timeout=2).text
    except httpx.HTTPError:
        return ""


def main() -> None:
    role = f"bench{uuid.uuid4().hex[:6]}"
    key = JobKey(cluster=CLUSTER, role=role, environment="devel", name="sleeper")
    with tempfile.TemporaryDirectory() as temporary, postgres_database() as url:
        work = Path(temporary)
        schedulers = [
            SchedulerProcess(url, work / f"scheduler-{n}.log", "--agent-timeout", "60s")
            for n in (1, 2)
        ]
        agents: list[AgentProcess] = []
        try:
            for scheduler in schedulers:
                scheduler.start()
            leader = wait_for(lambda: next((s for s in schedulers
                                            if health(s).startswith("OK leader")), None),
                              "a leader")  # fmt: skip
            standby = next(s for s in schedulers if s is not leader)
            install_write_audit(url)
            for number in range(1, AGENTS + 1):
                name = f"agent-{number}"
                agents.append(AgentProcess(
                    leader.url, work / name, "--scheduler", standby.url,
                    "--hostname", name, "--agent-id", name, "--attributes", f"rack=r{number}",
                    "--resources", "cpu=8,ram=16GiB,disk=64GiB",
                ).start())  # fmt: skip
            api = httpx.Client(base_url=leader.url + "/api/v1", timeout=60)

            def online(client: httpx.Client) -> int:
                listed = msgspec.json.decode(client.get("/agents").content, type=AgentList)
                return sum(agent.online for agent in listed.agents)

            wait_for(lambda: online(api) == AGENTS, "agents online", TIMEOUT_S)
            spec = sleeper(key, "sleep 600")
            assert api.post("/jobs", content=msgspec.json.encode(spec)).status_code == 201

            def running(client: httpx.Client) -> int:
                status = msgspec.json.decode(client.get(f"/jobs/{key}").content, type=JobStatus)
                return sum(t.state is TaskState.RUNNING for t in status.active)

            wait_for(lambda: running(api) == INSTANCES, "all RUNNING", TIMEOUT_S)
            new = sleeper(key, "sleep 601")
            new = msgspec.structs.replace(
                new, update=msgspec.structs.replace(new.update, watch_secs=10)
            )
            started = api.post(f"/jobs/{key}/update", json={"spec": msgspec.to_builtins(new)})
            update = msgspec.json.decode(started.content, type=UpdateStarted).update
            assert update is not None
            time.sleep(3)  # the first batches are under way
            with psycopg.connect(url) as connection:
                row = connection.execute("SELECT epoch FROM leadership").fetchone()
                assert row is not None
                old_epoch = int(row[0])

            killed = time.monotonic()
            leader.kill9()
            api.close()
            api = httpx.Client(base_url=standby.url + "/api/v1", timeout=60)

            def took_over() -> bool:
                try:
                    return health(standby).startswith("OK leader") and online(api) == AGENTS
                except (httpx.HTTPError, msgspec.DecodeError):
                    return False

            wait_for(took_over, "the standby leading with every agent", TIMEOUT_S)
            api.get(f"/jobs/{key}").raise_for_status()
            failover_s = time.monotonic() - killed

            def ended() -> JobUpdate | None:
                details = msgspec.json.decode(
                    api.get(f"/updates/{update.update_id}").content, type=JobUpdate
                )
                return details if details.status is not UpdateStatus.ROLLING_FORWARD else None

            done = wait_for(ended, "the update over", TIMEOUT_S)
            status = msgspec.json.decode(api.get(f"/jobs/{key}").content, type=JobStatus)
            with psycopg.connect(url) as connection:
                row = connection.execute("SELECT epoch FROM leadership").fetchone()
                assert row is not None
            result = {
                "schedulers": 2,
                "agents": AGENTS,
                "instances": INSTANCES,
                "failover_s": round(failover_s, 2),
                "tasks_restarted": sum(
                    t.state is TaskState.LOST for t in (*status.active, *status.finished)
                ),
                "jobs_lost": 0 if status.spec is not None else 1,
                "update_status": str(done.status),
                "epochs": [old_epoch, int(row[0])],
                "writes_by_epoch": {str(k): v for k, v in sorted(writes_by_epoch(url).items())},
                "deposed_writes": deposed_writes(url),
            }
            api.post(f"/jobs/{key}/kill", content=b"{}")
            api.close()
        finally:
            for agent in agents:
                agent.stop()
            for scheduler in schedulers:
                scheduler.stop()
            kill_tasks_where(lambda task_id: f"-{role}-" in task_id)
            for agent in agents:
                remove_cgroups(agent.work_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
