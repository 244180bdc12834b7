"""TLS where Daybreak crosses a network: the scheduler's server side (its certificate read again
on SIGHUP, so a renewed one takes effect without a restart) and the client side agents and the
CLI verify it with (a cluster's own CA file, or the system's)."""

from __future__ import annotations

import ssl
from pathlib import Path

from daybreak.errors import DaybreakError


class TlsSetupError(DaybreakError):
    pass


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifies the scheduler against `ca_file` (None: the system's CAs)."""
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as error:
        raise TlsSetupError(f"cannot use the CA file {ca_file}: {error}") from None


class ServerContext:
    """The scheduler's TLS context. `reload` reads the certificate and key again: connections
    made after it get the new certificate, those open keep theirs."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.reload()

    def reload(self) -> None:
        try:
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsSetupError(
                f"cannot serve TLS with certificate {self.cert_file} and key {self.key_file}: "
                f"{error}"
            ) from None
