"""A small certificate authority for a cluster that has none (`daybreak admin new-ca` and
`new-cert`), made with the `cryptography` library: an ECDSA P-256 CA, and certificates it signs
for schedulers (server), agents and people (client), with the names they are reached by."""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from daybreak.errors import DaybreakError

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"


class CertificateError(DaybreakError):
    pass


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    if path.exists():
        raise CertificateError(f"{path} exists: remove it first, or write elsewhere")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A key is readable by its owner only from the moment it exists.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def new_ca(directory: Path, name: str, days: int = 3650) -> Path:
    """A CA certificate and its key in `directory` (ca.pem, ca-key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory / CA_KEY, _key_bytes(key), private=True)
    _write(directory / CA_CERT, certificate.public_bytes(serialization.Encoding.PEM))
    return directory / CA_CERT


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        certificate = x509.load_pem_x509_certificate((ca_dir / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise CertificateError(
            f"no usable CA in {ca_dir} ({CA_CERT} and {CA_KEY}; `daybreak admin new-ca` makes "
            f"one): {error}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{ca_dir / CA_KEY} is not a key daybreak made")
    return certificate, key


def _alternative_names(names: Sequence[str]) -> list[x509.GeneralName]:
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    return alternatives


def new_cert(ca_dir: Path, out: Path, names: Sequence[str], *, client: bool = False,
             days: int = 397) -> tuple[Path, Path]:  # fmt: skip
    """A key and a certificate signed by the CA in `ca_dir`, for the host names and addresses
    `names` (a server's) or for the one `names[0]` (a client's: an agent or a person), written
    as OUT.pem and OUT-key.pem."""
    if not names:
        raise CertificateError("name at least one host name or address (--name)")
    ca_certificate, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_alternative_names(names)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    certificate = builder.sign(ca_key, hashes.SHA256())
    cert_path = out.with_name(out.name + ".pem")
    key_path = out.with_name(out.name + "-key.pem")
    _write(key_path, _key_bytes(key), private=True)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
