"""Images for containerised tasks: pulled with `skopeo` into one content-addressed OCI layout
per agent (a layer shared by images is fetched and stored once) and unpacked with `umoci` once
per image digest into a root filesystem that every task of the image mounts read-only.

```
WORK/images/oci/                     the OCI layout: blobs by digest, one ref per reference
WORK/images/unpacked/DIGEST/         config.json (the image's runtime config) and rootfs/
WORK/images/unpacked/DIGEST/used     touched at each launch: what garbage collection reads
```

A reference is a Docker one (`registry:5000/web:1.2`, `web@sha256:...`, Docker Hub's
`busybox`) or a local OCI archive (`oci-archive:/path/image.tar`). A tag is asked of its
registry again after `RESOLVE_TTL_S`; a digest, never once it is here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daybreak.agent.executor.orphans import run_child
from daybreak.errors import DaybreakError

RESOLVE_TTL_S = 60.0
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
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _resolved: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def layout(self) -> Path:
        return self.directory / "oci"

    @property
    def unpacked(self) -> Path:
        return self.directory / "unpacked"

    def ensure(self, reference: str, progress: Callable[[str], None]) -> Image:
        """The image, pulled and unpacked if it is not here yet (blocking: call it off the
        loop). Raises ImageError."""
        with self._lock(reference):
            digest = self._known_digest(reference)
            if digest is None:
                progress(f"pulling {reference}")
                digest = self._pull(reference)
            bundle = self.unpacked / digest
            if not bundle.exists():
                progress(f"unpacking {reference}")
                self._unpack(reference, digest, bundle)
            (bundle / "used").touch()
            return Image(reference, digest, bundle)

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

    def _pull(self, reference: str) -> str:
        self.unpacked.mkdir(parents=True, exist_ok=True)
        source = reference if reference.startswith(ARCHIVE) else f"docker://{reference}"
        args = ["skopeo", "copy", "--quiet"]
        if registry_of(reference) in self.insecure_registries:
            args.append("--src-tls-verify=false")
        if self.auth_file is not None:
            args += ["--src-authfile", str(self.auth_file)]
        name = _ref_name(reference)
        _run([*args, source, f"oci:{self.layout}:{name}"], f"cannot pull {reference}")
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
            _run(["umoci", "unpack", "--image", f"{self.layout}:{_ref_name(reference)}",
                  str(aside)], f"cannot unpack {reference}")  # fmt: skip
            aside.rename(bundle)  # whole or not at all: a crash leaves only the aside
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    def remove(self, digest: str) -> None:
        shutil.rmtree(self.unpacked / digest, ignore_errors=True)


def _ref_name(reference: str) -> str:
    """A name the OCI layout takes for a reference (its ref names allow few characters)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", reference)[-128:]


def _run(args: list[str], what: str) -> None:
    done = run_child(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    if done.returncode != 0:
        raise ImageError(f"{what}: {_reason(done.stderr)}")


def _reason(stderr: str) -> str:
    """What a tool's error says, in a line a person reads in a task's message."""
    text = " ".join(stderr.split())
    if "manifest unknown" in text or "name unknown" in text or "not found" in text.lower():
        return f"image not found ({text[-200:]})"
    if "unauthorized" in text or "authentication required" in text:
        return f"the registry refused the credentials ({text[-200:]})"
    return text[-300:] or "failed"
