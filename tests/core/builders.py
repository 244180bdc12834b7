"""Small builders for the core's tests: job specs and agents with only what a test cares about."""

from __future__ import annotations

from daybreak.core.cluster import Cluster
from daybreak.core.effects import Effect
from daybreak.model.agent import AgentInfo, MaintenanceMode, PortRange
from daybreak.model.jobspec import (
    JobKey,
    JobSpec,
    LimitConstraint,
    PartitionPolicy,
    Process,
    Resources,
    SchedulingConstraint,
    Task,
    ValueConstraint,
)


def job_spec(
    name: str = "app",
    *,
    role: str = "www",
    instances: int = 1,
    cpu: float = 1.0,
    ram_mb: int = 1024,
    disk_mb: int = 1024,
    gpu: int = 0,
    ports: tuple[str, ...] = (),
    service: bool = False,
    tier: str | None = None,
    priority: int = 0,
    max_task_failures: int = 1,
    constraints: dict[str, str] | None = None,
    partition_policy: PartitionPolicy | None = None,
) -> JobSpec:
    return JobSpec(
        key=JobKey(cluster="west", role=role, environment="prod", name=name),
        task=Task(
            name=name,
            processes=(Process(name="main", cmdline="sleep 1000"),),
            resources=Resources(cpu=cpu, ram_mb=ram_mb, disk_mb=disk_mb, gpu=gpu),
        ),
        instances=instances,
        service=service,
        tier=tier,
        production=tier == "preferred",
        priority=priority,
        max_task_failures=max_task_failures,
        constraints=tuple(parse_constraint(k, v) for k, v in (constraints or {}).items()),
        partition_policy=partition_policy,
        ports=ports,
    )


def parse_constraint(attribute: str, text: str) -> SchedulingConstraint:
    """The `.aurora` constraint syntax: `'limit:N'`, `'a,b'` or `'!a,b'`."""
    if text.startswith("limit:"):
        return LimitConstraint(attribute=attribute, limit=int(text.removeprefix("limit:")))
    negated = text.startswith("!")
    return ValueConstraint(
        attribute=attribute, values=tuple(text.lstrip("!").split(",")), negated=negated
    )


def agent(
    agent_id: str,
    *,
    cpu: float = 4.0,
    ram_mb: int = 8192,
    disk_mb: int = 65536,
    gpu: int = 0,
    ports: tuple[int, int] = (31000, 31099),
    more: dict[str, str] | None = None,
    **attributes: str,
) -> AgentInfo:
    """An agent whose `host` attribute is its id; `more` holds attributes built at run time."""
    return AgentInfo(
        agent_id=agent_id,
        hostname=agent_id,
        attributes={"host": agent_id, **attributes, **(more or {})},
        resources=Resources(cpu=cpu, ram_mb=ram_mb, disk_mb=disk_mb, gpu=gpu),
        ports=PortRange(first=ports[0], last=ports[1]),
    )


def set_maintenance(
    cluster: Cluster, agent_id: str, mode: MaintenanceMode, now: int
) -> list[Effect]:
    """What the scheduler's state does to the task layer when an agent's mode changes."""
    cluster.fleet.set_maintenance(agent_id, mode)
    if mode is MaintenanceMode.DRAINING:
        return cluster.drain_tasks([task.task_id for task in cluster.on_agent(agent_id)], now)
    return cluster.drain_effects()
