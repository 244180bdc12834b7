"""Workload identity: each task may call the API as its role, and nothing more.

The leader signs a short-lived credential for every task it launches (`Launch.credential`) and
sends fresh ones to each agent for the tasks it holds: at each welcome, and every third of the
lifetime after, so a task always holds one that has not expired. The agent puts it in the
task's sandbox. The key is the cluster's, kept in the store, so a standby that takes over
honours what was signed before.

A credential is honoured only while its task is placed or running: it dies with the task,
however fresh. It grants the role's jobs (as a user of that role only), never an admin's.
"""

from __future__ import annotations

from collections.abc import Callable

from daybreak.model import agent_protocol as protocol
from daybreak.model.credentials import (
    BadWorkloadCredentialError,
    WorkloadClaims,
    read_workload,
    sign_workload,
)
from daybreak.model.task_state import LIVE_STATES, PLACED_STATES
from daybreak.scheduler.read_model import ReadModel
from daybreak.scheduler.security import BadCredentialsError, Principal

# The states in which a task has (or may have) processes on an agent: its credential holds.
ACTING_STATES = PLACED_STATES | LIVE_STATES


def workload_name(task_id: str) -> str:
    """Who a task is, in the audit log and in refusals."""
    return f"task:{task_id}"


class WorkloadIdentities:
    def __init__(self, key: bytes, ttl_ms: int, view: ReadModel, now: Callable[[], int]) -> None:
        self.key = key
        self.ttl_ms = ttl_ms
        self.view = view
        self.now = now

    def issue(self, task_id: str, role: str) -> str:
        claims = WorkloadClaims(task_id=task_id, role=role, expires_ms=self.now() + self.ttl_ms)
        return sign_workload(self.key, claims)

    def for_launch(self, launch: protocol.Launch) -> protocol.Launch:
        credential = self.issue(launch.task_id, launch.spec.key.role)
        return protocol.Launch(
            task_id=launch.task_id,
            spec=launch.spec,
            instance=launch.instance,
            ports=launch.ports,
            credential=credential,
        )

    def renewal(self, agent_id: str) -> protocol.Credentials | None:
        """Fresh credentials for the agent's tasks that may act, if it holds any."""
        by_task = {
            task.task_id: self.issue(task.task_id, task.job.role)
            for task in self.view.agent_tasks(agent_id)
            if task.state in ACTING_STATES
        }
        return protocol.Credentials(by_task=by_task) if by_task else None

    def principal(self, credential: str) -> Principal:
        """Whom a credential names: its task, as a user of its role. Raises
        BadCredentialsError if it is forged, expired, or its task no longer runs."""
        try:
            claims = read_workload(self.key, credential, self.now())
        except BadWorkloadCredentialError as error:
            raise BadCredentialsError(str(error)) from error
        task = self.view.tasks.get(claims.task_id)
        if task is None or task.state not in ACTING_STATES or task.job.role != claims.role:
            state = "is gone" if task is None else f"is {task.state.name}"
            raise BadCredentialsError(
                f"the workload credential's task {claims.task_id} {state}: a credential dies "
                "with its task"
            )
        return Principal(name=workload_name(claims.task_id), roles=frozenset({claims.role}),
                         admin=False)  # fmt: skip
