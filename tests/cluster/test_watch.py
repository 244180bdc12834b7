"""The CLI waits on the scheduler's event stream: a watch hears the job's changes as they are
made, hears nothing of other jobs, and a watch whose stream cannot be had still lets its waiter
go on (reading the job now and then) rather than hang."""

from __future__ import annotations

from pathlib import Path

from daybreak.client.clusters import ClusterEntry
from daybreak.client.watch import JobWatch
from daybreak.model.jobkey import parse_job_key
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import CLUSTER, WAIT_S, LocalCluster, free_port, sqlite_only


@sqlite_only
def test_a_watch_hears_its_jobs_changes_and_only_those(cluster: LocalCluster) -> None:
    entry = ClusterEntry(CLUSTER, (cluster.scheduler.url,), Path("clusters.json"))
    spec, other = cluster.job("watched", instances=1), cluster.job("other", instances=1)
    with JobWatch(entry, spec.key) as watch:
        assert watch._following.is_set()  # subscribed: nothing from here on is missed
        watch._changed.clear()
        assert cluster.create(other).status_code == 201
        cluster.wait_for_states(other.key, TaskState.RUNNING, 1)
        assert not watch._changed.is_set()
        assert cluster.create(spec).status_code == 201
        assert watch._changed.wait(WAIT_S)
    # Its stream ends with it.
    watch._thread.join(WAIT_S)
    assert not watch._thread.is_alive()


def test_a_watch_without_a_stream_still_lets_its_waiter_go_on() -> None:
    nowhere = ClusterEntry(CLUSTER, (f"http://127.0.0.1:{free_port()}",), Path("clusters.json"))
    with JobWatch(nowhere, parse_job_key(f"{CLUSTER}/www/prod/nowhere")) as watch:
        watch.wait(0.01)  # returns: the waiter reads the job again (and finds the error)
        assert watch._following.is_set() and not watch._thread.is_alive()
