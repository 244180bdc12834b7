"""Listing and reading a task's files, with no way out of its directory.

A path comes from a user (through the scheduler), so it is resolved before use: `..`, an
absolute path, or a symlink anywhere along the way that points outside the task's directory
is refused, not followed. Files are opened with O_NOFOLLOW as well, so a symlink swapped in
between the check and the open is refused too.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from daybreak.errors import InvalidParameterError
from daybreak.model.agent_protocol import FileEntry

MAX_CHUNK = 1024 * 1024
FOLLOW_POLL_S = 0.1


class SandboxPathError(InvalidParameterError):
    """A requested path that does not exist in the sandbox or would leave it."""


def resolve_inside(root: Path, requested: str) -> Path:
    if "\0" in requested:
        raise SandboxPathError(f"{requested!r}: not a valid path")
    relative = Path(requested)
    if relative.is_absolute():
        raise SandboxPathError(f"{requested!r}: give a path relative to the sandbox")
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise SandboxPathError(f"{requested!r}: outside the sandbox")
    if not target.exists():
        raise SandboxPathError(f"{requested!r}: no such file in the sandbox")
    return target


def list_files(root: Path, requested: str = "") -> tuple[FileEntry, ...]:
    directory = resolve_inside(root, requested)
    if not directory.is_dir():
        raise SandboxPathError(f"{requested!r}: not a directory")
    base = root.resolve()
    entries = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        info = entry.stat(follow_symlinks=False)
        entries.append(
            FileEntry(
                path=str(Path(entry.path).relative_to(base)),
                size=info.st_size,
                is_dir=stat.S_ISDIR(info.st_mode),
                mtime_ms=int(info.st_mtime * 1000),
            )
        )
    return tuple(entries)


def read_file(root: Path, requested: str, offset: int, length: int) -> tuple[bytes, int]:
    """Up to `length` bytes from `offset`, and the file's size when read."""
    if offset < 0 or length < 0:
        raise SandboxPathError(f"{requested!r}: offset and length must not be negative")
    path = resolve_inside(root, requested)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise SandboxPathError(f"{requested!r}: cannot open: {error.strerror}") from None
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
