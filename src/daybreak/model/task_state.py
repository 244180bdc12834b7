"""Task states, named and grouped exactly as Aurora's users know them."""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    INIT = "INIT"  # created, not yet stored
    PENDING = "PENDING"  # waiting for a machine
    THROTTLED = "THROTTLED"  # waiting out a flapping penalty before PENDING
    ASSIGNED = "ASSIGNED"  # placed on an agent, launch sent
    STARTING = "STARTING"  # the agent is preparing the sandbox / waiting for health
    RUNNING = "RUNNING"  # running and healthy
    FINISHED = "FINISHED"  # every process succeeded
    FAILED = "FAILED"  # a process exhausted its failures, or the task was unhealthy
    KILLING = "KILLING"  # a kill was requested
    KILLED = "KILLED"  # killed on request
    LOST = "LOST"  # the scheduler lost track of it (agent gone, timeout, launch failure)
    PREEMPTING = "PREEMPTING"  # being killed to make room for a higher-priority task
    RESTARTING = "RESTARTING"  # being killed to be started again (job restart)
    DRAINING = "DRAINING"  # being killed because its machine is drained for maintenance
    PARTITIONED = "PARTITIONED"  # its agent is unreachable; it may still be running


TERMINAL_STATES = frozenset(
    {TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST}
)
# Placed on an agent and meant to run there: what a restart, a drain or preemption applies to.
PLACED_STATES = frozenset({TaskState.ASSIGNED, TaskState.STARTING, TaskState.RUNNING})
# A kill is under way, for whatever reason.
BEING_KILLED_STATES = frozenset(
    {TaskState.KILLING, TaskState.PREEMPTING, TaskState.RESTARTING, TaskState.DRAINING}
)
# The task's processes are (or may be) running on an agent.
LIVE_STATES = BEING_KILLED_STATES | {TaskState.RUNNING, TaskState.PARTITIONED}
# States that must not last: a task still in one after the transient timeout becomes LOST.
TRANSIENT_STATES = BEING_KILLED_STATES | {TaskState.ASSIGNED}
ACTIVE_STATES = LIVE_STATES | {
    TaskState.PENDING,
    TaskState.THROTTLED,
    TaskState.ASSIGNED,
    TaskState.STARTING,
}
# Ended for want of success: its process failed, or its agent was lost.
FAILED_STATES = frozenset({TaskState.FAILED, TaskState.LOST})
# States in which the task occupies resources on an agent.
AGENT_ASSIGNED_STATES = ACTIVE_STATES - {TaskState.PENDING, TaskState.THROTTLED}
