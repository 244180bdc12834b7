"""What one command asks of the shell, in the order the shell must carry it out (etcd Raft's
`Ready`):

1. `writes` (or `replace_all`, a restore) go to the store in one transaction, together with the
   writes of any commands handled meanwhile. If that fails, nothing below happens for this
   command or any later one: the scheduler stops (fail-stop).
2. Once durable, the writes become visible: the read model, and the event stream
   (`deleted` names the job of each deleted task, which the write no longer carries).
3. `sends` go to agents in order, and `hang_ups` close agents' connections;
   `coordinator_asks` are sent to SLA coordinators.
4. `reply` answers whoever sent the command.
5. `logs` are written, one line per change.
6. The shell hands the core a `Tick` at `wake_at` at the latest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daybreak.model import agent_protocol as protocol
from daybreak.model.jobspec import JobKey
from daybreak.model.records import Changes, Snapshot


@dataclass(frozen=True, slots=True)
class LogLine:
    """One thing that happened, for the shell's structured log: `event` and fixed fields."""

    event: str
    fields: dict[str, object]
    warning: bool = False


@dataclass(frozen=True, slots=True)
class CoordinatorAsk:
    """Ask a job's SLA coordinator whether task `task_id` may be taken down (Aurora's
    `CoordinatorSlaPolicy`); the shell tells the core the answer (`CoordinatorAnswer`)."""

    task_id: str
    url: str
    status_key: str
    # How long until the drain moves the task regardless (Aurora's forceMaintenanceCountdownMs).
    force_in_ms: int


@dataclass
class Ready:
    writes: Changes = field(default_factory=Changes)
    replace_all: Snapshot | None = None
    deleted: dict[str, JobKey] = field(default_factory=dict)
    sends: list[tuple[str, protocol.Message]] = field(default_factory=list)
    hang_ups: list[str] = field(default_factory=list)
    coordinator_asks: list[CoordinatorAsk] = field(default_factory=list)
    reply: Any = None
    logs: list[LogLine] = field(default_factory=list)
    wake_at: int | None = None

    def log(self, event: str, warning: bool = False, **fields: object) -> None:
        self.logs.append(LogLine(event, fields, warning))

    def wake(self, at_ms: int) -> None:
        self.wake_at = at_ms if self.wake_at is None else min(self.wake_at, at_ms)

    @property
    def durable(self) -> bool:
        """Whether the store has to write something before the rest may happen."""
        return bool(self.writes) or self.replace_all is not None
