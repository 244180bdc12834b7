"""A token server of the distribution token protocol, as Docker Hub runs one: it gives anyone a
token for whatever they ask (`scope=repository:NAME:pull,push`), signed with a key whose
certificate the registry trusts. For the tests of a registry that wants a bearer token."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from daybreak.certs import CA_CERT, CA_KEY, new_ca

SERVICE = "daybreak-test-registry"
ISSUER = "daybreak-test-tokens"


@dataclass
class TokenServer:
    realm: str
    certificate: Path  # the registry's `rootcertbundle`
    scopes_asked: list[str] = field(default_factory=list)
    # The Authorization each request for a token came with ("" for none).
    logins_shown: list[str] = field(default_factory=list)

    def registry_auth(self) -> str:
        """The `auth:` section of a registry's configuration that sends clients here."""
        return (
            f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n"
            f"    issuer: {ISSUER}\n    rootcertbundle: {self.certificate}\n"
        )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signer(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key (P-256: tokens are ES256) and the certificate of it the registry trusts."""
    certificate_file = new_ca(directory, ISSUER)
    certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, certificate


def _token(
    key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate, scopes: list[str]
) -> str:
    chain = [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()]
    header = {"typ": "JWT", "alg": "ES256", "x5c": chain}
    access = []
    for scope in scopes:
        kind, rest = scope.split(":", 1)
        name, actions = rest.rsplit(":", 1)
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "", "aud": SERVICE, "exp": now + 300, "nbf": now - 30,
              "iat": now, "jti": uuid.uuid4().hex, "access": access}  # fmt: skip
    signed = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    # JWS wants the signature as r and s side by side, not in the DER the library gives.
    r, s = decode_dss_signature(key.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signed}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@contextmanager
def token_server(directory: Path) -> Iterator[TokenServer]:
    directory.mkdir(parents=True, exist_ok=True)
    key, certificate = _signer(directory)
    asked: list[str] = []
    shown: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            scopes = query.get("scope", [])
            asked.extend(scopes)
            shown.append(self.headers.get("Authorization", ""))
            body = json.dumps({"token": _token(key, certificate, scopes)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        realm = f"http://127.0.0.1:{server.server_address[1]}/token"
        yield TokenServer(realm, directory / CA_CERT, asked, shown)
    finally:
        server.shutdown()
        server.server_close()
