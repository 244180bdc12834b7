"""The agent daemon: the machine's tasks, and one conversation with the scheduler about them.

The tasks live in the `TaskHost`; the conversation is the `SchedulerLink`'s. Each status
change the host reports is numbered and written to the outbox before it is sent; the
connection may come and go, the outbox does not.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable

import msgspec

from daybreak import __version__
from daybreak.agent.host import TaskHost
from daybreak.agent.identity import renew_credentials
from daybreak.agent.link import SchedulerLink, connect_url
from daybreak.agent.outbox import Outbox
from daybreak.agent.paths import make_tasks_dir
from daybreak.agent.sandbox_files import SandboxPathError, follow_file, list_files
from daybreak.agent.settings import AgentConfig
from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol
from daybreak.model.credentials import new_token
from daybreak.model.task_state import TaskState
from daybreak.tls import client_context

__all__ = ["Agent", "AgentConfig", "connect_url"]

log = logging.getLogger("daybreak.agent")


def wall_ms() -> int:
    return int(time.time() * 1000)


class _Identity(msgspec.Struct, frozen=True):
    agent_id: str
    # Proves to the scheduler that this is the agent that first connected with the id: the
    # cluster's agent token alone cannot claim another agent's id. Made once, kept here.
    secret: str = ""


class Agent:
    def __init__(self, config: AgentConfig, clock: Callable[[], int] = wall_ms) -> None:
        self.config = config
        self.clock = clock
        config.work_dir.mkdir(parents=True, exist_ok=True)
        make_tasks_dir(config.work_dir)
        identity = self._identity()
        self.agent_id, self.secret = identity.agent_id, identity.secret
        # Looked up once: it may ask DNS, which must not stall the loop at each reconnect.
        self.address = config.address or socket.getfqdn()
        self.outbox = Outbox(config.work_dir)
        self.host = TaskHost(config, self.agent_id, clock, self._send_update)
        self.link = SchedulerLink(
            config.scheduler_urls, config.credential, self.outbox, self, clock,
            tls=client_context(config.ca_file, config.client_cert, config.client_key),
            own_ports=config.client_cert is not None,
        )  # fmt: skip

    def _identity(self) -> _Identity:
        path = self.config.work_dir / "agent.json"
        if path.exists():
            stored = msgspec.json.decode(path.read_bytes(), type=_Identity)
            if self.config.agent_id and self.config.agent_id != stored.agent_id:
                raise DaybreakError(
                    f"{path} belongs to agent {stored.agent_id!r}, not "
                    f"{self.config.agent_id!r}: give each agent its own --work-dir"
                )
            if stored.secret:
                return stored
            identity = _Identity(stored.agent_id, new_token())  # kept by an older version
        else:
            agent_id = self.config.agent_id or f"{self.config.hostname}-{uuid.uuid4().hex[:8]}"
            identity = _Identity(agent_id, new_token())
        temporary = path.with_suffix(".tmp")
        temporary.touch(mode=0o600)
        temporary.write_bytes(msgspec.json.encode(identity))
        temporary.replace(path)
        return identity

    async def run(self) -> None:
        """Run until cancelled; an exception in any of the agent's loops ends it, raised."""
        try:
            async with asyncio.TaskGroup() as group:
                self.host.start(group)
                group.create_task(self.link.run(), name="connection")
        finally:
            await self.host.close()
            self.outbox.close()

    def _send_update(self, task_id: str, state: TaskState, message: str | None) -> None:
        self.link.send_update(task_id, state, message)

    # What the link asks of this machine.

    def hello(self) -> protocol.Hello:
        return protocol.Hello(
            agent_id=self.agent_id,
            hostname=self.config.hostname,
            attributes={**self.host.capabilities(), **self.config.attributes},
            resources=self.config.resources,
            ports=self.config.ports,
            inventory=self.host.inventory(),
            address=self.address,
            work_dir=str(self.config.work_dir.resolve()),
            secret=self.secret,
            version=__version__,
        )

    def usage(self) -> tuple[protocol.TaskUsage, ...]:
        return self.host.usage()

    def launch(self, message: protocol.Launch) -> None:
        self.host.launch(message, self.link.cluster)

    def renew_credentials(self, message: protocol.Credentials) -> None:
        renew_credentials(self.host.tasks, message)

    def kill(self, message: protocol.Kill) -> None:
        self.host.kill(message)

    async def answer(self, request: protocol.TaskRequest) -> protocol.AgentReply:
        reply: protocol.AgentReply
        tracked = self.host.tasks.get(request.task_id)
        try:
            if tracked is None:
                raise SandboxPathError(f"no task {request.task_id} on agent {self.agent_id}")
            root = tracked.supervisor.paths.root
            if isinstance(request, protocol.DescribeTask):
                supervisor = tracked.supervisor
                names = [process.name for process in tracked.task.task.processes]
                reply = protocol.TaskDescription(
                    request_id=request.request_id,
                    task_id=request.task_id,
                    phase=supervisor.view.phase,
                    message=supervisor.view.message,
                    processes=supervisor.view.describe(names),
                    usage=None if supervisor.finished else tracked.usage,
                )
            elif isinstance(request, protocol.ListFiles):
                entries = list_files(root, request.path)
                reply = protocol.FileList(request_id=request.request_id, entries=entries)
            else:
                data, size = await follow_file(
                    root, request.path, request.offset, request.length, request.wait_ms / 1000
                )
                reply = protocol.FileChunk(
                    request_id=request.request_id, offset=request.offset, data=data, size=size
                )
        except SandboxPathError as error:
            reply = protocol.RequestFailed(request_id=request.request_id, error=str(error))
        except Exception as error:  # every request gets its answer, whatever went wrong
            log.exception("event=request_failed task=%s request=%r", request.task_id, request)
            reply = protocol.RequestFailed(
                request_id=request.request_id,
                error=f"the agent failed to answer: {error.__class__.__name__}: {error}",
            )
        return reply
