"""Images for the container tests, made here from files the tests write: a busybox-static root
filesystem packed with `umoci` and pushed with `skopeo` to Debian's `docker-registry` (the
distribution registry), started on 127.0.0.1 by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

BUSYBOX = Path("/bin/busybox")  # busybox-static: it needs no library from the image
APPLETS = ("sh", "cat", "echo", "ls", "ps", "sleep", "touch", "hostname", "id", "env", "kill",
           "true", "false", "test", "wget", "httpd", "mkdir", "rm")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def registry(
    directory: Path, users: Mapping[str, str] | None = None, settings: str = ""
) -> Iterator[str]:
    """A registry on 127.0.0.1 (plain HTTP), storing under `directory`; yields HOST:PORT. With
    `users` (name: password), it lets in only them (HTTP basic, an htpasswd file); `settings`
    go on its configuration after the address (more of `http:`, then other sections)."""
    directory.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{_free_port()}"
    config = directory / "registry.yml"
    text = (
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {directory / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n{settings}"
    )
    if users:
        htpasswd = directory / "htpasswd"
        htpasswd.write_text("".join(f"{name}:{bcrypt(password)}\n"
                                    for name, password in users.items()))  # fmt: skip
        text += f"auth:\n  htpasswd:\n    realm: daybreak-test\n    path: {htpasswd}\n"
    config.write_text(text)
    with (directory / "registry.log").open("ab") as log:
        server = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                  stderr=log)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(tuple(address.split(":")), timeout=0.5).close()  # type: ignore[arg-type]
                break
            except OSError as refused:
                if server.poll() is not None or time.monotonic() > deadline:
                    where = directory / "registry.log"
                    raise RuntimeError(f"the registry did not start: {where}") from refused
                time.sleep(0.05)
        yield address
    finally:
        server.terminate()
        server.wait(10)


def bcrypt(password: str) -> str:
    """The registry's htpasswd takes bcrypt only; the C library's crypt makes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def build_image(
    directory: Path,
    files: Mapping[str, str | bytes],
    env: Mapping[str, str] | None = None,
    busybox: bool = True,
) -> Path:
    """An OCI layout under `directory` holding image `:latest`: busybox (unless not), and
    `files`."""
    layout, bundle = directory / "layout", directory / "bundle"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    _run("umoci", "init", "--layout", str(layout))
    _run("umoci", "new", "--image", f"{layout}:latest")
    _run("umoci", "unpack", "--image", f"{layout}:latest", str(bundle))
    rootfs = bundle / "rootfs"
    if busybox:
        (rootfs / "bin").mkdir()
        shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
    for path, text in files.items():
        target = rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
    _run("umoci", "repack", "--image", f"{layout}:latest", str(bundle))
    settings = [f"--config.env={name}={value}" for name, value in (env or {}).items()]
    _run("umoci", "config", "--image", f"{layout}:latest", *settings)
    return layout


def push(layout: Path, registry_address: str, reference: str, creds: str | None = None) -> str:
    """Push the layout's image as `registry/reference` (as USER:PASSWORD `creds`); its name."""
    name = f"{registry_address}/{reference}"
    login = [] if creds is None else ["--dest-creds", creds]
    _run("skopeo", "copy", "--dest-tls-verify=false", *login, f"oci:{layout}:latest",
         f"docker://{name}")  # fmt: skip
    return name
