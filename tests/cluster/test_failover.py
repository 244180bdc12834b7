"""High availability, end to end: two `daybreak scheduler`s on one throwaway PostgreSQL
database, real agents that know both, real tasks. The leader is killed, paused, or cut off from
the database; the standby takes over; no task restarts, and a deposed leader writes nothing."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import psutil
import psycopg
import pytest

from daybreak.model.api import JobStatus
from daybreak.model.jobspec import JobKey, JobSpec, Process, QueueStrategy, Task, UpdateSettings
from daybreak.model.task_state import TaskState
from daybreak.model.update import JobUpdate, UpdateStarted, UpdateStatus
from tests.agent.conftest import AgentProcess, kill_tasks_where, remove_cgroups
from tests.cluster.conftest import CLUSTER, SMALL, SchedulerProcess, unique_role, wait_for
from tests.cluster.own_postgres import available as own_postgres_available
from tests.cluster.own_postgres import own_postgres
from tests.cluster.write_audit import deposed_writes, install_write_audit, writes_by_epoch
from tests.conftest import run_cli
from tests.databases import postgres_database

# Long enough for agents to notice a paused leader (pings) and find the new one.
AGENT_TIMEOUT = "30s"
TAKEOVER_S = 20.0


@dataclass
class HaCluster:
    url: str  # the database
    directory: Path
    role: str
    schedulers: list[SchedulerProcess] = field(default_factory=list)
    agents: list[AgentProcess] = field(default_factory=list)

    def health(self, scheduler: SchedulerProcess) -> str:
        try:
            return httpx.get(scheduler.url + "/health", timeout=2).text
        except httpx.HTTPError:
            return ""

    def leader(self) -> SchedulerProcess | None:
        found = [s for s in self.schedulers if self.health(s).startswith("OK leader")]
        return found[0] if len(found) == 1 else None

    def other(self, scheduler: SchedulerProcess) -> SchedulerProcess:
        return next(s for s in self.schedulers if s is not scheduler)

    def api(self, scheduler: SchedulerProcess) -> httpx.Client:
        return httpx.Client(base_url=scheduler.url + "/api/v1", timeout=10, follow_redirects=True)

    def status(self, key: JobKey) -> JobStatus:
        leader = wait_for(self.leader, "a leader", TAKEOVER_S)
        with self.api(leader) as api:
            response = api.get(f"/jobs/{key}")
        assert response.status_code == 200, response.text
        return msgspec.json.decode(response.content, type=JobStatus)

    def job(self, instances: int) -> JobSpec:
        return JobSpec(
            key=JobKey(cluster=CLUSTER, role=self.role, environment="devel", name="web"),
            task=Task(name="web", processes=(Process(name="main", cmdline="sleep 600"),),
                      resources=SMALL),
            instances=instances, service=True,
        )  # fmt: skip

    def running(self, key: JobKey, count: int) -> JobStatus:
        def reached() -> JobStatus | None:
            status = self.status(key)
            running = [t for t in status.active if t.state is TaskState.RUNNING]
            return status if len(running) == count else None

        return wait_for(reached, f"{count} RUNNING", TAKEOVER_S)  # type: ignore[no-any-return]

    def epochs_written(self) -> int:
        """The leadership epoch in the database (-1 while it cannot be reached)."""
        try:
            with psycopg.connect(self.url, connect_timeout=2) as connection:
                row = connection.execute("SELECT epoch FROM leadership WHERE id = 1").fetchone()
        except psycopg.OperationalError:
            return -1
        assert row is not None
        return int(row[0])


@contextmanager
def ha_cluster(directory: Path, database: str | None = None) -> Iterator[HaCluster]:
    """Two schedulers on a throwaway database (or on `database`), and two agents."""
    role = unique_role()
    with contextlib.ExitStack() as stack:
        url = database or stack.enter_context(postgres_database())
        cluster = HaCluster(url, directory, role)
        try:
            for number in (1, 2):
                scheduler = SchedulerProcess(
                    url, directory / f"scheduler-{number}.log", "--agent-timeout", AGENT_TIMEOUT
                )
                cluster.schedulers.append(scheduler)
                scheduler.start()
            wait_for(cluster.leader, "one leader", TAKEOVER_S)
            urls = [arg for s in cluster.schedulers for arg in ("--scheduler", s.url)][2:]
            for number in (1, 2):
                agent = AgentProcess(
                    cluster.schedulers[0].url, directory / f"agent-{number}",
                    "--hostname", f"agent-{number}", "--agent-id", f"agent-{number}", *urls,
                    "--resources", "cpu=32,ram=32GiB,disk=64GiB",
                )  # fmt: skip
                cluster.agents.append(agent.start())
            yield cluster
        finally:
            for agent in cluster.agents:
                agent.stop()
            for scheduler in cluster.schedulers:
                if scheduler.process is not None and scheduler.process.poll() is None:
                    scheduler.process.send_signal(signal.SIGCONT)
                scheduler.stop()
            kill_tasks_where(lambda task_id: f"-{role}-" in task_id)
            for agent in cluster.agents:
                remove_cgroups(agent.work_dir)


def started_job(cluster: HaCluster, through_standby: bool = True) -> tuple[JobSpec, JobStatus]:
    leader = wait_for(cluster.leader, "a leader", TAKEOVER_S)
    standby = cluster.other(leader)
    wait_for(lambda: cluster.health(standby) == f"OK standby leader={leader.url}",
             "the standby knowing the leader", TAKEOVER_S)  # fmt: skip
    target = standby if through_standby else leader
    spec = cluster.job(instances=3)
    with cluster.api(target) as api:  # a standby redirects to the leader
        response = api.post("/jobs", content=msgspec.json.encode(spec))
    assert response.status_code == 201, response.text
    return spec, cluster.running(spec.key, 3)


def waiter_pids(status: JobStatus) -> set[int]:
    return {p.pid for p in psutil.process_iter(["cmdline"])
            if any(t.task_id in " ".join(p.info["cmdline"] or ()) for t in status.active)}  # fmt: skip


def test_one_leads_the_standby_redirects_and_takes_over_when_the_leader_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ha_cluster(tmp_path) as cluster:
        spec, before = started_job(cluster)
        leader = cluster.leader()
        assert leader is not None
        standby = cluster.other(leader)
        assert cluster.health(standby).startswith(f"OK standby leader={leader.url}")
        processes = waiter_pids(before)
        epoch = cluster.epochs_written()

        started = time.monotonic()
        leader.kill9()
        assert wait_for(cluster.leader, "the standby leading", TAKEOVER_S) is standby
        after = cluster.running(spec.key, 3)
        took_s = time.monotonic() - started
        assert [t.task_id for t in after.active] == [t.task_id for t in before.active]
        assert waiter_pids(after) == processes  # nothing was restarted
        assert cluster.epochs_written() == epoch + 1
        assert took_s < TAKEOVER_S

        # The command line, given both schedulers, passes over the dead one.
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "clusters.json").write_text(json.dumps(
            [{"name": CLUSTER, "scheduler_uri": [s.url for s in cluster.schedulers]}]
        ))  # fmt: skip
        monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(tmp_path / "config"))
        shown = run_cli(["job", "status", str(spec.key), "--json"])
        assert shown.code == 0, shown.err
        listed = run_cli(["admin", "schedulers", CLUSTER])
        assert listed.out.splitlines() == [
            f"{leader.url}  unreachable (ConnectError)",
            f"{standby.url}  leader epoch={epoch + 1}",
        ]


def audited_start(cluster: HaCluster) -> tuple[JobSpec, JobStatus, SchedulerProcess, int]:
    """Every write counted by epoch from here; a job started through the leader. The job, its
    status, the leader and its epoch."""
    install_write_audit(cluster.url)
    spec, before = started_job(cluster, through_standby=False)
    leader = cluster.leader()
    assert leader is not None and leader.process is not None
    return spec, before, leader, cluster.epochs_written()


def test_a_paused_leader_is_replaced_and_writes_nothing_when_it_wakes(tmp_path: Path) -> None:
    with ha_cluster(tmp_path) as cluster:
        spec, before, old, old_epoch = audited_start(cluster)
        assert old.process is not None
        assert writes_by_epoch(cluster.url)[old_epoch] > 0  # the job and its tasks
        old.process.send_signal(signal.SIGSTOP)
        new = wait_for(lambda: cluster.health(cluster.other(old)).startswith("OK leader"),
                       "the standby leading", TAKEOVER_S)  # fmt: skip
        assert new
        epoch = cluster.epochs_written()
        assert epoch > old_epoch
        # The new leader acts: a kill reaches the agents.
        with cluster.api(cluster.other(old)) as api:
            assert api.post(f"/jobs/{spec.key}/kill", json={"instances": [0]}).status_code == 200
        asleep = writes_by_epoch(cluster.url)
        old.process.send_signal(signal.SIGCONT)
        wait_for(lambda: cluster.health(old).startswith("OK standby"), "the old leader standing by",
                 TAKEOVER_S)  # fmt: skip
        assert cluster.epochs_written() == epoch  # it took nothing back
        awake = writes_by_epoch(cluster.url)
        assert awake[old_epoch] == asleep[old_epoch]  # not one write once it woke
        assert awake[epoch] > 0 and awake[None] == 0  # the new leader's; nothing unfenced
        assert deposed_writes(cluster.url) == 0
        status = cluster.running(spec.key, 2)
        survivors = {t.task_id for t in before.active if t.instance != 0}
        assert {t.task_id for t in status.active if t.state is TaskState.RUNNING} == survivors
        log = old.log.read_text()
        assert "event=stepped_down" in log


def test_a_leader_paused_inside_a_write_neither_blocks_the_takeover_nor_writes(
    tmp_path: Path,
) -> None:
    """Paused between two statements of a write transaction, the leader holds its epoch check's
    share lock on the leadership row: the takeover must not wait on it for ever, and the
    transaction must never commit."""
    with ha_cluster(tmp_path) as cluster:
        spec, _, old, old_epoch = audited_start(cluster)
        assert old.process is not None
        other = msgspec.structs.replace(spec, key=msgspec.structs.replace(spec.key, name="late"))
        answers: list[httpx.Response | Exception] = []

        def create_late_job() -> None:
            try:
                answers.append(httpx.post(f"{old.url}/api/v1/jobs", timeout=TAKEOVER_S * 3,
                                          content=msgspec.json.encode(other)))  # fmt: skip
            except httpx.HTTPError as error:
                answers.append(error)

        with psycopg.connect(cluster.url) as blocker:
            # The leader's write of the late job waits on this lock, inside its transaction.
            blocker.execute("LOCK TABLE jobs IN EXCLUSIVE MODE")
            waiting = threading.Thread(target=create_late_job)
            waiting.start()

            def writer_waiting() -> bool:
                with psycopg.connect(cluster.url) as watcher:
                    return watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query ILIKE '%%jobs%%'"
                    ).fetchone() == (1,)

            wait_for(writer_waiting, "the leader's write waiting on the lock")
            old.process.send_signal(signal.SIGSTOP)
            before = writes_by_epoch(cluster.url)
        # The lock is gone: the write goes through on the server, and its transaction waits
        # for a client that sleeps.
        new = wait_for(lambda: cluster.health(cluster.other(old)).startswith("OK leader"),
                       "the standby leading", TAKEOVER_S)  # fmt: skip
        assert new
        epoch = cluster.epochs_written()
        assert epoch > old_epoch
        old.process.send_signal(signal.SIGCONT)
        waiting.join()
        wait_for(lambda: cluster.health(old).startswith("OK standby"), "the old leader standing by",
                 TAKEOVER_S)  # fmt: skip
        after = writes_by_epoch(cluster.url)
        assert after[old_epoch] == before[old_epoch], answers
        assert deposed_writes(cluster.url) == 0
        with cluster.api(cluster.other(old)) as api:
            assert api.get(f"/jobs/{other.key}").status_code == 404
            assert api.get(f"/jobs/{spec.key}").status_code == 200
        assert answers and not (isinstance(answers[0], httpx.Response)
                                and answers[0].status_code == 201), answers  # fmt: skip


@pytest.mark.parametrize("which", ["lock", "all"])
def test_a_leader_cut_off_from_the_database_steps_down(tmp_path: Path, which: str) -> None:
    with ha_cluster(tmp_path) as cluster:
        spec, before = started_job(cluster)
        old = cluster.leader()
        assert old is not None
        epoch = cluster.epochs_written()
        database = cluster.url.rsplit("/", 1)[1]
        with psycopg.connect(cluster.url, autocommit=True) as admin:
            pid = admin.execute("SELECT backend_pid FROM leadership WHERE id = 1").fetchone()
            assert pid is not None
            if which == "lock":
                admin.execute("SELECT pg_terminate_backend(%s)", (pid[0],))
            else:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
        # It stands by at once; whoever leads next (it may be the same process, with a new
        # epoch) takes a higher epoch.
        wait_for(lambda: "event=stepped_down" in old.log.read_text(), "stepping down", TAKEOVER_S)
        wait_for(lambda: cluster.epochs_written() > epoch, "a new epoch", TAKEOVER_S)
        status = cluster.running(spec.key, 3)
        assert [t.task_id for t in status.active] == [t.task_id for t in before.active]


def test_a_failover_in_the_middle_of_a_rolling_update_finishes_it(tmp_path: Path) -> None:
    with ha_cluster(tmp_path) as cluster:
        leader = wait_for(cluster.leader, "a leader", TAKEOVER_S)
        spec = msgspec.structs.replace(cluster.job(instances=200), update=UpdateSettings(
            watch_secs=2, strategy=QueueStrategy(batch_size=40)))  # fmt: skip
        with cluster.api(leader) as api:
            assert api.post("/jobs", content=msgspec.json.encode(spec)).status_code == 201
        cluster.running(spec.key, 200)
        new = msgspec.structs.replace(
            spec, task=msgspec.structs.replace(
                spec.task, processes=(Process(name="main", cmdline="sleep 601"),)),
        )  # fmt: skip
        with cluster.api(leader) as api:
            started = api.post(f"/jobs/{spec.key}/update",
                               json={"spec": msgspec.to_builtins(new)})  # fmt: skip
            assert started.status_code == 200, started.text
            update = msgspec.json.decode(started.content, type=UpdateStarted).update
            assert update is not None
            wait_for(lambda: msgspec.json.decode(
                api.get(f"/updates/{update.update_id}").content, type=JobUpdate
            ).instance_events, "the first batch under way", TAKEOVER_S)  # fmt: skip
        leader.kill9()

        def ended() -> JobUpdate | None:
            new_leader = cluster.leader()
            if new_leader is None:
                return None
            with cluster.api(new_leader) as api:
                got = api.get(f"/updates/{update.update_id}")
            details = msgspec.json.decode(got.content, type=JobUpdate)
            return details if details.status is not UpdateStatus.ROLLING_FORWARD else None

        done = wait_for(ended, "the update over", 120)
        assert done.status is UpdateStatus.ROLLED_FORWARD
        status = cluster.status(spec.key)
        assert status.spec == new
        assert not any(t.state is TaskState.LOST for t in status.finished)
        assert sum(t.state is TaskState.RUNNING for t in status.active) == 200


@pytest.mark.skipif(not own_postgres_available(), reason="needs PostgreSQL 15's initdb")
def test_postgresql_restarted_under_the_cluster_loses_nothing(tmp_path: Path) -> None:
    with own_postgres() as server, ha_cluster(tmp_path, server.url) as cluster:
        spec, before = started_job(cluster)
        epoch = cluster.epochs_written()
        server.restart()
        wait_for(lambda: cluster.epochs_written() > epoch, "a leader again", TAKEOVER_S)
        status = cluster.running(spec.key, 3)
        assert [t.task_id for t in status.active] == [t.task_id for t in before.active]

        def every_agent_back() -> bool:
            with cluster.api(wait_for(cluster.leader, "a leader", TAKEOVER_S)) as api:
                agents = api.get("/agents").json()["agents"]
            return len(agents) == 2 and all(agent["online"] for agent in agents)

        wait_for(every_agent_back, "every agent back", TAKEOVER_S)


def test_an_agent_that_knows_only_a_standby_is_sent_to_the_leader(tmp_path: Path) -> None:
    with ha_cluster(tmp_path) as cluster:
        leader = wait_for(cluster.leader, "a leader", TAKEOVER_S)
        standby = cluster.other(leader)
        wait_for(lambda: cluster.health(standby) == f"OK standby leader={leader.url}",
                 "the standby knowing the leader", TAKEOVER_S)  # fmt: skip
        lone = AgentProcess(standby.url, tmp_path / "agent-lone",
                            "--hostname", "agent-lone", "--agent-id", "agent-lone")  # fmt: skip
        cluster.agents.append(lone.start())

        def online() -> bool:
            with cluster.api(leader) as api:
                agents = api.get("/agents").json()["agents"]
            return any(a["agent_id"] == "agent-lone" and a["online"] for a in agents)

        wait_for(online, "the lone agent at the leader", TAKEOVER_S)
