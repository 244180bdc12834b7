"""Whom a task runs as, when the agent is root: its role's Unix account, else the user the
operator named (`--task-user`), else nobody: the task is refused rather than run as root
unasked. The user must also be able to reach the agent's work directory, where its sandbox
and logs live; a directory on the way that it cannot enter is named, not met as a crash."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

from daybreak.agent.executor.processes import account_of


class TaskUserError(Exception):
    """The task cannot run as anyone it may run as; the message says why and what to do."""


def task_user(role: str, fallback: str | None, hostname: str) -> str | None:
    """The user to run a task of `role` as (None: the agent's own, when it is not root)."""
    if os.geteuid() != 0:
        return None  # the only user it can be
    user = role if account_of(role) is not None else fallback
    if user is None:
        raise TaskUserError(
            f"role {role!r} has no Unix account on {hostname}, and tasks never run as root "
            "unasked: create the account, or start the agent with --task-user USER (for "
            "example nobody)"
        )
    return user


def blocking_directory(path: Path, user: str) -> Path | None:
    """The first directory from / down to `path` that `user` may not enter, if any."""
    account = account_of(user)
    if account is None or account.pw_uid == 0:
        return None
    groups = {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    for directory in (*reversed(path.parents), path):
        info = directory.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


# Who was found able to reach which directory: checked once (launches are frequent); a refusal
# is checked again at the next launch, so that a mended permission is seen at once.
_REACHABLE: set[tuple[Path, str]] = set()


def check_reachable(work_dir: Path, user: str) -> None:
    if (work_dir, user) in _REACHABLE:
        return
    blocked = blocking_directory(work_dir, user)
    if blocked is None:
        _REACHABLE.add((work_dir, user))
        return
    info = blocked.stat()
    owner = pwd.getpwuid(info.st_uid).pw_name
    raise TaskUserError(
        f"the task would run as {user}, who cannot enter {blocked} (mode "
        f"{stat.filemode(info.st_mode)}, owner {owner}) on the way to the agent's "
        "work directory: give others search (x) permission there, or move --work-dir"
    )
