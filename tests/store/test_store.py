"""The store on both backends: what is written is read back, in one transaction per batch."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from daybreak.model.agent import AgentInfo, DrainRequest, DrainTerms, MaintenanceMode
from daybreak.model.api import Quota
from daybreak.model.cron import CronJob, CronRun, CronRunStatus
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.records import Changes, StoredAgent
from daybreak.model.task import ScheduledTask, TaskEvent
from daybreak.model.task_state import TaskState
from daybreak.model.update import (
    InstanceAction,
    InstanceProgress,
    InstanceUpdateEvent,
    JobUpdate,
    UpdateEvent,
    UpdatePlan,
    UpdateProgress,
    UpdateStatus,
)
from daybreak.store import StoreError, open_store
from daybreak.store.leadership import DeposedError
from daybreak.store.store import Store

KEY = JobKey(cluster="c", role="www", environment="prod", name="hello")
SPEC = JobSpec(
    key=KEY,
    task=Task(
        name="hello",
        processes=(Process(name="p", cmdline="sleep 1"),),
        resources=Resources(cpu=0.5, ram_mb=64, disk_mb=64),
    ),
    instances=3,
)


def task(n: int, state: TaskState = TaskState.PENDING) -> ScheduledTask:
    return ScheduledTask(
        task_id=f"t-{n}",
        spec=SPEC,
        instance=n % 3,
        state=state,
        events=(TaskEvent(timestamp_ms=n, state=state, message=f"event {n}"),),
    )


UPDATE = JobUpdate(
    update_id="u-1",
    job=KEY,
    user="alice",
    created_ms=5,
    modified_ms=6,
    plan=UpdatePlan(initial={0: "old"}, desired={0: "new", 1: "new"}, settings=SPEC.update),
    progress=UpdateProgress(
        status=UpdateStatus.ROLLING_FORWARD,
        instances={0: InstanceProgress(), 1: InstanceProgress()},
    ),
    configs={"old": SPEC, "new": SPEC},
    events=(UpdateEvent(timestamp_ms=5, status=UpdateStatus.ROLLING_FORWARD, user="alice"),),
    instance_events=(
        InstanceUpdateEvent(timestamp_ms=6, instance=1, action=InstanceAction.INSTANCE_UPDATING),
    ),
)

CRON_KEY = JobKey(cluster="c", role="www", environment="prod", name="nightly")
CRON = CronJob(
    spec=msgspec.structs.replace(SPEC, key=CRON_KEY, cron_schedule="0 2 * * *"),
    scheduled_ms=1,
    last_trigger_ms=7_200_000,
    runs=(
        CronRun(trigger_ms=7_200_000, cause="schedule", status=CronRunStatus.RUNNING,
                started_ms=7_200_100),
    ),
)  # fmt: skip


def test_everything_written_is_read_back_and_deletes_delete(store: Store) -> None:
    agent = StoredAgent(
        info=AgentInfo(agent_id="a1", hostname="h1", resources=SPEC.task.resources),
        maintenance=MaintenanceMode.DRAINING,
        drain=DrainRequest(terms=DrainTerms(percentage=90, duration_secs=60), started_ms=5),
        applied_seq=7,
    )
    first = Changes(
        tasks={t.task_id: t for t in (task(1), task(2), task(3))},
        jobs={str(KEY): SPEC},
        agents={"a1": agent},
        quotas={"www": Quota(cpu=4, ram_mb=1024, disk_mb=2048)},
        updates={"u-1": UPDATE, "u-2": msgspec.structs.replace(UPDATE, update_id="u-2")},
        cron={str(CRON_KEY): CRON, str(KEY): CRON},
    )
    store.write(first)
    store.write(Changes(updates={"u-2": None}, cron={str(KEY): None}))
    store.write(Changes(tasks={"t-2": None, "t-3": task(3, TaskState.RUNNING)}))

    snapshot = store.load()
    assert sorted(snapshot.tasks, key=lambda t: t.task_id) == [task(1), task(3, TaskState.RUNNING)]
    assert snapshot.jobs == {str(KEY): SPEC}
    assert snapshot.agents == {"a1": agent}
    assert snapshot.quotas == {"www": Quota(cpu=4, ram_mb=1024, disk_mb=2048)}
    assert snapshot.updates == {"u-1": UPDATE}
    assert snapshot.cron == {str(CRON_KEY): CRON}
    # Equal configs are one object once loaded.
    assert snapshot.tasks[0].spec is snapshot.tasks[1].spec


def test_reopening_migrates_nothing_twice_and_keeps_the_data(url: str) -> None:
    store = open_store(url)
    store.write(Changes(tasks={"t-1": task(1)}))
    version = store.version()
    store.close()
    reopened = open_store(url)
    assert reopened.version() == version == "0006"
    assert reopened.load().tasks == [task(1)]
    reopened.close()


def test_backup_and_restore_carry_the_whole_state(store: Store, tmp_path: Path) -> None:
    store.write(
        Changes(
            tasks={"t-1": task(1)}, jobs={str(KEY): SPEC}, updates={"u-1": UPDATE},
            cron={str(CRON_KEY): CRON},
        )
    )  # fmt: skip
    backup = store.backup()
    store.write(
        Changes(
            tasks={"t-1": None, "t-9": task(9)}, jobs={str(KEY): None}, updates={"u-1": None},
            cron={str(CRON_KEY): None},
        )
    )  # fmt: skip
    restored = store.restore(backup)
    assert restored.tasks == [task(1)]
    assert store.load().tasks == [task(1)]
    assert store.load().jobs == {str(KEY): SPEC}
    assert store.load().updates == {"u-1": UPDATE}
    assert store.load().cron == {str(CRON_KEY): CRON}


def test_a_broken_backup_is_refused_and_changes_nothing(store: Store) -> None:
    store.write(Changes(tasks={"t-1": task(1)}))
    with pytest.raises(StoreError, match="not a Daybreak backup"):
        store.restore(b'{"tasks": 3}')
    assert store.load().tasks == [task(1)]


def test_a_bad_url_says_which_forms_work() -> None:
    with pytest.raises(StoreError, match=r"neither sqlite:///PATH nor postgresql://"):
        open_store("mysql://db")
    with pytest.raises(StoreError, match="cannot open the store at postgresql://"):
        open_store("postgresql://postgres@127.0.0.1:1/nowhere")


def test_a_batch_is_one_transaction_and_a_failure_in_it_writes_nothing(store: Store) -> None:
    bad = Changes(quotas={"www": object()})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        store.write_all([Changes(tasks={"t-1": task(1)}), bad])
    assert store.load().tasks == []
    store.write_all([Changes(tasks={"t-1": task(1)}), Changes(tasks={"t-2": task(2)})])
    assert sorted(t.task_id for t in store.load().tasks) == ["t-1", "t-2"]


def test_a_replaced_leader_writes_nothing(url: str) -> None:
    """Two schedulers' stores on one database: once the second takes over, every write of the
    first's epoch is refused, and nothing of it is kept."""
    first, second = open_store(url), open_store(url)
    try:
        old = first.take_over("http://s1")
        first.write_all([Changes(tasks={"t-1": task(1)})], old)
        new = second.take_over("http://s2")
        assert new == old + 1
        with pytest.raises(DeposedError, match=f"epoch {old} is no longer the leader's: epoch "
                           f"{new} belongs to http://s2"):  # fmt: skip
            first.write_all([Changes(tasks={"t-2": task(2)})], old)
        second.write_all([Changes(tasks={"t-3": task(3)})], new)
        assert sorted(t.task_id for t in second.load().tasks) == ["t-1", "t-3"]
    finally:
        first.close()
        second.close()


def test_every_scheduler_of_a_store_signs_with_one_key_made_once(url: str) -> None:
    """The first to ask makes the key; another scheduler, a takeover or a reopening reads
    the same, so a standby that takes over honours the credentials its predecessor signed."""
    first, second = open_store(url), open_store(url)
    try:
        key = first.signing_key()
        assert len(key) == 32
        second.take_over("http://s2")
        assert second.signing_key() == key == first.signing_key()
    finally:
        first.close()
        second.close()
    reopened = open_store(url)
    try:
        assert reopened.signing_key() == key
    finally:
        reopened.close()
