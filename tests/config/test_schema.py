"""Every struct, field and default of Aurora's configuration reference, checked one by one."""

from __future__ import annotations

from typing import Any

import pytest
from pystachio import Empty

from daybreak.config import schema
from daybreak.config.evaluate import prelude

REQUIRED = object()  # marks a Required field
OPTIONAL = object()  # marks a field with no default (Empty unless set)
MB = 1024 * 1024

# struct name -> {field: REQUIRED | OPTIONAL | default value as pystachio .get() returns it}
AURORA_SCHEMA: dict[str, dict[str, Any]] = {
    "ThermosContext": {"ports": OPTIONAL, "task_id": OPTIONAL, "user": OPTIONAL},
    "MesosContext": {"instance": REQUIRED, "hostname": REQUIRED},
    "Resources": {"cpu": REQUIRED, "ram": REQUIRED, "disk": REQUIRED, "gpu": 0},
    "Constraint": {"order": OPTIONAL},
    "RotatePolicy": {"log_size": 100 * MB, "backups": 5},
    "Logger": {"destination": "file", "mode": "standard", "rotate": OPTIONAL},
    "Process": {
        "cmdline": REQUIRED, "name": REQUIRED, "resources": OPTIONAL, "max_failures": 1,
        "daemon": False, "ephemeral": False, "min_duration": 5, "final": False,
        "logger": OPTIONAL,
    },
    "Task": {
        "name": "{{processes[0].name}}", "processes": OPTIONAL, "constraints": (),
        "resources": OPTIONAL, "max_failures": 1, "max_concurrency": 0,
        "finalization_wait": 30, "user": OPTIONAL,
    },
    "UpdateConfig": {
        "batch_size": 1, "watch_secs": 45, "max_per_shard_failures": 0,
        "max_total_failures": 0, "rollback_on_failure": True,
        "wait_for_batch_completion": False, "pulse_interval_secs": OPTIONAL,
        "sla_aware": False, "update_strategy": OPTIONAL,
    },
    "QueueUpdateStrategy": {"batch_size": 1},
    "BatchUpdateStrategy": {"batch_size": 1, "autopause_after_batch": False},
    "VariableBatchUpdateStrategy": {"batch_sizes": REQUIRED, "autopause_after_batch": False},
    "HttpHealthChecker": {
        "endpoint": "/health", "expected_response": "ok", "expected_response_code": 0,
    },
    "ShellHealthChecker": {"shell_command": REQUIRED},
    "HealthCheckerConfig": {"http": OPTIONAL, "shell": OPTIONAL},
    "HealthCheckConfig": {
        "health_checker": {"http": {
            "endpoint": "/health", "expected_response": "ok", "expected_response_code": 0,
        }},
        "initial_interval_secs": 15.0, "interval_secs": 10.0, "max_consecutive_failures": 0,
        "min_consecutive_successes": 1, "timeout_secs": 1.0,
    },
    "HttpLifecycleConfig": {
        "port": "health", "graceful_shutdown_endpoint": "/quitquitquit",
        "shutdown_endpoint": "/abortabortabort", "graceful_shutdown_wait_secs": 5,
        "shutdown_wait_secs": 5,
    },
    "LifecycleConfig": {"http": OPTIONAL},
    "Announcer": {
        "primary_port": "http", "portmap": {"aurora": "{{primary_port}}"}, "zk_path": OPTIONAL,
    },
    "Parameter": {"name": REQUIRED, "value": REQUIRED},
    "Docker": {"image": REQUIRED, "parameters": ()},
    "AppcImage": {"name": REQUIRED, "image_id": REQUIRED},
    "DockerImage": {"name": REQUIRED, "tag": REQUIRED},
    "Volume": {"container_path": REQUIRED, "host_path": REQUIRED, "mode": REQUIRED},
    "Mesos": {"image": OPTIONAL, "volumes": ()},
    "Container": {"docker": OPTIONAL},
    "PartitionPolicy": {"reschedule": True, "delay_secs": 0},
    "Metadata": {"key": REQUIRED, "value": REQUIRED},
    "ExecutorConfig": {"name": "AuroraExecutor", "data": ""},
    "PercentageSlaPolicy": {"percentage": REQUIRED, "duration_secs": REQUIRED},
    "CountSlaPolicy": {"count": REQUIRED, "duration_secs": REQUIRED},
    "CoordinatorSlaPolicy": {"coordinator_url": REQUIRED, "status_key": "drain"},
    "MesosTaskInstance": {
        "task": REQUIRED, "instance": REQUIRED, "role": REQUIRED, "announce": OPTIONAL,
        "environment": REQUIRED, "health_check_config": "default", "lifecycle": OPTIONAL,
    },
    "MesosJob": {
        "name": "{{task.name}}", "role": REQUIRED, "contact": OPTIONAL, "cluster": REQUIRED,
        "environment": REQUIRED, "instances": 1, "task": REQUIRED, "announce": OPTIONAL,
        "tier": OPTIONAL, "cron_schedule": OPTIONAL, "cron_collision_policy": "KILL_EXISTING",
        "update_config": "default", "constraints": OPTIONAL, "metadata": (),
        "service": False, "max_task_failures": 1, "production": False, "priority": 0,
        "health_check_config": "default", "lifecycle": {"http": {
            "port": "health", "graceful_shutdown_endpoint": "/quitquitquit",
            "shutdown_endpoint": "/abortabortabort", "graceful_shutdown_wait_secs": 5,
            "shutdown_wait_secs": 5,
        }},
        "task_links": OPTIONAL, "executor_config": {"name": "AuroraExecutor", "data": ""},
        "enable_hooks": False, "partition_policy": OPTIONAL, "sla_policy": OPTIONAL,
        "container": OPTIONAL,
    },
}  # fmt: skip


def plain(value: Any) -> Any:
    """pystachio's frozendict compares only with its own kind; compare as plain dicts."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


FIELD_CASES = [
    (struct, field, expected)
    for struct, fields in AURORA_SCHEMA.items()
    for field, expected in fields.items()
]


def test_every_struct_has_exactly_the_reference_fields() -> None:
    for struct, fields in AURORA_SCHEMA.items():
        assert set(getattr(schema, struct).TYPEMAP) == set(fields), struct


@pytest.mark.parametrize(("struct", "field", "expected"), FIELD_CASES)
def test_field_default(struct: str, field: str, expected: Any) -> None:
    signature = getattr(schema, struct).TYPEMAP[field]
    if expected is REQUIRED:
        assert signature.required and signature.empty
    elif expected is OPTIONAL:
        assert not signature.required and signature.empty
    elif expected == "default":
        # A nested struct whose own defaults are checked under its own name.
        assert not signature.required and not signature.empty
        assert signature.default == signature.klazz()
    else:
        assert not signature.required
        assert plain(signature.default.get()) == expected


def test_aliases_and_units() -> None:
    assert schema.Job is schema.MesosJob
    assert schema.Service.service().get() is True
    assert schema.DefaultLifecycleConfig == schema.LifecycleConfig(
        http=schema.HttpLifecycleConfig()
    )
    assert schema.DisableLifecycle.http() is Empty
    assert (schema.BYTES, schema.KB, schema.MB, schema.GB, schema.TB) == (
        1,
        1024,
        1024**2,
        1024**3,
        1024**4,
    )
    assert schema.LoggerDestination.VALUES == ("file", "console", "both", "none")
    assert schema.LoggerMode.VALUES == ("standard", "rotate")
    assert schema.Mode.VALUES == ("RO", "RW")


def test_prelude_has_what_aurora_configs_expect() -> None:
    names = prelude()
    expected = {
        # pystachio's types
        "Struct", "Default", "Required", "String", "Integer", "Float", "Boolean", "List",
        "Map", "Choice", "Enum", "Empty", "Ref",
        # units and helpers
        "BYTES", "KB", "MB", "GB", "TB", "order", "combine_tasks", "concat_tasks", "Tasks",
        "Processes", "Units", "Options", "SimpleTask", "SequentialTask", "python_options",
        "java_options",
        # every struct and alias
        *AURORA_SCHEMA, "Job", "Service", "DefaultLifecycleConfig", "DisableLifecycle",
        "DefaultHealthChecker",
    }  # fmt: skip
    assert expected <= set(names)
