"""Keeping a process' output files within its logger's `rotate` policy.

The processes write straight into their files (opened for appending), so nothing of the agent
sits in the output path. Rotation is therefore copy-then-truncate, as logrotate's
`copytruncate`: past `log_size` the file is copied to `stdout.1` (older copies shift up to
`backups`, the oldest dropped) and emptied; the writer carries on at the new end. What is
written between the copy and the truncation is lost, a few bytes at most at this size.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from daybreak.agent.executor.processes import DEFAULT_LOGGER, STREAMS, Launcher
from daybreak.agent.paths import TaskPaths
from daybreak.model.jobspec import RotatePolicy
from daybreak.model.units import is_number

DEFAULT_ROTATE = RotatePolicy()


def rotate_file(path: Path, policy: RotatePolicy) -> bool:
    """Rotate `path` if it has grown past the policy's size; True if it did."""
    try:
        if path.stat().st_size <= policy.log_size:
            return False
    except FileNotFoundError:
        return False
    backups = max(0, policy.backups)
    if backups == 0:
        os.truncate(path, 0)
        return True
    with contextlib.suppress(FileNotFoundError):
        path.with_name(f"{path.name}.{backups}").unlink()
    for number in range(backups - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(f"{path.name}.{number}").rename(
                path.with_name(f"{path.name}.{number + 1}")
            )
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    os.truncate(path, 0)
    return True


def _latest_run(directory: Path) -> Path | None:
    try:
        runs = [entry for entry in os.scandir(directory) if is_number(entry.name)]
    except OSError:
        return None
    if not runs:
        return None
    return Path(max(runs, key=lambda entry: int(entry.name)).path)


def rotate_logs(paths: TaskPaths, launcher: Launcher) -> None:
    """Rotate the current output of every process whose logger says `rotate`."""
    for process in launcher.task.task.processes:
        logger = process.logger or DEFAULT_LOGGER
        if logger.mode != "rotate" or logger.destination == "none":
            continue
        policy = logger.rotate or DEFAULT_ROTATE
        if logger.destination == "console":
            for stream in STREAMS:
                rotate_file(paths.console(stream), policy)
            continue
        run = _latest_run(paths.logs / process.name)
        if run is not None:
            for stream in STREAMS:
                rotate_file(run / stream, policy)
