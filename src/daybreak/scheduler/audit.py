"""The audit log's writing side: a middleware notes every request that asks for a change (who,
from where, what, the answer) once it is answered, and the leader's store writer appends the
notes in batches, fenced by its epoch like every other write: an answer never waits for its
note, and a deposed leader writes none. Entries older than `--audit-retention` are forgotten,
checked at most once an hour."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from daybreak.model.audit import AUDITED_METHODS, UNAUTHENTICATED, AuditEntry, target_of
from daybreak.store.writer import StoreWriter

log = logging.getLogger("daybreak.scheduler")

FORGET_EVERY_MS = 3600_000
# Enough of a body to find the job it names; a spec's key comes first.
TARGET_BODY_BYTES = 64 * 1024


class AuditTrail:
    def __init__(self, writer: StoreWriter, retention_ms: int, clock: Callable[[], int]) -> None:
        self.writer = writer
        self.retention_ms = retention_ms
        self.clock = clock  # ms since the epoch
        self._pending: list[AuditEntry] = []
        self._flushing: asyncio.Task[None] | None = None
        self._forgot_at_ms: int | None = None
        self.unwritten = 0  # entries a failed write lost, for /metrics

    def note(self, entry: AuditEntry) -> None:
        self._pending.append(entry)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def flushed(self) -> None:
        """Return once every entry noted so far is written (or given up)."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            now = batch[-1].at_ms
            forget_before = None
            if self._forgot_at_ms is None or now - self._forgot_at_ms >= FORGET_EVERY_MS:
                forget_before, self._forgot_at_ms = now - self.retention_ms, now
            append = functools.partial(
                self.writer.store.append_audit, batch, self.writer.epoch, forget_before
            )
            try:
                await self.writer.call(append)
            except Exception as error:  # the log says what was lost, and writing goes on
                self.unwritten += len(batch)
                log.error("event=audit_not_written entries=%d error=%r", len(batch), error)


def audited(leading: Callable[[], AuditTrail | None]) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware: requests that ask for a change, noted by the leader's trail (`leading`)
    once answered. A standby (no trail) notes nothing: the leader notes the request it
    redirected."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def audit(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["method"] not in AUDITED_METHODS:
                await app(scope, receive, send)
                return
            body = bytearray()
            noted = False

            def note(status: int) -> None:
                nonlocal noted
                trail = leading()
                if trail is not None and not noted:
                    trail.note(_entry(scope, status, bytes(body), trail.clock()))
                noted = True

            async def reading() -> ReceiveMessage:
                message = await receive()
                if message["type"] == "http.request" and len(body) < TARGET_BODY_BYTES:
                    body.extend(message.get("body", b""))
                return message

            async def answering(message: Message) -> None:
                if message["type"] == "http.response.start":
                    # Noted before the caller can see the answer: its next request finds it.
                    note(message["status"])
                await send(message)

            try:
                await app(scope, reading, answering)
            finally:
                note(500)  # if no answer was started

        return audit

    return middleware


def _entry(scope: Scope, status: int, body: bytes, now_ms: int) -> AuditEntry:
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    client = scope.get("client")
    query = scope.get("query_string", b"").decode("latin-1")
    return AuditEntry(
        at_ms=now_ms,
        who=UNAUTHENTICATED if principal is None else principal.name,
        source="" if client is None else client[0],
        method=str(scope.get("method", "")),
        path=scope["path"] + (f"?{query}" if query else ""),
        status=status,
        target=target_of(body),
    )
