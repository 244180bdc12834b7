"""Every message between an agent and the scheduler, and the rules of the conversation.

An agent keeps one WebSocket open to the scheduler (`ws://HOST:PORT/api/v1/agents/connect`,
its credential in the `Authorization` header). Each frame is one JSON object tagged by `type`,
or, between peers of protocol version 2 or later, a JSON array of such objects to be taken in
order: a side sends arrays only once the other has said its version (the agent in `Hello`, the
scheduler in `Welcome`), so either may be older than the other.

The conversation:
1. The agent opens with `Hello`: who it is, what it offers, and every task it holds with the
   state it last reported (the inventory the scheduler reconciles at once).
2. The scheduler answers `Welcome` with the heartbeat interval and the highest status
   sequence number it has applied for this agent. The agent then re-sends, in order, every
   update above that number. A later `Welcome` re-paces the conversation (the fleet grew or
   shrank): only its heartbeat interval and timeout count.
3. From then on, in any order: the agent sends `StatusUpdate`s and `Heartbeat`s; the scheduler
   sends `Launch`, `Kill`, `Ack`, `Credentials` (to agents of version 3 or later: fresh
   credentials for the tasks it holds, after each welcome and then periodically) and requests
   about a task (`ListFiles`, `ReadFile`,
   `DescribeTask`), which the agent answers with `FileList`, `FileChunk`, `TaskDescription` or
   `RequestFailed` carrying the same `request_id`.

Status updates carry a sequence number that only grows, across agent restarts too. They stay
on the agent's disk until a cumulative `Ack` covers them, and the scheduler ignores a number it
has already applied: nothing is lost and nothing is applied twice when either side restarts.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import msgspec

from daybreak.model.agent import PortRange
from daybreak.model.jobspec import JobSpec, Resources
from daybreak.model.task_state import TaskState

PROTOCOL_VERSION = 3
BATCHES_SINCE = 2  # the first version that takes a frame holding several messages
CREDENTIALS_SINCE = 3  # the first that takes `Credentials`
# How long a scheduler waits for a silent agent unless told otherwise (`--agent-timeout`); an
# agent assumes it until the scheduler's welcome says.
DEFAULT_AGENT_TIMEOUT_MS = 30_000
MAX_BATCH = 256  # messages in one frame at most
CONNECT_PATH = "/api/v1/agents/connect"


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every protocol message."""


# Agent to scheduler.


class Hello(Message, frozen=True, kw_only=True, tag="hello"):
    agent_id: str
    hostname: str
    attributes: dict[str, str]
    resources: Resources
    ports: PortRange
    # Every task the agent holds, live or finished but not yet garbage collected.
    inventory: dict[str, TaskState]
    protocol: int = PROTOCOL_VERSION
    # Where people reach the machine (`task ssh`), and the agent's work directory there.
    address: str = ""
    work_dir: str = ""
    version: str = ""  # the agent's daybreak release
    # The agent's own secret, made at its first start: the scheduler keeps its hash from the
    # first hello with this id and turns away any later hello without it (an impostor holding
    # the cluster's agent token), unless the agent was given up (LOST) meanwhile.
    secret: str = ""


class StatusUpdate(Message, frozen=True, kw_only=True, tag="status"):
    seq: int
    task_id: str
    state: TaskState
    timestamp_ms: int
    message: str | None = None


class TaskUsage(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    cpu_secs: float  # user + system time of every process of the task so far
    ram_mb: float  # resident memory now
    disk_mb: float  # the sandbox's size
    processes: int
    # When the agent measured it (its clock): heartbeats repeat a measurement until the next,
    # and a rate is only right between measurements. 0 from agents that did not say.
    measured_ms: int = 0


class Heartbeat(Message, frozen=True, kw_only=True, tag="heartbeat"):
    timestamp_ms: int
    usage: tuple[TaskUsage, ...] = ()


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # relative to the sandbox
    size: int
    is_dir: bool
    mtime_ms: int


class FileList(Message, frozen=True, kw_only=True, tag="file_list"):
    request_id: int
    entries: tuple[FileEntry, ...]


class FileChunk(Message, frozen=True, kw_only=True, tag="file_chunk"):
    request_id: int
    offset: int
    data: bytes
    size: int  # the file's size when read, so a follower knows whether more is waiting


class ProcessRunInfo(msgspec.Struct, frozen=True, kw_only=True):
    run: int
    pid: int
    started_ms: int
    ended_ms: int | None = None
    exit_code: int | None = None  # None while it runs, or when a signal ended it
    signal: int | None = None
    stopped: bool = False  # ended because the task was being stopped


class ProcessInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    # As Thermos named them: WAITING (not started yet), RUNNING, SUCCESS, FAILED or KILLED.
    state: str
    runs: tuple[ProcessRunInfo, ...] = ()


class TaskDescription(Message, frozen=True, kw_only=True, tag="task_description"):
    """A task as its executor sees it: its processes with every run, and its usage."""

    request_id: int
    task_id: str
    phase: str | None  # the executor's phase: ACTIVE, CLEANING, SUCCESS, FAILED, KILLED, ...
    message: str | None = None
    processes: tuple[ProcessInfo, ...] = ()
    usage: TaskUsage | None = None


class RequestFailed(Message, frozen=True, kw_only=True, tag="request_failed"):
    request_id: int
    error: str


# Scheduler to agent.


class Welcome(Message, frozen=True, kw_only=True, tag="welcome"):
    heartbeat_interval_ms: int
    applied_seq: int
    # How long the scheduler waits for a silent agent before giving up its tasks: the agent
    # keeps its reconnect backoff well under it (0: not said).
    agent_timeout_ms: int = 0
    protocol: int = 1  # the scheduler's version (a scheduler of version 1 did not say)
    cluster: str = ""  # the cluster's name, which the agent tells its tasks


class Launch(Message, frozen=True, kw_only=True, tag="launch"):
    task_id: str
    spec: JobSpec  # the agent fills in the late-bound templates with its own hostname
    instance: int
    ports: dict[str, int]
    # What the task presents to call the API as its role (`daybreak.model.credentials`);
    # the agent puts it in the sandbox before the first process starts.
    credential: str = ""


class Kill(Message, frozen=True, kw_only=True, tag="kill"):
    task_id: str
    message: str | None = None


class Ack(Message, frozen=True, kw_only=True, tag="ack"):
    seq: int  # every update up to and including this number is applied


class Credentials(Message, frozen=True, kw_only=True, tag="credentials"):
    """Fresh credentials for tasks the agent holds, by task id, before the last ones expire."""

    by_task: dict[str, str]


class ListFiles(Message, frozen=True, kw_only=True, tag="list_files"):
    request_id: int
    task_id: str
    path: str = ""


class ReadFile(Message, frozen=True, kw_only=True, tag="read_file"):
    request_id: int
    task_id: str
    path: str
    offset: int = 0
    length: int = 64 * 1024
    # Following a file: with nothing past `offset`, wait up to this long for more to arrive.
    wait_ms: int = 0


class DescribeTask(Message, frozen=True, kw_only=True, tag="describe_task"):
    request_id: int
    task_id: str


AgentMessage = (
    Hello | StatusUpdate | Heartbeat | FileList | FileChunk | TaskDescription | RequestFailed
)
SchedulerMessage = Welcome | Launch | Kill | Ack | Credentials | ListFiles | ReadFile | DescribeTask
AgentReply = FileList | FileChunk | TaskDescription | RequestFailed
TaskRequest = ListFiles | ReadFile | DescribeTask

_agent_decoder: msgspec.json.Decoder[AgentMessage] = msgspec.json.Decoder(AgentMessage)
_scheduler_decoder: msgspec.json.Decoder[SchedulerMessage] = msgspec.json.Decoder(SchedulerMessage)
_agent_frames: msgspec.json.Decoder[AgentMessage | list[AgentMessage]] = msgspec.json.Decoder(
    AgentMessage | list[AgentMessage]
)
_scheduler_frames: msgspec.json.Decoder[SchedulerMessage | list[SchedulerMessage]] = (
    msgspec.json.Decoder(SchedulerMessage | list[SchedulerMessage])
)
_encoder = msgspec.json.Encoder()
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Waiting(Protocol[T_co]):
    """What `waiting_behind` needs of a queue (an asyncio one, but the model does no I/O)."""

    def empty(self) -> bool: ...

    def get_nowait(self) -> T_co: ...


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def waiting_behind(first: T, queue: Waiting[T]) -> list[T]:
    """`first` and the messages already waiting behind it in `queue`, to go in one frame: at
    most MAX_BATCH, and nothing after a None (a sender's sign to hang up)."""
    waiting = [first]
    while waiting[-1] is not None and len(waiting) < MAX_BATCH and not queue.empty():
        waiting.append(queue.get_nowait())
    return waiting


def frame_of(encoded: list[bytes]) -> bytes:
    """One frame holding the encoded messages, in order (an array if more than one)."""
    return encoded[0] if len(encoded) == 1 else b"[" + b",".join(encoded) + b"]"


def decode_from_agent(frame: bytes | str) -> AgentMessage:
    return _agent_decoder.decode(frame)


def decode_from_scheduler(frame: bytes | str) -> SchedulerMessage:
    return _scheduler_decoder.decode(frame)


def messages_from_agent(frame: bytes | str) -> list[AgentMessage]:
    """The messages of a frame, one or several."""
    decoded = _agent_frames.decode(frame)
    return decoded if isinstance(decoded, list) else [decoded]


def messages_from_scheduler(frame: bytes | str) -> list[SchedulerMessage]:
    decoded = _scheduler_frames.decode(frame)
    return decoded if isinstance(decoded, list) else [decoded]
