"""Hosts for tests: each a network namespace with an address of its own, joined to this machine
by a veth pair on a private /30 (this side .1, the host .2). Traffic stays on the machine, yet
a process in a host reaches the machine only at its gateway address, and the test can cut the
link and heal it. Needs root and iproute2."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Host:
    namespace: str
    link: str  # this side's end of the veth pair
    gateway: str  # this machine, as the host reaches it
    address: str  # the host, as this machine reaches it

    def command(self, args: Sequence[str]) -> list[str]:
        """`args`, run inside the host."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def cut(self) -> None:
        _ip("link", "set", self.link, "down")

    def heal(self) -> None:
        _ip("link", "set", self.link, "up")


def _free_subnet() -> tuple[str, str]:
    """A /30 of 10.200.0.0/13 that no interface of this machine is on: (gateway, host)."""
    taken = _ip("-4", "-o", "addr", "show")
    while True:
        prefix = f"10.{random.randint(200, 207)}.{random.randint(0, 255)}"
        base = random.randrange(0, 256, 4)
        gateway, address = f"{prefix}.{base + 1}", f"{prefix}.{base + 2}"
        if f"{prefix}.{base}" not in taken and gateway not in taken and address not in taken:
            return gateway, address


@contextmanager
def host() -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    namespace, link, inside = f"daybreak-{tag}", f"dbh{tag}", f"dbn{tag}"
    gateway, address = _free_subnet()
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", link, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("addr", "add", f"{gateway}/30", "dev", link)
        _ip("link", "set", link, "up")
        for args in (
            ("addr", "add", f"{address}/30", "dev", inside),
            ("link", "set", inside, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", gateway),
        ):
            _ip("-n", namespace, *args)
        yield Host(namespace, link, gateway, address)
    finally:
        # Removing the namespace removes its end of the pair, and with it this one.
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


@contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    with ExitStack() as stack:
        yield [stack.enter_context(host()) for _ in range(count)]


@contextmanager
def ssh_server(machine: Host, directory: Path) -> Iterator[Path]:
    """sshd on the host's address, letting in whoever holds `directory`'s client key; yields a
    directory to put first on PATH, whose `ssh` and `scp` use that key (the CLI runs them plainly)."""
    directory.mkdir(exist_ok=True)
    client_key, host_key = directory / "id_ed25519", directory / f"host-{machine.namespace}"
    for key in (client_key, host_key):
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)  # fmt: skip
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    options = {
        "ListenAddress": machine.address, "HostKey": host_key,
        "AuthorizedKeysFile": f"{client_key}.pub", "PidFile": "none", "UsePAM": "no",
        "StrictModes": "no", "PermitRootLogin": "prohibit-password",
        "Subsystem": "sftp internal-sftp",  # scp speaks SFTP
    }  # fmt: skip
    args = ["/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null"]
    args += [arg for name, value in options.items() for arg in ("-o", f"{name}={value}")]
    with (directory / f"sshd-{machine.namespace}.log").open("ab") as log:
        server = subprocess.Popen(machine.command(args), stderr=log, stdout=log)
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    config = directory / "ssh_config"
    config.write_text(
        f"Host *\n  IdentityFile {client_key}\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n  User root\n"
    )
    for tool in ("ssh", "scp"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec {shutil.which(tool)} -F {config} "$@"\n')
        wrapper.chmod(0o755)
    try:
        deadline = time.monotonic() + 10
        while not _listening(machine.address, 22):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start on {machine.address}")
            time.sleep(0.05)
        yield bin_dir
    finally:
        server.terminate()
        server.wait(10)


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.5).close()
    except OSError:
        return False
    return True
