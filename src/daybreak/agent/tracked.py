"""A task as the host tracks it, and the passes over tracked tasks that run off the loop:
their usage (reading /proc, cgroups and sandboxes) and what finished ones left on disk."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

from daybreak.agent.cgroups import TaskCgroups
from daybreak.agent.containers import ContainerLaunch
from daybreak.agent.containers import delete as delete_container
from daybreak.agent.executor.health import HealthTracker
from daybreak.agent.executor.orphans import AGENT_CHILDREN
from daybreak.agent.executor.supervisor import TaskSupervisor
from daybreak.agent.executor.tree import ProcessTables
from daybreak.agent.gc import Unused
from daybreak.agent.logs import rotate_logs
from daybreak.agent.usage import measure, tree_bytes
from daybreak.model import agent_protocol as protocol
from daybreak.model.jobspec import TaskInstance
from daybreak.model.task_state import TaskState


@dataclass
class Tracked:
    supervisor: TaskSupervisor
    cgroups: TaskCgroups
    reported: TaskState | None = None
    timer: asyncio.TimerHandle | None = None
    pidfds: dict[int, int] = field(default_factory=dict)
    # None when the task has no health check: it is healthy once its processes run.
    health: HealthTracker | None = None
    # The health checks, then the lifecycle requests of a graceful stop.
    helpers: set[asyncio.Task[None]] = field(default_factory=set)
    # Set once nothing of the task runs any more (it left CLEANING).
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    usage: protocol.TaskUsage | None = None
    # The sandbox a closed task left, as garbage collection sees it.
    left: Unused | None = None

    @property
    def task(self) -> TaskInstance:
        return self.supervisor.launch.task

    def release(self) -> None:
        """Stop the task's container, if any, and remove its cgroups (blocking)."""
        release(self.supervisor.launch.container, self.cgroups)

    @property
    def closed(self) -> bool:
        """Finished, reported, and every waiter reaped."""
        return self.supervisor.finished and not self.supervisor.waiters


def release(container: ContainerLaunch | None, cgroups: TaskCgroups) -> None:
    if container is not None:
        delete_container(container)
    cgroups.remove()


def measure_usage(active: list[Tracked]) -> list[protocol.TaskUsage]:
    """Each task's usage; its rotating logs are trimmed in the same pass, off the loop."""
    usages = []
    # One look at the agent's orphans (and one scan, if any task needs it) per pass.
    tables = ProcessTables(time.monotonic, AGENT_CHILDREN.adopted, recent_s=math.inf)
    for tracked in active:
        supervisor = tracked.supervisor
        rotate_logs(supervisor.paths, supervisor.launcher)
        pids = supervisor.processes(tables)
        usages.append(measure(supervisor.task_id, supervisor.paths.root, tracked.cgroups, pids))
    return usages


def finished_sandboxes(closed: dict[str, Tracked]) -> list[Unused]:
    """What each closed task left; measured once, since nothing runs there any more."""
    sandboxes = []
    for task_id, tracked in closed.items():
        if tracked.left is None:
            paths = tracked.supervisor.paths
            finished_ms = tracked.supervisor.view.reported_ms
            if finished_ms is not None:
                with contextlib.suppress(OSError):
                    tracked.left = Unused(task_id, finished_ms, tree_bytes(paths.root))
        if tracked.left is not None:
            sandboxes.append(tracked.left)
    return sandboxes
