"""Credentials as the security file keeps them: tokens and their hashes, scrypt password
hashes. Made by `daybreak admin new-token` / `hash-password` and checked by the scheduler. And
the credentials the scheduler signs for tasks (workload identity).

Passwords are hashed with scrypt, slow on purpose; a bearer token is 32 random bytes, which a
fast hash protects as well, so tokens cost nothing per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import msgspec

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256$" + hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str) -> bool:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


# Workload credentials: what a task presents to act as its role (`daybreak.scheduler.workload`).
# `dbw1.CLAIMS.SIGNATURE`, both parts base64url: the claims as JSON, signed with HMAC-SHA256
# under the cluster's signing key. Short-lived; the task's agent writes a fresh one before the
# last expires, and the scheduler refuses one whose task has ended, however fresh.
WORKLOAD_PREFIX = "dbw1."


class WorkloadClaims(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    role: str
    expires_ms: int


class BadWorkloadCredentialError(ValueError):
    """Not a credential this key signed, or one that expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_workload(key: bytes, claims: WorkloadClaims) -> str:
    encoded = _b64(msgspec.json.encode(claims))
    signature = hmac.new(key, encoded.encode(), hashlib.sha256).digest()
    return f"{WORKLOAD_PREFIX}{encoded}.{_b64(signature)}"


def is_workload_credential(token: str) -> bool:
    return token.startswith(WORKLOAD_PREFIX)


def read_workload(key: bytes, token: str, now_ms: int) -> WorkloadClaims:
    """The claims of a credential signed with `key` that has not expired at `now_ms`."""
    encoded, _, signature = token.removeprefix(WORKLOAD_PREFIX).partition(".")
    expected = hmac.new(key, encoded.encode(), hashlib.sha256).digest()
    try:
        genuine = hmac.compare_digest(_unb64(signature), expected)
        claims = msgspec.json.decode(_unb64(encoded), type=WorkloadClaims) if genuine else None
    except (ValueError, msgspec.DecodeError) as error:
        raise BadWorkloadCredentialError("a malformed workload credential") from error
    if claims is None:
        raise BadWorkloadCredentialError("a workload credential this cluster did not sign")
    if claims.expires_ms <= now_ms:
        raise BadWorkloadCredentialError(
            f"the workload credential of task {claims.task_id} has expired"
        )
    return claims
