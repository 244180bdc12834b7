"""Evaluate config code in a forked child under a time and a memory limit.

A `.aurora` file is arbitrary Python: a loop that never ends or a list that grows without end
must end in an error, not a hung terminal or an exhausted machine. The child gets an address
space limit and a deadline; it sends its result back through a pipe as bytes.
"""

from __future__ import annotations

import contextlib
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
    """How long config code may run, and how much memory it may add, before it is stopped."""

    seconds: float = 10.0
    memory_mb: int = 1024


def _address_space_in_use() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(work: Callable[[], bytes], limits: Limits, writer: int) -> None:
    try:
        with contextlib.suppress(OSError, ValueError):
            ceiling = _address_space_in_use() + limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
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
        view = memoryview(reply)
        while view:
            written = os.write(writer, view)
            view = view[written:]
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)


def _read_until_eof(reader: int, chunks: list[bytes], deadline: float) -> bool:
    """Collect everything the child writes; False if the deadline passed first."""
    with selectors.DefaultSelector() as selector:
        selector.register(reader, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return False
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                return True
            chunks.append(chunk)


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
    chunks: list[bytes] = []
    finished = False
    try:
        finished = _read_until_eof(reader, chunks, time.monotonic() + limits.seconds)
    finally:
        os.close(reader)
        if not finished:  # timed out, or interrupted: the child must not outlive us
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if not finished:
        raise ConfigError(
            f"evaluating the config took longer than {limits.seconds:g} s and was stopped "
            "(an endless loop?)",
            what,
        )
    reply = b"".join(chunks)
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
