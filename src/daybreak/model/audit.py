"""The audit log: every request that asks the scheduler to change something, whether it was
carried out or refused, with who asked, from where and when (`daybreak admin audit`)."""

from __future__ import annotations

import msgspec

# What the log holds: requests that change something. Reads are not audited.
AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Who asked, when the scheduler could not tell: no credentials, or ones it refused.
UNAUTHENTICATED = "(unauthenticated)"


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    at_ms: int  # when the answer was sent, ms since the epoch
    who: str  # the authenticated caller, or UNAUTHENTICATED
    source: str  # the client's address, as the scheduler saw it
    method: str
    path: str  # with its query string, if any
    status: int  # the answer: 2xx carried out, else refused or failed
    # The job the request names in its body (a create names its job there, not in the path).
    target: str = ""


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An entry as stored: `id` orders the log and pages it."""

    id: int
    entry: AuditEntry


class AuditList(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; `before` is the id to ask for the next page with (None: no more)."""

    records: tuple[AuditRecord, ...]
    before: int | None = None


class _NamedJob(msgspec.Struct, kw_only=True):
    role: str
    environment: str
    name: str
    cluster: str = ""


class _WithKey(msgspec.Struct):
    key: _NamedJob | str | None = None


_body_decoder = msgspec.json.Decoder(_WithKey)


def target_of(body: bytes) -> str:
    """The job a request's JSON body names in its `key`, as ROLE/ENV/NAME; "" if none."""
    try:
        key = _body_decoder.decode(body).key
    except msgspec.DecodeError:  # not JSON, or a `key` of another shape: names no job
        return ""
    if isinstance(key, _NamedJob):
        return "/".join(part for part in (key.cluster, key.role, key.environment, key.name) if part)
    return key or ""
