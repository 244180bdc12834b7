"""Who is calling, and may they: the scheduler's users, admins and agents.

An operator describes them in a TOML file (`daybreak scheduler --security FILE`):

    open_reads = true               # anyone may read (GET) without credentials

    [users.alice]
    roles = ["www-data"]            # may change the jobs of these roles
    password = "scrypt$..."         # HTTP basic; `daybreak admin hash-password` makes one
    tokens = ["sha256$..."]         # bearer tokens; `daybreak admin new-token` makes one

    [users.ops]
    admin = true                    # may change anything, and use `daybreak admin`
    tokens = ["sha256$..."]

    [agents]
    tokens = ["sha256$..."]         # what `daybreak agent --credential-file` presents

Only hashes are kept. Passwords are hashed with scrypt, slow on purpose; a bearer token is 32
random bytes, which a fast hash protects as well, so tokens cost nothing per request.
Without a file every call is allowed, as Aurora's default was; the scheduler then listens on
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

import msgspec

from daybreak.errors import InvalidParameterError
from daybreak.model.credentials import hash_token
from daybreak.scheduler.passwords import PasswordChecks


class UserEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    roles: tuple[str, ...] = ()
    admin: bool = False
    password: str | None = None
    tokens: tuple[str, ...] = ()


class AgentsEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    tokens: tuple[str, ...] = ()


class SecurityFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    open_reads: bool = True
    users: dict[str, UserEntry] = msgspec.field(default_factory=dict)
    agents: AgentsEntry = msgspec.field(default_factory=AgentsEntry)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    roles: frozenset[str]
    admin: bool

    def may_change(self, role: str) -> bool:
        return self.admin or role in self.roles


# The caller when no security file is configured: everyone may do everything.
ANYONE = Principal(name="anonymous", roles=frozenset(), admin=True)


class BadCredentialsError(Exception):
    """Credentials were presented and are wrong (not the same as presenting none)."""


def _check_hash(path: Path, where: str, value: str, scheme: str, parts: int) -> None:
    if not value.startswith(scheme + "$") or value.count("$") != parts - 1:
        maker = "new-token" if scheme == "sha256" else "hash-password"
        raise InvalidParameterError(
            f"{path}: {where} is not a {scheme} hash; `daybreak admin {maker}` makes one"
        )


class Security:
    def __init__(self, settings: SecurityFile, source: Path | None = None) -> None:
        self.enabled = source is not None
        self.open_reads = settings.open_reads or not self.enabled
        self.users = settings.users
        self.user_tokens = {
            token: name for name, user in settings.users.items() for token in user.tokens
        }
        self.agent_tokens = frozenset(settings.agents.tokens)
        # The port where every connection has shown a certificate of the agents' CA (mutual
        # TLS, `--agent-port`): an agent there needs no token.
        self.certified_agents_port: int | None = None
        self.passwords = PasswordChecks()

    @classmethod
    def disabled(cls) -> Security:
        return cls(SecurityFile())

    @classmethod
    def load(cls, path: Path) -> Security:
        try:
            settings = msgspec.toml.decode(path.read_bytes(), type=SecurityFile)
        except OSError as error:
            raise InvalidParameterError(f"cannot read the security file {path}: {error}") from error
        except msgspec.DecodeError as error:
            raise InvalidParameterError(f"{path}: {error}") from error
        for name, user in settings.users.items():
            if user.password is not None:
                _check_hash(path, f"users.{name}.password", user.password, "scrypt", 6)
            for index, token in enumerate(user.tokens):
                _check_hash(path, f"users.{name}.tokens[{index}]", token, "sha256", 2)
        for index, token in enumerate(settings.agents.tokens):
            _check_hash(path, f"agents.tokens[{index}]", token, "sha256", 2)
        return cls(settings, path)

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller named by an Authorization header; None if it names nobody.

        Raises BadCredentialsError when credentials are presented but do not match, and
        TooManyPasswordChecksError when a password cannot be checked now."""
        if not self.enabled:
            return ANYONE
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            name = self.user_tokens.get(hash_token(value.strip()))
        elif scheme.lower() == "basic":
            name = await self._basic(value.strip())
        else:
            raise BadCredentialsError(f"unsupported authorization scheme {scheme!r}")
        if name is None:
            raise BadCredentialsError("unknown user or wrong secret")
        user = self.users[name]
        return Principal(name=name, roles=frozenset(user.roles), admin=user.admin)

    async def _basic(self, encoded: str) -> str | None:
        try:
            name, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise BadCredentialsError("malformed basic credentials") from error
        user = self.users.get(name)
        if user is None or user.password is None:
            return None
        return name if await self.passwords.verify(name, password, user.password) else None

    def agent_allowed(self, authorization: str | None, local_port: int | None = None) -> bool:
        """Whether a connection made to `local_port` with `authorization` is an agent's."""
        if not self.enabled:
            return True
        if local_port is not None and local_port == self.certified_agents_port:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hash_token(value.strip()) in self.agent_tokens
