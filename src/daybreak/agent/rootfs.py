"""A container's own writable root: the image's unpacked files, shared and never written, under
an overlay whose upper layer is the task's (as Docker's container layer is).

What a task writes outside its sandbox and volumes lands in its upper layer, and so do the
mount points runc makes for its volumes: another task of the image sees none of it. The overlay
is mounted by the agent before the container starts and unmounted when it is deleted; the
upper layer stays with the task's directory until that is collected.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from pathlib import Path

MNT_DETACH = 2
UPPER, WORK, MERGED = "upper", "work", "rootfs"
_libc = ctypes.CDLL(None, use_errno=True)


class RootfsError(OSError):
    pass


def _escaped(path: Path) -> str:
    """A path as an overlay option takes it: its separators (`:` between lower layers, `,`
    between options) escaped, as image directories are named `sha256:...`."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def mount_writable(lower: Path, layers: Path) -> Path:
    """Mount `lower` with a writable layer in the directory `layers`; the merged root."""
    upper, work, merged = (layers / name for name in (UPPER, WORK, MERGED))
    for directory in (upper, work, merged):
        directory.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={_escaped(lower)},upperdir={_escaped(upper)},workdir={_escaped(work)}"
    done = _libc.mount(b"overlay", os.fsencode(merged), b"overlay", 0, options.encode())
    if done != 0:
        code = ctypes.get_errno()
        raise RootfsError(code, f"cannot mount the container's root at {merged}: "
                                f"{os.strerror(code)}")  # fmt: skip
    return merged


def unmount(merged: Path) -> None:
    """Unmount a merged root (detached: the container may still be going); one that is not
    mounted, or gone, is left as it is."""
    if _libc.umount2(os.fsencode(merged), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            raise RootfsError(code, f"cannot unmount {merged}: {os.strerror(code)}")


def overlay_works(directory: Path) -> bool:
    """Whether this machine can mount an overlay with its layers in `directory` (root, a
    kernel with overlayfs, a file system overlayfs takes as an upper layer)."""
    directory.mkdir(parents=True, exist_ok=True)
    trial = Path(tempfile.mkdtemp(prefix=".overlay-trial-", dir=directory))
    try:
        (trial / "lower").mkdir()
        merged = mount_writable(trial / "lower", trial)
        unmount(merged)
        return True
    except OSError:
        return False
    finally:
        shutil.rmtree(trial, ignore_errors=True)


def exists_inside(root: Path, path: str, hops: int = 40) -> bool:
    """Whether absolute `path` names something in the tree `root` as a process whose root it is
    sees it: symlinks (absolute ones from `root`) followed inside it, never out of it."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    current = root
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink():
            hops -= 1
            if hops < 0:
                return False
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
        elif candidate.exists():
            current = candidate
        else:
            return False
    return True
