"""Listing and reading a task's files, with no way out of its directory.

A path comes from a user (through the scheduler), and the task can change its files while
the agent reads them: so a path is never resolved and then opened by name (a directory
swapped for a symlink in between would lead out). It is walked instead, one component at a
time, each opened relative to the directory descriptor before it with `O_NOFOLLOW`: `..`,
an absolute path, and a symlink anywhere along the way are refused, whatever they point at.
Files open with `O_NONBLOCK` too, so that a FIFO the task left cannot stall the agent.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from pathlib import Path, PurePosixPath

from daybreak.errors import InvalidParameterError
from daybreak.model.agent_protocol import FileEntry

MAX_CHUNK = 1024 * 1024
FOLLOW_POLL_S = 0.1
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class SandboxPathError(InvalidParameterError):
    """A requested path that does not exist in the sandbox or would leave it."""


def _components(requested: str) -> list[str]:
    if "\0" in requested:
        raise SandboxPathError(f"{requested!r}: not a valid path")
    relative = PurePosixPath(requested)
    if relative.is_absolute():
        raise SandboxPathError(f"{requested!r}: give a path relative to the sandbox")
    parts = [part for part in relative.parts if part != "."]
    if ".." in parts:
        raise SandboxPathError(f"{requested!r}: outside the sandbox ('..' is not followed)")
    return parts


def open_beneath(root: Path, requested: str, directory: bool) -> int:
    """A descriptor on `requested` inside `root`, reached without following any link."""
    parts = _components(requested)
    try:
        fd = os.open(root, _DIRECTORY)
    except OSError as error:
        raise SandboxPathError(f"the task's directory cannot be opened: {error.strerror}") from None
    try:
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            flags = _FILE if last and not directory else _DIRECTORY
            try:
                inner = os.open(part, flags, dir_fd=fd)
            except OSError as error:
                raise _refusal(requested, part, fd, error) from None
            os.close(fd)
            fd = inner
        return fd
    except BaseException:
        os.close(fd)
        raise


def _refusal(requested: str, part: str, parent: int, error: OSError) -> SandboxPathError:
    if error.errno == errno.ENOENT:
        return SandboxPathError(f"{requested!r}: no such file in the sandbox")
    try:
        mode = os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        return SandboxPathError(
            f"{requested!r}: outside the sandbox ({part!r} is a symbolic link, not followed)"
        )
    if error.errno == errno.ENOTDIR:
        return SandboxPathError(f"{requested!r}: {part!r} is not a directory")
    return SandboxPathError(f"{requested!r}: cannot open: {error.strerror}")


def list_files(root: Path, requested: str = "") -> tuple[FileEntry, ...]:
    fd = open_beneath(root, requested, directory=True)
    prefix = PurePosixPath(*_components(requested))
    entries = []
    try:
        with os.scandir(fd) as found:
            for entry in sorted(found, key=lambda e: e.name):
                info = entry.stat(follow_symlinks=False)
                entries.append(
                    FileEntry(
                        path=str(prefix / entry.name),
                        size=info.st_size,
                        is_dir=stat.S_ISDIR(info.st_mode),
                        mtime_ms=int(info.st_mtime * 1000),
                    )
                )
    finally:
        os.close(fd)
    return tuple(entries)


def read_file(root: Path, requested: str, offset: int, length: int) -> tuple[bytes, int]:
    """Up to `length` bytes from `offset`, and the file's size when read."""
    if offset < 0 or length < 0:
        raise SandboxPathError(f"{requested!r}: offset and length must not be negative")
    fd = open_beneath(root, requested, directory=False)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SandboxPathError(f"{requested!r}: not a regular file")
        return os.pread(fd, min(length, MAX_CHUNK), offset), info.st_size
    finally:
        os.close(fd)


async def follow_file(
    root: Path, requested: str, offset: int, length: int, wait_s: float
) -> tuple[bytes, int]:
    """Like `read_file`, but with nothing past `offset`, wait up to `wait_s` for more."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        data, size = read_file(root, requested, offset, length)
        if data or loop.time() >= deadline:
            return data, size
        await asyncio.sleep(min(FOLLOW_POLL_S, max(0.0, deadline - loop.time())))
