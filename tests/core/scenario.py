"""Runs the scenarios in `scenarios/*.toml`: agents, jobs, then steps with what to expect.

A step is `at` (seconds), `do` (one command, below) and any expectations about instances,
written `JOB/INSTANCE` and meaning that instance's newest task:

    create JOB            kill JOB/N          restart JOB/N        schedule      tick
    status JOB/N STATE    lose AGENT          register AGENT       maintenance AGENT MODE
    report AGENT JOB/N=STATE ... | report AGENT unknown-id=RUNNING  (reconciliation)

    states   = { "web/0" = "RUNNING" }      agents  = { "web/0" = "a1" }
    reasons  = { "web/2" = "limit host:1 on 2 agents" }
    messages = { "batch/0" = "Preempting in favor of" }   (the last event's message contains it)
    runs     = { "web/0" = 2 }              (how many tasks the instance has had)
    kills    = [ "web/0" ] or [ "unknown-id" ]  (KillTask effects of this step)
    launches = [ "web/0" ]                  (LaunchTask effects of this step)
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from daybreak.core.cluster import Cluster
from daybreak.core.effects import Effect, KillTask, LaunchTask
from daybreak.core.scheduling import schedule
from daybreak.core.settings import Settings
from daybreak.model.agent import AgentInfo, MaintenanceMode
from daybreak.model.jobspec import JobSpec, PartitionPolicy
from daybreak.model.task import ScheduledTask
from daybreak.model.task_state import TaskState
from tests.core.builders import agent, job_spec, set_maintenance

SCENARIOS = Path(__file__).parent / "scenarios"
SECOND = 1000
STEP_KEYS = {"at", "do", "states", "agents", "reasons", "messages", "runs", "kills", "launches"}


class Scenario:
    def __init__(self, path: Path) -> None:
        data = tomllib.loads(path.read_text())
        self.name = path.stem
        # Durations are written in seconds: `preemption_delay_s = 0` sets preemption_delay_ms.
        settings: dict[str, Any] = {
            key.removesuffix("_s") + "_ms": int(value * SECOND)
            for key, value in data.get("settings", {}).items()
        }
        self.cluster = Cluster(replace(Settings(), **settings))
        self.agents = {a["id"]: _agent(a) for a in data.get("agents", [])}
        self.jobs: dict[str, JobSpec] = {j["name"]: _job(j) for j in data.get("jobs", [])}
        self.steps: list[dict[str, Any]] = data["steps"]
        self.log: list[Effect] = []  # every effect of every step, in order

    def task(self, ref: str) -> ScheduledTask:
        runs = self.runs(ref)
        assert runs, f"{ref} has no task"
        return runs[-1]

    def runs(self, ref: str) -> list[ScheduledTask]:
        name, instance = ref.split("/")
        return [
            t for t in self.cluster.job_tasks(self.jobs[name].key) if t.instance == int(instance)
        ]

    def run(self) -> None:
        for agent_info in self.agents.values():
            self.cluster.register_agent(agent_info, 0)
        for number, step in enumerate(self.steps, 1):
            where = f"{self.name}, step {number} ({step['do']!r})"
            unknown = set(step) - STEP_KEYS
            assert not unknown, f"{where}: unknown keys {sorted(unknown)} (a typo expects nothing)"
            effects = self.do(step["do"], int(step.get("at", 0) * SECOND))
            self.log.extend(effects)
            self.check(step, effects, where)

    def do(self, command: str, now: int) -> list[Effect]:
        verb, *args = command.split()
        cluster = self.cluster
        if verb == "create":
            spec = self.jobs[args[0]]
            return cluster.add_instances(spec, range(spec.instances), now)
        if verb == "schedule":
            return schedule(cluster, now)
        if verb == "tick":
            return cluster.tick(now)
        if verb == "kill":
            return cluster.kill_tasks([self.task(args[0]).task_id], now, "Killed by test")
        if verb == "restart":
            return cluster.restart_tasks([self.task(args[0]).task_id], now, "Restarted by test")
        if verb == "status":
            task = self.task(args[0])
            assert task.agent_id is not None
            return cluster.status_update(task.agent_id, task.task_id, TaskState(args[1]), now)
        if verb == "lose":
            return cluster.agent_lost(args[0], now)
        if verb == "register":
            return cluster.register_agent(self.agents[args[0]], now)
        if verb == "maintenance":
            return set_maintenance(cluster, args[0], MaintenanceMode[args[1]], now)
        if verb == "report":
            reported = {}
            for pair in args[1:]:
                ref, state = pair.split("=")
                task_id = self.task(ref).task_id if "/" in ref else ref
                reported[task_id] = TaskState(state)
            return cluster.reconcile_agent(args[0], reported, now)
        raise AssertionError(f"unknown scenario command {command!r}")

    def check(self, step: dict[str, Any], effects: list[Effect], where: str) -> None:
        for ref, state in step.get("states", {}).items():
            assert self.task(ref).state == state, f"{where}: {ref} is {self.task(ref).state}"
        for ref, agent_id in step.get("agents", {}).items():
            assert self.task(ref).agent_id == agent_id, (
                f"{where}: {ref} on {self.task(ref).agent_id}"
            )
        for ref, reason in step.get("reasons", {}).items():
            got = str(self.cluster.pending_reasons.get(self.task(ref).task_id))
            assert got == reason, f"{where}: {ref} pending because {got!r}"
        for ref, text in step.get("messages", {}).items():
            message = self.task(ref).events[-1].message or ""
            assert text in message, f"{where}: {ref}'s last message is {message!r}"
        for ref, count in step.get("runs", {}).items():
            assert len(self.runs(ref)) == count, f"{where}: {ref} had {len(self.runs(ref))} runs"
        if "kills" in step:
            killed = sorted(e.task_id for e in effects if isinstance(e, KillTask))
            expected = sorted(self._task_id(ref) for ref in step["kills"])
            assert killed == expected, f"{where}: killed {killed}"
        if "launches" in step:
            launched = sorted(e.task.task_id for e in effects if isinstance(e, LaunchTask))
            expected = sorted(self.task(ref).task_id for ref in step["launches"])
            assert launched == expected, f"{where}: launched {launched}"

    def _task_id(self, ref: str) -> str:
        return self.task(ref).task_id if "/" in ref else ref


def _agent(data: dict[str, Any]) -> AgentInfo:
    fields: dict[str, Any] = {k: data[k] for k in ("cpu", "ram_mb", "disk_mb", "gpu") if k in data}
    attributes: dict[str, Any] = {
        k: str(v) for k, v in data.items() if k not in fields and k != "id"
    }
    return agent(data["id"], **fields, more=attributes)


def _job(data: dict[str, Any]) -> JobSpec:
    data = dict(data)
    policy = data.pop("partition_policy", None)
    if policy is not None:
        data["partition_policy"] = PartitionPolicy(**policy)
    if "ports" in data:
        data["ports"] = tuple(data["ports"])
    return job_spec(data.pop("name"), **data)
