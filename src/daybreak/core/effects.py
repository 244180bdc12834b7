"""What the core asks the shell to do, as data, in the order it must be done.

Persisting comes first: the shell writes every SaveTask and DeleteTask of a batch in one
transaction before it sends a single launch or kill, so nothing is told to an agent that a
restarted scheduler would not know.
"""

from __future__ import annotations

from dataclasses import dataclass

from daybreak.model.jobspec import JobKey
from daybreak.model.task import ScheduledTask


@dataclass(frozen=True, slots=True)
class SaveTask:
    task: ScheduledTask


@dataclass(frozen=True, slots=True)
class DeleteTask:
    task_id: str
    job: JobKey  # for those following the job's changes


@dataclass(frozen=True, slots=True)
class LaunchTask:
    task: ScheduledTask  # ASSIGNED, with its agent and ports


@dataclass(frozen=True, slots=True)
class KillTask:
    task_id: str
    agent_id: str


Effect = SaveTask | DeleteTask | LaunchTask | KillTask
