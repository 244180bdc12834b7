"""A PostgreSQL server of a test's own (`initdb` into a temporary directory, its own port), for
tests that stop or restart the database: the shared server on 5432 is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.cluster.conftest import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*args: str) -> list[str]:
    """Run as the postgres account when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


class OwnPostgres:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args),
            check=True,
            capture_output=True,
        )

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            _as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                         "--auth=trust", "--no-sync"),
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.directory / "postgres.log"), "start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "stop")
        self.start()

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")


def available() -> bool:
    return (BIN / "initdb").exists() and shutil.which("runuser") is not None


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under pytest's temporary directories: the postgres account could not reach them.
    server = OwnPostgres(Path(tempfile.mkdtemp(prefix="daybreak-postgres-")))
    server.init()
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.directory, ignore_errors=True)
