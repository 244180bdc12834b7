"""The logins `docker login`, `podman login` and `skopeo login` leave behind, for the binding
helper to read a private registry with: the containers' auth file (`$REGISTRY_AUTH_FILE`, else
`$XDG_RUNTIME_DIR/containers/auth.json`), then Docker's `~/.docker/config.json`. Only logins
written into the file are read: credential helpers (`credsStore`) are Docker's own."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path

from daybreak.errors import InvalidParameterError

# The names Docker Hub's login goes by in these files.
DOCKER_HUB_KEYS = ("docker.io", "https://index.docker.io/v1/", "index.docker.io",
                   "registry-1.docker.io")  # fmt: skip


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    source: Path  # the file it came from, for messages

    def basic(self) -> str:
        pair = f"{self.user}:{self.password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"


def auth_files() -> list[Path]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    elif os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    files.append(Path.home() / ".docker" / "config.json")
    return files


def login_for(host: str, docker_hub: bool = False) -> Login | None:
    """The first login for registry `host` (HOST or HOST:PORT) in the auth files, if any."""
    keys = DOCKER_HUB_KEYS if docker_hub else (host, f"https://{host}", f"http://{host}")
    for path in auth_files():
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            raise InvalidParameterError(f"{path}: not a registry auth file: {error}") from None
        logins = data.get("auths") if isinstance(data, dict) else None
        for key in keys:
            entry = logins.get(key) if isinstance(logins, dict) else None
            if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
                return _decoded(entry["auth"], path, key)
    return None


def _decoded(auth: str, path: Path, key: str) -> Login:
    try:
        user, colon, password = base64.b64decode(auth, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        colon = ""
    if not colon:
        raise InvalidParameterError(f"{path}: the login for {key} is not base64 of USER:PASSWORD")
    return Login(user, password, path)
