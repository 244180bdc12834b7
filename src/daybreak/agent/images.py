"""Images for containerised tasks: pulled with `skopeo` into one content-addressed OCI layout
per agent (a layer shared by images is fetched and stored once) and unpacked with `umoci` once
per image digest into a root filesystem that every task of the image mounts read-only.

```
WORK/images/oci/                     the OCI layout: blobs by digest, one ref per reference
WORK/images/unpacked/DIGEST/         config.json (the image's runtime config) and rootfs/
WORK/images/unpacked/DIGEST/used     touched at each launch: what garbage collection reads
WORK/images/unpacked/DIGEST/size     its size in bytes, measured once when unpacked
```

Images no active task runs from are collected like finished sandboxes: past an age since their
last launch, then oldest first while all of them hold more than a total (`collect`); their blobs
go with them unless another image shares them (`umoci gc`).

A reference is a Docker one (`registry:5000/web:1.2`, `web@sha256:...`, Docker Hub's
`busybox`) or a local OCI archive (`oci-archive:/path/image.tar`). A tag is asked of its
registry again after `RESOLVE_TTL_S`; a digest, never once it is here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daybreak.agent.executor.orphans import run_tool
from daybreak.agent.gc import Unused, to_remove
from daybreak.agent.usage import tree_bytes
from daybreak.errors import DaybreakError

RESOLVE_TTL_S = 60.0
PROGRESS_EVERY_S = 2.0  # a task message with the pull's progress, at most this often
MB = 2**20
ARCHIVE = "oci-archive:"
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


class ImageError(DaybreakError):
    """The image could not be had; the message says which and why, for the task's message."""


@dataclass(frozen=True)
class Image:
    reference: str
    digest: str
    bundle: Path  # config.json and rootfs/

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    def runtime_config(self) -> dict[str, object]:
        """The image's environment, user and working directory, as umoci wrote them."""
        loaded: dict[str, object] = json.loads((self.bundle / "config.json").read_text())
        return loaded


def registry_of(reference: str) -> str | None:
    """The registry a Docker reference names (None: Docker Hub, or a local archive)."""
    if reference.startswith(ARCHIVE):
        return None
    first, slash, _ = reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


@dataclass
class ImageStore:
    directory: Path
    # Registries spoken to in plain HTTP (or with certificates not checked): only those named.
    insecure_registries: frozenset[str] = frozenset()
    # Credentials for registries, in the containers-auth.json format (`skopeo login` writes it).
    auth_file: Path | None = None
    # Where a name without a registry (`debian:stable-slim`) is pulled from: None, Docker Hub.
    default_registry: str | None = None
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _resolved: dict[str, tuple[str, float]] = field(default_factory=dict)
    # skopeo and umoci read and rewrite the layout's index.json whole: one of them at a time.
    _layout_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def layout(self) -> Path:
        return self.directory / "oci"

    @property
    def unpacked(self) -> Path:
        return self.directory / "unpacked"

    def ensure(self, reference: str, progress: Callable[[str], None]) -> Image:
        """The image, pulled and unpacked if it is not here yet (blocking: call it off the
        loop). Raises ImageError."""
        reference = self.qualified(reference)
        with self._lock(reference):
            digest = self._known_digest(reference)
            if digest is None:
                progress(f"pulling {reference}")
                digest = self._pull(reference, progress)
            bundle = self.unpacked / digest
            while not self._touch(bundle):  # not here, or collected this moment
                progress(f"unpacking {reference}")
                self._unpack(reference, digest, bundle)
            return Image(reference, digest, bundle)

    def qualified(self, reference: str) -> str:
        """The reference with the default registry, if it names none (and one is set)."""
        if self.default_registry is None or reference.startswith(ARCHIVE):
            return reference
        return reference if registry_of(reference) else f"{self.default_registry}/{reference}"

    def _touch(self, bundle: Path) -> bool:
        """Mark the image used now, if it is here: collection then leaves it."""
        with self._guard:
            if not bundle.exists():
                return False
            (bundle / "used").touch()
            return True

    def _lock(self, reference: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(reference, threading.Lock())

    def _known_digest(self, reference: str) -> str | None:
        pinned = _DIGEST.search(reference)
        if pinned is not None:
            return pinned[1] if (self.unpacked / pinned[1]).exists() else None
        resolved = self._resolved.get(reference)
        if resolved is not None and time.monotonic() - resolved[1] < RESOLVE_TTL_S:
            return resolved[0] if (self.unpacked / resolved[0]).exists() else None
        return None

    def _pull(self, reference: str, progress: Callable[[str], None]) -> str:
        self.unpacked.mkdir(parents=True, exist_ok=True)
        source = reference if reference.startswith(ARCHIVE) else f"docker://{reference}"
        options = []  # as `skopeo inspect` takes them; `copy` prefixes them with src-
        if registry_of(reference) in self.insecure_registries:
            options.append("--tls-verify=false")
        if self.auth_file is not None:
            options += ["--authfile", str(self.auth_file)]
        total = _download_size(source, options)
        name = _ref_name(reference)
        with self._layout_lock:
            blobs = self.layout / "blobs" / "sha256"
            before = {entry.name for entry in blobs.iterdir()} if blobs.is_dir() else set()
            said = [""]

            def tick() -> None:  # how much is here, as it comes
                news = f"pulling {reference} ({_written(self.layout, before) // MB}"
                news += f" of {total // MB} MB)" if total else " MB so far)"
                if news != said[0]:
                    progress(news)
                    said[0] = news

            copy = ["skopeo", "copy", "--quiet", *(o.replace("--", "--src-", 1) for o in options)]
            _run([*copy, source, f"oci:{self.layout}:{name}"], f"cannot pull {reference}", tick)
            digest = self._digest_of(name)
        self._resolved[reference] = (digest, time.monotonic())
        return digest

    def _digest_of(self, name: str) -> str:
        index = json.loads((self.layout / "index.json").read_text())
        for manifest in index.get("manifests", []):
            if manifest.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
                return str(manifest["digest"])
        raise ImageError(f"the image pulled as {name} is not in {self.layout}")

    def _unpack(self, reference: str, digest: str, bundle: Path) -> None:
        aside = bundle.with_name(f".{digest}.{uuid.uuid4().hex[:8]}")
        try:
            with self._layout_lock:
                _run(["umoci", "unpack", "--image", f"{self.layout}:{_ref_name(reference)}",
                      str(aside)], f"cannot unpack {reference}")  # fmt: skip
            (aside / "size").write_text(str(tree_bytes(aside)))
            aside.rename(bundle)  # whole or not at all: a crash leaves only the aside
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    def collect(
        self, in_use: set[str], now_ms: int, max_age_ms: int, max_total_bytes: int
    ) -> list[str]:
        """Remove the images no task in `in_use` (digests) runs from that are past their age or
        beyond the total, oldest first (blocking: off the loop). Returns their digests."""
        unused = []
        for bundle in self.unpacked.glob("sha256:*"):
            if bundle.name in in_use:
                continue
            try:
                used_ms = int((bundle / "used").stat().st_mtime * 1000)
                size = int((bundle / "size").read_text())
            except (OSError, ValueError):
                continue  # being unpacked, or from before sizes were kept
            unused.append(Unused(bundle.name, used_ms, size))
        listed = {item.name: item.since_ms for item in unused}
        removed = []
        for digest in to_remove(unused, now_ms, max_age_ms, max_total_bytes):
            with self._guard:  # not while a launch marks it used
                used = self.unpacked / digest / "used"
                if int(used.stat().st_mtime * 1000) != listed[digest]:
                    continue  # launched since it was listed
                shutil.rmtree(self.unpacked / digest, ignore_errors=True)
            removed.append(digest)
        if removed:
            with self._layout_lock:
                for digest in removed:
                    self._forget(digest)
                _run(["umoci", "gc", "--layout", str(self.layout)], "cannot collect image blobs")
        return removed

    def _forget(self, digest: str) -> None:
        """Drop the layout's names for `digest`, so that `umoci gc` may take its blobs."""
        index_path = self.layout / "index.json"
        index = json.loads(index_path.read_text())
        index["manifests"] = [m for m in index.get("manifests", []) if m.get("digest") != digest]
        aside = index_path.with_suffix(".tmp")
        aside.write_text(json.dumps(index))
        aside.replace(index_path)
        for reference, (resolved, _) in list(self._resolved.items()):
            if resolved == digest:
                del self._resolved[reference]


def _ref_name(reference: str) -> str:
    """A name the OCI layout takes for a reference (its ref names allow few characters)."""
    return "ref-" + hashlib.sha256(reference.encode()).hexdigest()[:40]


def _run(args: list[str], what: str, tick: Callable[[], None] | None = None) -> str:
    """Run a tool; its output. Raises ImageError with what its errors said."""
    environment = {**os.environ, "LC_ALL": "C"}
    status, output, errors = run_tool(args, tick=tick, every_s=PROGRESS_EVERY_S, env=environment)
    if status != 0:
        raise ImageError(f"{what}: {_reason(errors)}")
    return output


def _download_size(source: str, options: list[str]) -> int | None:
    """What pulling an image fetches (its config and layers), if its manifest says."""
    try:
        manifest = json.loads(_run(["skopeo", "inspect", "--raw", *options, source], "inspect"))
    except (ImageError, ValueError):
        return None  # the pull says why, if it fails too
    parts = [manifest.get("config", {}), *manifest.get("layers", [])]
    sizes = [part.get("size") for part in parts if isinstance(part, dict)]
    known = [size for size in sizes if isinstance(size, int)]
    return sum(known) if known and len(known) == len(sizes) else None


def _written(layout: Path, before: set[str]) -> int:
    """Bytes a pull under way has written to the layout: blobs new since `before`, and the one
    being written (skopeo writes it aside in the layout, then moves it in)."""
    written = 0
    blobs = layout / "blobs" / "sha256"
    candidates = [*layout.glob("oci-put-blob*")]
    if blobs.is_dir():
        candidates += [entry for entry in blobs.iterdir() if entry.name not in before]
    for path in candidates:
        with contextlib.suppress(OSError):
            written += path.stat().st_size
    return written


def _reason(stderr: str) -> str:
    """What a tool's error says, in a line a person reads in a task's message."""
    text = " ".join(stderr.split())
    if "manifest unknown" in text or "name unknown" in text or "not found" in text.lower():
        return f"image not found ({text[-200:]})"
    if "unauthorized" in text or "authentication required" in text:
        return f"the registry refused the credentials ({text[-200:]})"
    return text[-300:] or "failed"
