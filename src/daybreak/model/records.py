"""What the store holds, as the scheduler sees it: a snapshot to load, changes to write.

Plain records: the core produces `Changes`, the store writes them, the read model follows them."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from daybreak.model.agent import AgentInfo, DrainRequest, MaintenanceMode
from daybreak.model.api import Quota
from daybreak.model.cron import CronJob
from daybreak.model.jobspec import JobSpec
from daybreak.model.task import ScheduledTask
from daybreak.model.update import JobUpdate


class StoredAgent(msgspec.Struct, frozen=True, kw_only=True):
    info: AgentInfo
    maintenance: MaintenanceMode = MaintenanceMode.NONE
    # While DRAINING: the drain's SLA terms and when it began.
    drain: DrainRequest | None = None
    # The highest status update sequence number applied from this agent.
    applied_seq: int = 0
    # The hash of the secret its first hello carried (see `agent_protocol.Hello.secret`).
    secret_hash: str | None = None


@dataclass
class Snapshot:
    """Everything the store holds, read in one consistent transaction."""

    tasks: list[ScheduledTask] = field(default_factory=list)
    jobs: dict[str, JobSpec] = field(default_factory=dict)  # by str(job key)
    agents: dict[str, StoredAgent] = field(default_factory=dict)
    quotas: dict[str, Quota] = field(default_factory=dict)
    updates: dict[str, JobUpdate] = field(default_factory=dict)  # by update id
    cron: dict[str, CronJob] = field(default_factory=dict)  # by str(job key)


@dataclass
class Changes:
    """Writes for one transaction; None deletes. Later changes to the same key win."""

    tasks: dict[str, ScheduledTask | None] = field(default_factory=dict)
    jobs: dict[str, JobSpec | None] = field(default_factory=dict)
    agents: dict[str, StoredAgent | None] = field(default_factory=dict)
    quotas: dict[str, Quota | None] = field(default_factory=dict)
    updates: dict[str, JobUpdate | None] = field(default_factory=dict)
    cron: dict[str, CronJob | None] = field(default_factory=dict)

    @classmethod
    def everything_in(cls, snapshot: Snapshot) -> Changes:
        """The writes that make an empty store hold `snapshot`."""
        changes = cls()
        changes.tasks.update((task.task_id, task) for task in snapshot.tasks)
        changes.jobs.update(snapshot.jobs)
        changes.agents.update(snapshot.agents)
        changes.quotas.update(snapshot.quotas)
        changes.updates.update(snapshot.updates)
        changes.cron.update(snapshot.cron)
        return changes

    def merge(self, later: Changes) -> None:
        self.tasks.update(later.tasks)
        self.jobs.update(later.jobs)
        self.agents.update(later.agents)
        self.quotas.update(later.quotas)
        self.updates.update(later.updates)
        self.cron.update(later.cron)

    def __bool__(self) -> bool:
        return bool(
            self.tasks or self.jobs or self.agents or self.quotas or self.updates or self.cron
        )
