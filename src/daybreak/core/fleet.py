"""The agents as numpy tables, so placement can judge every agent at once.

One row per agent, in registration order (the order ties are broken in). Columns of the
resource tables are `RESOURCES`: cpu, ram (MiB), disk (MiB), gpu, and the number of ports.
`used` counts every task the scheduler has put on the agent and not yet seen end, so it is
right even before the agent reports.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import numpy as np
import numpy.typing as npt

from daybreak.model.agent import AgentInfo, MaintenanceMode
from daybreak.model.jobspec import Container, JobSpec, Resources, with_container_overhead

RESOURCES = ("cpu", "ram", "disk", "gpu", "ports")
MISSING = -1  # the code of an attribute an agent does not have

Vector = npt.NDArray[np.float64]


class Holding(msgspec.Struct, frozen=True, gc=False):
    """What one task occupies on its agent while it is there. One per placed task: not
    tracked by the cyclic collector (see `daybreak.model.task`)."""

    task_id: str
    row: int
    amount: Vector
    ports: tuple[int, ...]
    spec: JobSpec


def demand(resources: Resources, port_count: int, container: Container | None = None) -> Vector:
    """What a task takes of an agent (with the runtime's share for a task in an image)."""
    resources = with_container_overhead(resources, container)
    return np.array(
        [resources.cpu, resources.ram_mb, resources.disk_mb, resources.gpu, port_count],
        dtype=np.float64,
    )


class Fleet:
    def __init__(self, agents: Iterable[AgentInfo] = ()) -> None:
        self.infos: list[AgentInfo] = []
        self.index: dict[str, int] = {}
        self.capacity: Vector = np.zeros((0, len(RESOURCES)))
        self.used: Vector = np.zeros((0, len(RESOURCES)))
        self.maintenance = np.zeros(0, dtype=np.int8)
        self.online = np.zeros(0, dtype=bool)
        self.used_ports: list[set[int]] = []
        # Per agent, the ports given back, in the order they were: a port is reused only once
        # none was never used, and then the one freed longest ago. A replacement given the
        # port its predecessor just left can find it still held (TIME_WAIT, a slow exit).
        self.freed_ports: list[dict[int, None]] = []
        # Per agent, where never-used ports begin: every port below it is taken or freed.
        self.port_cursor: list[int] = []
        self._codes: dict[str, tuple[npt.NDArray[np.int32], dict[str, int]]] = {}
        for info in agents:
            self.add(info)

    def __len__(self) -> int:
        return len(self.infos)

    def add(self, info: AgentInfo) -> int:
        """Register an agent, or update a known one's description; returns its row."""
        row = self.index.get(info.agent_id)
        capacity = demand(info.resources, info.ports.size)
        if row is None:
            row = len(self.infos)
            self.index[info.agent_id] = row
            self.infos.append(info)
            self.used_ports.append(set())
            self.freed_ports.append({})
            self.port_cursor.append(info.ports.first)
            self.capacity = np.vstack([self.capacity, capacity])
            self.used = np.vstack([self.used, np.zeros(len(RESOURCES))])
            self.maintenance = np.append(self.maintenance, np.int8(MaintenanceMode.NONE))
            self.online = np.append(self.online, True)
        else:
            if info.ports != self.infos[row].ports:  # a new range: count it afresh
                self.port_cursor[row] = info.ports.first
                self.freed_ports[row] = {}
            self.infos[row] = info
            self.capacity[row] = capacity
        self._codes.clear()
        return row

    def free(self) -> Vector:
        return self.capacity - self.used

    def set_maintenance(self, agent_id: str, mode: MaintenanceMode) -> None:
        self.maintenance[self.index[agent_id]] = mode

    def set_online(self, agent_id: str, online: bool) -> None:
        self.online[self.index[agent_id]] = online

    def codes(self, attribute: str) -> tuple[npt.NDArray[np.int32], dict[str, int]]:
        """Each agent's value of `attribute` as a small integer (MISSING if absent), and the
        value-to-code table: constraints then compare integers across all agents at once."""
        cached = self._codes.get(attribute)
        if cached is None:
            table: dict[str, int] = {}
            values = [info.attributes.get(attribute) for info in self.infos]
            array = np.array(
                [MISSING if v is None else table.setdefault(v, len(table)) for v in values],
                dtype=np.int32,
            )
            cached = self._codes[attribute] = (array, table)
        return cached

    def allocate(self, row: int, amount: Vector, port_names: Iterable[str]) -> dict[str, int]:
        """Take `amount` on agent `row`, choosing for each name the lowest port never used, or
        else the one freed longest ago."""
        self.used[row] += amount
        info, taken, freed = self.infos[row], self.used_ports[row], self.freed_ports[row]
        ports: dict[str, int] = {}
        candidate = max(self.port_cursor[row], info.ports.first)
        for name in port_names:
            while candidate <= info.ports.last and candidate in taken:
                candidate += 1
            if candidate <= info.ports.last:
                port = candidate
                candidate += 1
                self.port_cursor[row] = candidate
            elif freed:
                port = next(iter(freed))
            else:
                raise ValueError(f"agent {info.agent_id} has no free port for {name!r}")
            ports[name] = port
            taken.add(port)
            freed.pop(port, None)
        return ports

    def claim(self, row: int, amount: Vector, ports: Iterable[int]) -> None:
        """Account for a task already on the agent (a restart, or a report of its ports)."""
        self.used[row] += amount
        held = tuple(ports)
        self.used_ports[row].update(held)
        for port in held:
            self.freed_ports[row].pop(port, None)

    def release(self, row: int, amount: Vector, ports: Iterable[int]) -> None:
        self.used[row] -= amount
        given_back = tuple(ports)
        self.used_ports[row].difference_update(given_back)
        freed = self.freed_ports[row]
        for port in given_back:
            freed.pop(port, None)  # to the end: freed most recently
            freed[port] = None
