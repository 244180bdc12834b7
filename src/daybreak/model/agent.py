"""The machines tasks run on, as the scheduler knows them."""

from __future__ import annotations

from enum import IntEnum

import msgspec

from daybreak.model.jobspec import Resources

# The attribute of an agent that runs tasks in images (its value names the runtime): a task in
# an image is placed only where it is.
CONTAINER_RUNTIME = "container_runtime"
# Where a task in an image finds its sandbox (Aurora's MESOS_SANDBOX), and where, under the
# agent's work directory, the runtime keeps its containers (named by their tasks' ids).
SANDBOX_MOUNT = "/mnt/mesos/sandbox"
CONTAINERS_DIR = "containers"


class MaintenanceMode(IntEnum):
    """Aurora's host maintenance modes, in the order placement prefers them."""

    NONE = 0  # in service
    SCHEDULED = 1  # maintenance is coming: still used, but last
    DRAINING = 2  # its tasks are being moved away: takes no new task
    DRAINED = 3  # empty and out of service


class PortRange(msgspec.Struct, frozen=True, kw_only=True):
    first: int
    last: int  # inclusive, as in `--ports 31000-32000`

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class AgentInfo(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    hostname: str
    # One value per attribute (`host`, `rack`, `dedicated`, anything an operator sets).
    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    resources: Resources
    ports: PortRange = PortRange(first=31000, last=32000)
    # The machine's own name (`hostname` may be a logical one), and the agent's work directory:
    # a task's sandbox is WORK_DIR/tasks/TASK_ID/sandbox there.
    address: str = ""
    work_dir: str = ""
    version: str = ""  # the agent's daybreak release, as it said when it last connected


class DrainTerms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a drain moves tasks (Aurora's `sla_host_drain`): a task leaves only while its job's
    SLA policy holds without it (a job without one gets `percentage` of its instances up for
    `duration_secs`); after `force_after_secs` the rest leave regardless. `force` drains at once
    ignoring every policy, for an emergency."""

    percentage: float = 95.0
    duration_secs: int = 30 * 60
    force_after_secs: int = 7 * 24 * 3600
    force: bool = False


class DrainRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A drain in progress: its terms and when it began. Stored with the agent, so a new
    leader carries on where the last one stopped."""

    terms: DrainTerms
    started_ms: int

    @property
    def force_at_ms(self) -> int:
        return (
            self.started_ms
            if self.terms.force
            else (self.started_ms + self.terms.force_after_secs * 1000)
        )
