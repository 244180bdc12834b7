"""Several messages in a frame, only between peers that both take them: a scheduler sends
an agent of protocol version 1 one message a frame, and one of version 2 a round's launches
together. Against a real scheduler, over a real WebSocket, the agent's side spoken by hand."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import msgspec
from websockets.sync.client import connect

from daybreak.agent.link import connect_url
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.jobspec import JobKey, JobSpec, Process, Resources, Task
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import CLUSTER, SchedulerProcess, unique_role

INSTANCES = 5


def hello(agent_id: str, version: int, inventory: dict[str, TaskState] | None = None) -> bytes:
    return protocol.encode(protocol.Hello(
        agent_id=agent_id, hostname=agent_id, attributes={"host": agent_id},
        resources=Resources(cpu=8, ram_mb=8192, disk_mb=8192),
        ports=PortRange(first=31000, last=31099), inventory=inventory or {}, protocol=version,
    ))  # fmt: skip


def launches_as_framed(scheduler: SchedulerProcess, version: int) -> list[object]:
    """Connect an agent speaking `version`, create a job for it, and return the frames that
    carried its launches, as JSON."""
    agent_id = f"agent-v{version}"
    with connect(connect_url(scheduler.url)) as agent:
        agent.send(hello(agent_id, version).decode())
        welcome = protocol.decode_from_scheduler(agent.recv(timeout=30))
        assert isinstance(welcome, protocol.Welcome)
        assert welcome.protocol == protocol.PROTOCOL_VERSION
        key = JobKey(cluster=CLUSTER, role=unique_role(), environment="prod", name="web")
        spec = JobSpec(
            key=key, instances=INSTANCES, service=True,
            constraints=(),
            task=Task(name="web", processes=(Process(name="main", cmdline="serve"),),
                      resources=Resources(cpu=0.1, ram_mb=16, disk_mb=16)),
        )  # fmt: skip
        created = httpx.post(f"{scheduler.url}/api/v1/jobs", content=msgspec.json.encode(spec))
        assert created.status_code == 201, created.text
        frames: list[object] = []
        launched = 0
        while launched < INSTANCES:
            frame = json.loads(agent.recv(timeout=30))
            messages = frame if isinstance(frame, list) else [frame]
            found = sum(message["type"] == "launch" for message in messages)
            if found:
                frames.append(frame)
                launched += found
        return frames


def test_launches_are_framed_as_each_agent_takes_them(tmp_path: Path) -> None:
    scheduler = SchedulerProcess(f"sqlite:///{tmp_path / 'db'}", tmp_path / "scheduler.log")
    scheduler.start()
    try:
        old = launches_as_framed(scheduler, version=1)
        assert len(old) == INSTANCES and all(isinstance(frame, dict) for frame in old)
        new = launches_as_framed(scheduler, version=2)
        assert len(new) == 1 and isinstance(new[0], list)  # one round: one frame
    finally:
        scheduler.stop()


def test_a_welcome_may_share_its_frame_with_the_orders_that_follow_it(tmp_path: Path) -> None:
    """A task the scheduler never heard of, in the hello's inventory, is killed at once: a
    version 2 agent gets the kill in the welcome's frame, a version 1 agent after it."""
    scheduler = SchedulerProcess(f"sqlite:///{tmp_path / 'db'}", tmp_path / "scheduler.log")
    scheduler.start()
    try:
        for version in (1, 2):
            with connect(connect_url(scheduler.url)) as agent:
                stranger = {f"stranger-{version}": TaskState.RUNNING}
                agent.send(hello(f"agent-v{version}", version, stranger).decode())
                first = json.loads(agent.recv(timeout=30))
                if version == 1:
                    assert first["type"] == "welcome"
                    assert json.loads(agent.recv(timeout=30))["type"] == "kill"
                else:
                    assert [m["type"] for m in first] == ["welcome", "kill"]
    finally:
        scheduler.stop()
