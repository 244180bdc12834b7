"""Sequence numbers that survive restarts, messages that survive the wire, flags that parse."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daybreak.agent.daemon import connect_url
from daybreak.agent.machine import parse_pairs, parse_ports, parse_resources
from daybreak.agent.outbox import COMPACT_AT_BYTES, Outbox
from daybreak.errors import InvalidParameterError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import PortRange
from daybreak.model.jobspec import Resources
from daybreak.model.task_state import TaskState
from daybreak.model.units import parse_size_mb


def update(task_id: str, state: TaskState = TaskState.RUNNING) -> protocol.StatusUpdate:
    return protocol.StatusUpdate(seq=0, task_id=task_id, state=state, timestamp_ms=1)


def test_outbox_numbers_keep_growing_across_restarts_and_acks(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    assert [outbox.add(update(t)).seq for t in "abc"] == [1, 2, 3]
    outbox.ack(2)
    outbox.close()  # "c" is unacknowledged: the file keeps everything

    reopened = Outbox(tmp_path)
    # Acknowledgements are not written down one by one: the scheduler's numbers cover that.
    assert [u.task_id for u in reopened.pending] == ["a", "b", "c"]
    assert [u.task_id for u in reopened.unacked_after(2)] == ["c"]
    assert reopened.add(update("d")).seq == 4
    assert [u.seq for u in reopened.unacked_after(3)] == [4]
    reopened.ack(4)
    reopened.close()  # all acknowledged: emptied, the next number saved
    assert (tmp_path / "outbox").read_bytes() == b""
    assert Outbox(tmp_path).add(update("e")).seq == 5


def test_outbox_empties_itself_once_large_and_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    last = 0
    while (tmp_path / "outbox").stat().st_size < COMPACT_AT_BYTES:
        last = outbox.add(update(f"task-{last}")).seq
    outbox.ack(last - 1)
    assert (tmp_path / "outbox").stat().st_size >= COMPACT_AT_BYTES  # one still unacknowledged
    outbox.ack(last)
    assert (tmp_path / "outbox").read_bytes() == b""
    # Killed now, without closing: the numbers still go on from where they were.
    assert Outbox(tmp_path).add(update("next")).seq == last + 1


def test_outbox_ignores_a_torn_last_line(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.add(update("a"))
    outbox.close()
    with (tmp_path / "outbox").open("ab") as file:
        file.write(b'{"type":"status","seq":2,"task')
    assert [u.seq for u in Outbox(tmp_path).pending] == [1]


def test_every_message_survives_the_wire() -> None:
    hello = protocol.Hello(
        agent_id="a1",
        hostname="h",
        attributes={"rack": "r1"},
        resources=Resources(cpu=2, ram_mb=10, disk_mb=10),
        ports=PortRange(first=1, last=2),
        inventory={"t": TaskState.RUNNING},
    )
    chunk = protocol.FileChunk(request_id=1, offset=5, data=b"\x00\xffbytes", size=12)
    for message in (hello, update("t"), chunk):
        assert protocol.decode_from_agent(protocol.encode(message)) == message
    kill = protocol.Kill(task_id="t", message="bye")
    assert protocol.decode_from_scheduler(protocol.encode(kill)) == kill


def test_a_frame_holds_one_message_or_several_in_order() -> None:
    updates = [update("a"), update("b", TaskState.FAILED), update("c")]
    encoded = [protocol.encode(u) for u in updates]
    assert protocol.messages_from_agent(protocol.frame_of(encoded)) == updates
    assert protocol.frame_of(encoded[:1]) == encoded[0]  # one alone: as version 1 framed it
    assert protocol.messages_from_agent(encoded[0]) == updates[:1]
    orders = [protocol.Kill(task_id="t"), protocol.Ack(seq=3)]
    framed = protocol.frame_of([protocol.encode(o) for o in orders])
    assert protocol.messages_from_scheduler(framed) == orders


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("http://s1:8081", "ws://s1:8081/api/v1/agents/connect"),
        ("https://s1/", "wss://s1/api/v1/agents/connect"),
        ("s1:8081", "ws://s1:8081/api/v1/agents/connect"),
    ],
)
def test_connect_url(given: str, url: str) -> None:
    assert connect_url(given) == url


def test_agent_flags_parse_and_explain_their_mistakes(tmp_path: Path) -> None:
    assert parse_size_mb("8GiB", "ram") == 8192
    assert parse_size_mb("512MB", "ram") == 512
    assert parse_pairs("host=h1, rack=r1", "--attributes") == {"host": "h1", "rack": "r1"}
    assert parse_ports("31000-32000") == PortRange(first=31000, last=32000)
    resources = parse_resources("cpu=4,ram=8GiB,disk=100GiB,gpu=1", tmp_path)
    assert resources == Resources(cpu=4, ram_mb=8192, disk_mb=102400, gpu=1)
    assert parse_resources("cpu=2", tmp_path).ram_mb > 0  # the rest detected
    with pytest.raises(InvalidParameterError, match="unknown resource 'memory'"):
        parse_resources("memory=1G", tmp_path)
    with pytest.raises(InvalidParameterError, match="is not NAME=VALUE"):
        parse_pairs("rack", "--attributes")
    with pytest.raises(InvalidParameterError, match="must lie within 1-65535"):
        parse_ports("32000-31000")
    with pytest.raises(InvalidParameterError, match="cannot read 'lots'"):
        parse_size_mb("lots", "--resources ram")


def test_a_frame_takes_what_waits_up_to_the_limit_and_nothing_after_a_hang_up() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    for number in range(protocol.MAX_BATCH + 5):
        queue.put_nowait(b"%d" % number)
    assert len(protocol.waiting_behind(b"first", queue)) == protocol.MAX_BATCH
    assert queue.qsize() == 6
    queue.put_nowait(None)
    queue.put_nowait(b"after")
    assert protocol.waiting_behind(b"first", queue)[-1] is None
    assert queue.get_nowait() == b"after"
