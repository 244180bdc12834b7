"""Where new task and update ids come from. The core draws no random numbers and reads no
clock: the shell injects an id source built on uuids and time, tests a counter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from daybreak.model.jobspec import JobSpec


class IdSource(Protocol):
    def task_id(self, spec: JobSpec, instance: int) -> str: ...

    def update_id(self) -> str: ...


@dataclass
class SequentialIds:
    """Ids in Aurora's task id shape (`role-env-name-instance-N`), from a counter."""

    counter: int = 0

    def task_id(self, spec: JobSpec, instance: int) -> str:
        self.counter += 1
        key = spec.key
        return f"{key.role}-{key.environment}-{key.name}-{instance}-{self.counter:08d}"

    def update_id(self) -> str:
        self.counter += 1
        return f"update-{self.counter:08d}"
