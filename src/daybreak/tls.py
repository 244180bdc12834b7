"""TLS where Daybreak crosses a network: the scheduler's server side (its certificate read again
on SIGHUP, so a renewed one takes effect without a restart) and the client side agents and the
CLI verify it with (a cluster's own CA file, or the system's). Agents may prove who they are
with a client certificate instead of a token (mutual TLS): the scheduler then serves them on a
port of their own that takes no connection without a certificate from the agents' CA."""

from __future__ import annotations

import ssl
from pathlib import Path

from daybreak.errors import DaybreakError


class TlsSetupError(DaybreakError):
    pass


def client_context(
    ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """Verifies the scheduler against `ca_file` (None: the system's CAs); presents the client
    certificate `cert_file` (with its key) where the scheduler asks for one."""
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as error:
        raise TlsSetupError(f"cannot use the CA file {ca_file}: {error}") from None
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsSetupError(
                f"cannot present client certificate {cert_file} with key {key_file}: {error}"
            ) from None
    return context


def public_and_cluster_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifies a server that may be anyone's (an image registry, its token service) against
    the system's CAs and the cluster's own, where it has one."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(ca_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsSetupError(f"cannot use the CA file {ca_file}: {error}") from None
    return context


class ServerContext:
    """The scheduler's TLS context. `reload` reads the certificate and key again: connections
    made after it get the new certificate, those open keep theirs."""

    def __init__(self, cert_file: Path, key_file: Path, clients_ca: Path | None = None) -> None:
        """With `clients_ca`, every client must present a certificate it signed."""
        self.cert_file, self.key_file = cert_file, key_file
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        if clients_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            try:
                self.context.load_verify_locations(clients_ca)
            except (OSError, ssl.SSLError) as error:
                raise TlsSetupError(
                    f"cannot use the agents' CA file {clients_ca}: {error}"
                ) from None
        self.reload()

    def reload(self) -> None:
        try:
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsSetupError(
                f"cannot serve TLS with certificate {self.cert_file} and key {self.key_file}: "
                f"{error}"
            ) from None
