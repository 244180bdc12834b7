"""The sandbox file API against a task that changes its files while they are read: a directory
swapped for a symlink to somewhere else between the agent's steps, and a FIFO left to trap a
reader. Real files, real threads; no agent process is needed to race the functions it calls."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daybreak.agent.sandbox_files import SandboxPathError, list_files, read_file

READS = 3000
SECRET = b"outside the sandbox\n"


def swapping(task_dir: Path, outside: Path, stop: threading.Event) -> None:
    """Keep turning sandbox/d into a symlink to `outside` and back, as fast as it can."""
    directory, parked, link = (task_dir / "sandbox" / name for name in ("d", "d.real", "d.link"))
    link.symlink_to(outside, target_is_directory=True)
    while not stop.is_set():
        os.rename(directory, parked)
        os.rename(link, directory)  # d is the symlink now
        os.rename(directory, link)
        os.rename(parked, directory)  # and the directory again


@pytest.fixture
def racing(tmp_path: Path) -> tuple[Path, Path]:
    task_dir = tmp_path / "task"
    (task_dir / "sandbox" / "d").mkdir(parents=True)
    (task_dir / "sandbox" / "d" / "file").write_bytes(b"inside\n")
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "file").write_bytes(SECRET)
    (outside / "key.pem").write_bytes(SECRET)
    return task_dir, outside


def race(task_dir: Path, outside: Path, attempt: Callable[[], bool]) -> tuple[int, int]:
    """Run `attempt` READS times while the swap runs: (escapes, refusals)."""
    stop = threading.Event()
    swapper = threading.Thread(target=swapping, args=(task_dir, outside, stop))
    swapper.start()
    escapes = refusals = 0
    try:
        for _ in range(READS):
            try:
                escapes += attempt()
            except SandboxPathError:
                refusals += 1
            time.sleep(0)  # let the swapper run between our steps too
    finally:
        stop.set()
        swapper.join()
    return escapes, refusals


def test_a_directory_swapped_for_a_symlink_never_leaks_a_read(
    racing: tuple[Path, Path],
) -> None:
    task_dir, outside = racing
    escapes, refusals = race(
        task_dir, outside, lambda: read_file(task_dir, "sandbox/d/file", 0, 100)[0] == SECRET
    )
    assert escapes == 0
    assert refusals > 0  # the race was run: some reads met the symlink and were refused


def test_a_directory_swapped_for_a_symlink_never_leaks_a_listing(
    racing: tuple[Path, Path],
) -> None:
    task_dir, outside = racing
    escapes, refusals = race(
        task_dir, outside,
        lambda: any(e.path.endswith("key.pem") for e in list_files(task_dir, "sandbox/d")),
    )  # fmt: skip
    assert escapes == 0
    assert refusals > 0


def test_a_fifo_in_the_sandbox_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    (tmp_path / "sandbox").mkdir()
    os.mkfifo(tmp_path / "sandbox" / "trap")
    with pytest.raises(SandboxPathError, match="not a regular file"):
        read_file(tmp_path, "sandbox/trap", 0, 100)


def test_a_symlink_inside_the_sandbox_is_not_followed_either(tmp_path: Path) -> None:
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "real").write_text("x")
    (tmp_path / "sandbox" / "alias").symlink_to("real")
    with pytest.raises(SandboxPathError, match="'alias' is a symbolic link, not followed"):
        read_file(tmp_path, "sandbox/alias", 0, 100)
    names = [entry.path for entry in list_files(tmp_path, "sandbox")]
    assert names == ["sandbox/alias", "sandbox/real"]  # listed, as what it is
