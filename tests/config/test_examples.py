"""The configs of Aurora's docs and tutorial, as shipped in examples/, through `job inspect --json`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import EXAMPLES, run_cli


def inspect(key: str, file: str, *extra: str) -> dict[str, Any]:
    result = run_cli(["job", "inspect", key, str(EXAMPLES / file), "--json", *extra])
    assert result.code == 0, result.err
    spec: dict[str, Any] = json.loads(result.out)
    return spec


# Valid only once `job create` binds its image to a digest (the binding helper asks the
# cluster's registry): listed with a warning, inspected with --bind.
BOUND_AT_CREATE = "devcluster/www-data/devel/hello_docker_engine_binding"


def all_example_keys() -> list[tuple[str, str]]:
    keys = []
    for path in sorted(EXAMPLES.glob("*.aurora")):
        listed = run_cli(["config", "list", str(path)])
        warnings = [line for line in listed.err.splitlines() if BOUND_AT_CREATE not in line]
        assert listed.code == 0 and warnings == [], listed
        keys += [(path.name, key) for key in listed.out.split() if key != BOUND_AT_CREATE]
    return keys


EXAMPLE_KEYS = all_example_keys()


def test_examples_define_the_jobs_the_readme_promises() -> None:
    files = {file for file, _ in EXAMPLE_KEYS}
    assert {
        "hello_world.aurora", "http_service.aurora", "profiles.aurora", "include.aurora",
        "cron.aurora", "update_strategies.aurora", "sla_policies.aurora",
        "containers.aurora", "scheduling.aurora", "processes.aurora",
        "hello_docker_image.aurora", "hello_docker_engine.aurora",
    } <= files  # fmt: skip
    assert len(EXAMPLE_KEYS) == 27


@pytest.mark.parametrize(("file", "key"), EXAMPLE_KEYS)
def test_every_example_job_is_valid(file: str, key: str) -> None:
    assert inspect(key, file)["key"] == dict(
        zip(("cluster", "role", "environment", "name"), key.split("/"), strict=True)
    )


def test_hello_world() -> None:
    spec = inspect("devcluster/www-data/devel/hello_world", "hello_world.aurora")
    assert spec["service"] is True
    assert spec["instances"] == 2
    task = spec["task"]
    assert task["name"] == "hello"
    assert [p["name"] for p in task["processes"]] == ["hello", "forever"]
    assert task["orders"] == [["hello", "forever"]]  # SequentialTask
    assert task["resources"] == {"cpu": 0.1, "ram_mb": 16, "disk_mb": 16, "gpu": 0}
    # {{role}} is bound when loading; {{mesos.instance}} waits for the agent.
    assert task["processes"][0]["cmdline"] == (
        'echo "hello world from instance {{mesos.instance}} of www-data"'
    )
    assert spec["ports"] == []


def test_ports_health_checks_and_lifecycle() -> None:
    web = inspect("devcluster/www-data/prod/web", "http_service.aurora")
    # 'http' and 'health' from the templates; 'aurora' aliases the primary port 'http'.
    assert web["ports"] == ["health", "http"]
    assert web["announce"] == {
        "primary_port": "http",
        "portmap": {"aurora": "http"},
        "zk_path": None,
    }
    assert web["health_check"] == {
        "checker": {"type": "http", "endpoint": "/health", "expected_response": "ok",
                    "expected_response_code": 200},
        "initial_interval_secs": 5.0, "interval_secs": 2.0, "max_consecutive_failures": 3,
        "min_consecutive_successes": 2, "timeout_secs": 1.0,
    }  # fmt: skip
    assert web["lifecycle"]["http"]["graceful_shutdown_wait_secs"] == 2
    assert web["lifecycle"]["http"]["shutdown_wait_secs"] == 1
    assert web["update"]["watch_secs"] == 10

    worker = inspect("devcluster/www-data/prod/worker", "http_service.aurora")
    assert worker["ports"] == ["admin"]
    assert worker["health_check"]["checker"] == {
        "type": "shell",
        "shell_command": "test -f ./healthy",
    }
    assert worker["lifecycle"] == {"http": None}
    # SimpleTask's defaults: 1 cpu, 1 GB ram, 1 GB disk.
    assert worker["task"]["resources"] == {"cpu": 1.0, "ram_mb": 1024, "disk_mb": 1024, "gpu": 0}


def test_struct_profile_bound_with_bind() -> None:
    devel = inspect("devcluster/mobile/devel/app", "profiles.aurora")
    prod = inspect("devcluster/mobile/prod/app", "profiles.aurora")
    assert (devel["instances"], prod["instances"]) == (1, 4)
    assert prod["task"]["processes"][0]["cmdline"] == (
        "echo starting app version live with 512 MB as instance {{mesos.instance}} of 4 in prod; "
        "sleep 3600"
    )
    rebound = inspect(
        "devcluster/mobile/prod/app", "profiles.aurora", "--bind", "profile.version=7"
    )
    assert "version 7 with 512 MB" in rebound["task"]["processes"][0]["cmdline"]


def test_include_relative_to_the_including_file() -> None:
    spec = inspect("devcluster/analytics/test/report", "include.aurora")
    assert spec["task"]["processes"][0]["cmdline"] == "echo report && sleep 60"
    assert spec["task"]["resources"]["ram_mb"] == 32


def test_cron() -> None:
    spec = inspect("devcluster/analytics/prod/nightly_report", "cron.aurora")
    assert spec["cron_schedule"] == "15 2 * * MON-FRI"
    assert spec["cron_collision_policy"] == "CANCEL_NEW"
    assert spec["service"] is False
    assert spec["max_task_failures"] == 3
    assert spec["task"]["processes"][0]["cmdline"] == "echo generating the report for devcluster"


@pytest.mark.parametrize(
    ("name", "strategy", "extra"),
    [
        ("queue", {"type": "queue", "batch_size": 3}, {"watch_secs": 30}),
        (
            "batch",
            {"type": "batch", "batch_size": 5, "autopause_after_batch": True},
            {"max_per_shard_failures": 2, "max_total_failures": 1, "rollback_on_failure": False},
        ),
        (
            "variable",
            {"type": "variable_batch", "batch_sizes": [1, 2, 7], "autopause_after_batch": False},
            {},
        ),
        # The legacy fields decide the strategy when none is named, as Aurora's client did.
        (
            "legacy",
            {"type": "batch", "batch_size": 4, "autopause_after_batch": False},
            {"batch_size": 4, "wait_for_batch_completion": True},
        ),
        ("coordinated", {"type": "queue", "batch_size": 1}, {"pulse_interval_secs": 120}),
        ("careful", {"type": "queue", "batch_size": 2}, {"sla_aware": True}),
    ],
)
def test_update_strategies(name: str, strategy: dict[str, Any], extra: dict[str, Any]) -> None:
    update = inspect(f"devcluster/www-data/staging2/{name}", "update_strategies.aurora")["update"]
    assert update["strategy"] == strategy
    for field, value in extra.items():
        assert update[field] == value, field


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("by_count", {"type": "count", "count": 5, "duration_secs": 1800}),
        ("by_percentage", {"type": "percentage", "percentage": 95.5, "duration_secs": 1800}),
        (
            "by_coordinator",
            {"type": "coordinator", "coordinator_url": "http://coordinator.example/sla",
             "status_key": "drain"},
        ),
    ],
)  # fmt: skip
def test_sla_policies(name: str, policy: dict[str, Any]) -> None:
    spec = inspect(f"devcluster/cache/prod/{name}", "sla_policies.aurora")
    assert spec["sla_policy"] == policy
    assert spec["tier"] == "preferred"


@pytest.mark.parametrize(
    ("name", "container"),
    [
        ("docker", {"type": "docker", "image": "python:3.11-slim", "parameters": []}),
        (
            "mesos_docker",
            {"type": "mesos", "image": {"type": "docker", "name": "python", "tag": "3.11-slim"},
             "volumes": [{"container_path": "/data", "host_path": "/usr/share/common-licenses",
                          "mode": "RO"}]},
        ),
        ("wrapped", {"type": "docker", "image": "busybox", "parameters": []}),
    ],
)  # fmt: skip
def test_containers(name: str, container: dict[str, Any]) -> None:
    assert (
        inspect(f"devcluster/www-data/devel/{name}", "containers.aurora")["container"] == container
    )


def test_scheduling_fields() -> None:
    db = inspect("devcluster/storage/prod/db", "scheduling.aurora")
    assert db["constraints"] == [
        {"type": "limit", "attribute": "host", "limit": 1},
        {"type": "value", "attribute": "kernel", "values": ["3.10"], "negated": True},
        {"type": "limit", "attribute": "rack", "limit": 2},
        {
            "type": "value",
            "attribute": "zone",
            "values": ["us-east-1a", "us-east-1b"],
            "negated": False,
        },
    ]
    assert (db["tier"], db["priority"], db["max_task_failures"]) == ("preferred", 10, -1)
    assert db["contact"] == "storage-team@example.com"
    assert db["metadata"] == [
        {"key": "owner", "value": "storage"},
        {"key": "tier", "value": "gold"},
    ]
    assert db["partition_policy"] == {"reschedule": False, "delay_secs": 60}
    assert db["task"]["resources"] == {"cpu": 2.0, "ram_mb": 4096, "disk_mb": 20480, "gpu": 1}
    backup = inspect("devcluster/storage/prod/backup", "scheduling.aurora")
    assert backup["constraints"] == [
        {
            "type": "value",
            "attribute": "dedicated",
            "values": ["storage/backup-hosts"],
            "negated": False,
        }
    ]
    assert backup["production"] is True


def test_processes_and_task_composition() -> None:
    serving = inspect("devcluster/www-data/devel/serving", "processes.aurora")["task"]
    by_name = {p["name"]: p for p in serving["processes"]}
    assert by_name["server"]["daemon"] and by_name["server"]["max_failures"] == 0
    assert by_name["server"]["min_duration"] == 15
    assert by_name["server"]["logger"] == {
        "destination": "file", "mode": "rotate",
        "rotate": {"log_size": 10 * 1024 * 1024, "backups": 3},
    }  # fmt: skip
    assert by_name["sidecar"]["ephemeral"] and by_name["sidecar"]["logger"]["destination"] == "both"
    assert by_name["cleanup"]["final"]
    assert (serving["max_failures"], serving["max_concurrency"], serving["finalization_wait"]) == (
        2, 3, 45
    )  # fmt: skip

    combined = inspect("devcluster/www-data/devel/combined", "processes.aurora")["task"]
    assert combined["name"] == "serving"  # the last task's identity is kept
    assert combined["resources"] == {"cpu": 1.5, "ram_mb": 320, "disk_mb": 576, "gpu": 0}
    assert {p["name"] for p in combined["processes"]} == {
        "flags",
        "setup",
        "server",
        "sidecar",
        "cleanup",
    }
    assert combined["finalization_wait"] == 45  # the max of 30 and 45
    flags = next(p for p in combined["processes"] if p["name"] == "flags")
    assert flags["cmdline"] == "echo -v --threads 4"

    pipeline = inspect("devcluster/www-data/devel/pipeline", "processes.aurora")["task"]
    assert pipeline["orders"] == [["flags", "report"]]
    assert pipeline["resources"] == {"cpu": 1.0, "ram_mb": 1024, "disk_mb": 1024, "gpu": 0}
    assert pipeline["finalization_wait"] == 60  # the sum


def test_read_json() -> None:
    result = run_cli(
        ["job", "inspect", "devcluster/www-data/devel/hello_json",
         str(EXAMPLES / "hello_world.json"), "--read-json", "--json"]
    )  # fmt: skip
    assert result.code == 0, result.err
    spec = json.loads(result.out)
    assert spec["task"]["resources"] == {"cpu": 0.1, "ram_mb": 16, "disk_mb": 16, "gpu": 0}
    assert spec["update"]["strategy"]["batch_sizes"] == [1, 2]
    assert spec["container"] == {"type": "docker", "image": "busybox", "parameters": []}


def test_the_binding_helpers_image_is_bound_at_create_or_by_hand() -> None:
    path = str(EXAMPLES / "hello_docker_engine.aurora")
    unbound = run_cli(["job", "inspect", BOUND_AT_CREATE, path])
    assert unbound.code != 0
    assert "unbound variable {{docker.image[library/python][2.7]}}" in unbound.err
    pinned = "registry.example.com/library/python@sha256:" + "0" * 64
    spec = inspect(BOUND_AT_CREATE, "hello_docker_engine.aurora",
                   "--bind", f"docker.image[library/python][2.7]={pinned}")  # fmt: skip
    assert spec["container"] == {"type": "docker", "image": pinned, "parameters": []}
