"""Fill in the late-bound templates for one instance: what an agent runs.

After loading, the only templates left in a JobSpec are `{{mesos.instance}}`,
`{{mesos.hostname}}`, `{{thermos.task_id}}` and `{{thermos.ports[NAME]}}`. They are filled in
here from plain values, so rendering needs no pystachio objects and costs microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from daybreak.errors import ConfigError
from daybreak.model.jobspec import JobSpec, TaskInstance
from daybreak.model.portmap import resolve_portmap

LATE_BOUND = re.compile(
    r"\{\{(?:(mesos\.instance)|(mesos\.hostname)|(thermos\.task_id)|thermos\.ports\[([^\]{}]+)\])\}\}"
)


def instance_ports(spec: JobSpec, allocated: Mapping[str, int]) -> dict[str, int]:
    """Every port name the task may use: allocated, static, and announcer aliases of those."""
    missing = sorted(set(spec.ports) - set(allocated))
    if missing:
        raise ConfigError(f"{spec.key}: ports {', '.join(missing)} were not allocated")
    ports = {**spec.static_ports, **allocated}
    if spec.announce is not None:
        for alias, end in resolve_portmap(spec.announce.portmap).items():
            ports.setdefault(alias, end if isinstance(end, int) else ports[end])
    return ports


def render_task(
    spec: JobSpec, *, instance: int, hostname: str, task_id: str, ports: Mapping[str, int]
) -> TaskInstance:
    all_ports = instance_ports(spec, ports)

    def substitute(match: re.Match[str]) -> str:
        instance_ref, hostname_ref, task_id_ref, port = match.groups()
        if instance_ref:
            return str(instance)
        if hostname_ref:
            return hostname
        if task_id_ref:
            return task_id
        return str(all_ports[port])

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return LATE_BOUND.sub(substitute, value)
        if isinstance(value, list | tuple):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    unrendered = TaskInstance(
        job=spec.key,
        instance=instance,
        hostname=hostname,
        task_id=task_id,
        ports=all_ports,
        task=spec.task,
        health_check=spec.health_check,
        lifecycle=spec.lifecycle,
        announce=spec.announce,
        container=spec.container,
    )
    return msgspec.convert(fill(msgspec.to_builtins(unrendered)), TaskInstance)
