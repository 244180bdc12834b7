"""Evaluate config code in a forked child under a time and a memory limit.

A `.aurora` file is arbitrary Python: a loop that never ends or a list that grows without end
must end in an error, not a hung terminal or an exhausted machine. The child gets an address
space limit and a CPU-time limit (a busy machine does not make a config fail), leads a process
group of its own so that whatever it starts ends with it, and sends its result back through a
pipe as a length and bytes. What a config prints goes to stderr: stdout is the command's.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import selectors
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from daybreak.errors import ConfigError

# A reply starts with one of these so the parent can tell a result from a failure message.
_OK = b"0"
_FAILED = b"1"


@dataclass(frozen=True)
class Limits:
    """How much CPU time config code may use, and memory it may add, before it is stopped;
    and how long it may take in all (a config that sleeps or waits uses no CPU)."""

    seconds: float = 10.0
    memory_mb: int = 1024
    wall_seconds: float = 60.0


_LENGTH = 8  # bytes of the reply's length, before it


def _address_space_in_use() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(work: Callable[[], bytes], limits: Limits, writer: int) -> None:
    try:
        os.setpgid(0, 0)
        os.dup2(2, 1)  # print() in a config goes to stderr, with its children's output
        sys.stdout = sys.stderr
        with contextlib.suppress(OSError, ValueError):
            ceiling = _address_space_in_use() + limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_limit = math.ceil(used.ru_utime + used.ru_stime + limits.seconds)
        # The soft limit sends SIGXCPU, which ends the child; the hard one is a backstop.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_limit + 1))
        try:
            reply = _OK + work()
        except MemoryError:
            reply = (
                _FAILED
                + (
                    f"the config used more than {limits.memory_mb} MiB of memory while evaluating"
                ).encode()
            )
        except BaseException as error:  # anything else must still reach the parent as text
            reply = _FAILED + f"{type(error).__name__}: {error}".encode()
        view = memoryview(len(reply).to_bytes(_LENGTH, "big") + reply)
        while view:
            written = os.write(writer, view)
            view = view[written:]
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)


def _whole_reply(received: bytearray) -> bytes | None:
    """The reply, once all of it has come (its length comes first); None before."""
    if len(received) < _LENGTH:
        return None
    end = _LENGTH + int.from_bytes(received[:_LENGTH], "big")
    return bytes(received[_LENGTH:end]) if len(received) >= end else None


def _read_reply(reader: int, received: bytearray, deadline: float) -> bool:
    """Collect the child's reply; False if the deadline passed first. The reply's length says
    when it is whole: a process the config left running may hold the pipe open."""
    with selectors.DefaultSelector() as selector:
        selector.register(reader, selectors.EVENT_READ)
        while _whole_reply(received) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return False
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                break  # the child ended; what it sent is checked below
            received += chunk
    return True


def run_isolated(work: Callable[[], bytes], limits: Limits, what: str) -> bytes:
    """Run `work` in a child process and return its bytes, or raise ConfigError naming `what`."""
    sys.stdout.flush()
    sys.stderr.flush()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        _child(work, limits, writer)
    os.close(writer)
    received = bytearray()
    finished = False
    try:
        finished = _read_reply(reader, received, time.monotonic() + limits.wall_seconds)
    finally:
        os.close(reader)
        # Whatever the config started ends with it (the child leads its group; it may be
        # gone while the group lives on, or not have made it its own yet).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        finished = False
    if not finished:
        raise ConfigError(
            f"evaluating the config used more than {limits.seconds:g} s of CPU time (or took "
            f"{limits.wall_seconds:g} s in all) and was stopped (an endless loop?)",
            what,
        )
    reply = _whole_reply(received)
    if not reply:
        cause = (
            f"signal {os.WTERMSIG(status)}"
            if os.WIFSIGNALED(status)
            else f"exit status {os.waitstatus_to_exitcode(status)}"
        )
        raise ConfigError(f"evaluating the config ended abruptly ({cause})", what)
    if reply.startswith(_FAILED):
        raise ConfigError(reply[1:].decode(errors="replace"), what)
    return reply[1:]
