"""Where an agent keeps things under its work directory.

```
WORK/agent.json                  the agent's identity and next status sequence number
WORK/outbox                      status updates not yet acknowledged by the scheduler
WORK/tasks/TASK_ID/              one directory per task: what the sandbox file API serves
    launch.json                  the task as launched (TaskLaunch)
    checkpoint                   the executor's record of the task
    reported                     the last state the agent reported for the task
    .exits/PROCESS.RUN           each run's exit status, written by its waiter
    stdout, stderr               output of processes whose logger says `console`
    sandbox/                     the processes' working directory ($MESOS_SANDBOX/sandbox)
    .logs/PROCESS/RUN/stdout     each run's output, as Thermos laid it out
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TaskPaths:
    root: Path

    @property
    def task_id(self) -> str:
        return self.root.name

    @property
    def launch(self) -> Path:
        return self.root / "launch.json"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def reported(self) -> Path:
        return self.root / "reported"

    @property
    def sandbox(self) -> Path:
        return self.root / "sandbox"

    def console(self, stream: str) -> Path:
        return self.root / stream

    @property
    def exits(self) -> Path:
        return self.root / ".exits"

    def exit_file(self, process: str, run: int) -> Path:
        return self.exits / f"{process}.{run}"

    @property
    def logs(self) -> Path:
        return self.root / ".logs"

    def process_log(self, process: str, run: int, stream: str) -> Path:
        return self.logs / process / str(run) / stream


def tasks_dir(work_dir: Path) -> Path:
    return work_dir / "tasks"


def task_paths(work_dir: Path, task_id: str) -> TaskPaths:
    return TaskPaths(tasks_dir(work_dir) / task_id)
