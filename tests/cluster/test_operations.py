"""What operators do, through the CLI against a real cluster: quotas, host maintenance,
finding tasks, and backup and restore."""

from __future__ import annotations

from pathlib import Path

from daybreak.agent.executor.tree import ProcessTable
from daybreak.model.task_state import TaskState
from tests.client.test_cli import check_golden
from tests.cluster.conftest import CLUSTER, LocalCluster, sqlite_only, wait_for
from tests.conftest import run_cli


@sqlite_only
def test_set_and_get_a_quota(cli_cluster: LocalCluster) -> None:
    role = cli_cluster.role
    done = run_cli(["admin", "set-quota", CLUSTER, role, "2.5", "4GiB", "10240"])
    assert done.code == 0, done.err
    prod = cli_cluster.job("prod", instances=2, production=True)
    assert cli_cluster.create(prod).status_code == 201
    cli_cluster.wait_for_states(prod.key, TaskState.RUNNING, 2)

    shown = run_cli(["quota", "get", f"{CLUSTER}/{role}"])
    assert shown.code == 0, shown.err
    check_golden("quota_get.txt", shown.out.replace(role, "ROLE"))

    bad = run_cli(["admin", "set-quota", CLUSTER, role, "1", "lots", "1GiB"])
    assert bad.code == 6
    assert "RAM: cannot read 'lots' as a size" in bad.err
    malformed = run_cli(["quota", "get", CLUSTER])
    assert malformed.code == 6 and "write CLUSTER/ROLE" in malformed.err


@sqlite_only
def test_drain_a_host_and_return_it(cli_cluster: LocalCluster) -> None:
    spec = cli_cluster.job(instances=2)
    assert cli_cluster.create(spec).status_code == 201
    cli_cluster.wait_for_states(spec.key, TaskState.RUNNING, 2)

    drained = run_cli(["admin", "host-drain", CLUSTER, "--hosts", "agent-1"])
    assert drained.code == 0, drained.err
    check_golden("host_drain.txt", drained.out)
    # The drained host's task was killed and its instance runs again on the other host.
    status = cli_cluster.wait_for_states(spec.key, TaskState.RUNNING, 2)
    assert {t.hostname for t in status.active} == {"agent-2"}
    assert any(e.state is TaskState.DRAINING for t in status.finished for e in t.events)

    shown = run_cli(["admin", "host-status", CLUSTER])
    assert shown.code == 0
    check_golden("host_status.txt", shown.out)
    back = run_cli(["admin", "host-activate", CLUSTER, "--hosts", "agent-1"])
    assert back.code == 0 and "agent-1  agent-1  NONE" in back.out

    unknown = run_cli(["admin", "host-drain", CLUSTER, "--hosts", "nowhere"])
    assert unknown.code == 10
    assert "unknown host 'nowhere'; known hosts: agent-1, agent-2" in unknown.err
    missing = run_cli(["admin", "host-drain", CLUSTER])
    assert missing.code == 5 and "--hosts" in missing.err


@sqlite_only
def test_query_finds_tasks_across_jobs(cli_cluster: LocalCluster) -> None:
    web, db = cli_cluster.job("web", instances=2), cli_cluster.job("db", instances=1)
    for spec in (web, db):
        assert cli_cluster.create(spec).status_code == 201
        cli_cluster.wait_for_states(spec.key, TaskState.RUNNING, spec.instances)

    found = run_cli(["admin", "query", CLUSTER, cli_cluster.role])
    assert found.code == 0, found.err
    role = cli_cluster.role
    assert found.out.splitlines() == [
        f"{role}/db/0 RUNNING",
        f"{role}/web/0 RUNNING",
        f"{role}/web/1 RUNNING",
    ]
    one = run_cli(["admin", "query", CLUSTER, role, "web", "--shards", "1",
                   "--listformat", "%name% %instanceId% %host%"])  # fmt: skip
    assert one.out.split()[:2] == ["web", "1"] and one.out.split()[2].startswith("agent-")
    none = run_cli(["admin", "query", CLUSTER, role, "--states", "FAILED"])
    assert none.code == 0 and none.out == ""
    bad = run_cli(["admin", "query", CLUSTER, role, "--states", "SLEEPING"])
    assert bad.code == 10 and "unknown task state 'SLEEPING'" in bad.err


def test_backup_and_restore_the_whole_state(cli_cluster: LocalCluster, tmp_path: Path) -> None:
    kept = cli_cluster.job("kept", instances=2)
    assert cli_cluster.create(kept).status_code == 201
    before = cli_cluster.wait_for_states(kept.key, TaskState.RUNNING, 2)
    backup = tmp_path / "state.json"
    saved = run_cli(["admin", "backup", CLUSTER, str(backup)])
    assert saved.code == 0, saved.err
    assert saved.out.startswith(f"Saved the state of {CLUSTER} to {backup}")

    later = cli_cluster.job("later", instances=1)
    assert cli_cluster.create(later).status_code == 201
    cli_cluster.wait_for_states(later.key, TaskState.RUNNING, 1)

    restored = run_cli(["admin", "restore", CLUSTER, str(backup), "--yes"])
    assert restored.code == 0, restored.err
    assert "1 job(s), 2 task(s)" in restored.out
    # The agents reconnect: the job made after the backup is unknown again and its task is
    # killed on its agent; the job in the backup keeps running, untouched.
    assert cli_cluster.api.get(f"/jobs/{later.key}").status_code == 404

    def later_gone() -> bool:
        return not any(f"-{later.key.name}-" in task for task in ProcessTable.scan().by_task)

    wait_for(later_gone, "the task of the job made after the backup killed")
    after = cli_cluster.wait_for_states(kept.key, TaskState.RUNNING, 2)
    assert [t.task_id for t in after.active] == [t.task_id for t in before.active]

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "something else"}')
    refused = run_cli(["admin", "restore", CLUSTER, str(broken), "--yes"])
    assert refused.code == 10 and "not a Daybreak backup" in refused.err
    assert cli_cluster.api.get(f"/jobs/{kept.key}").status_code == 200
