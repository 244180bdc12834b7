"""Limits per client, so that one runaway script or slow reader cannot take the scheduler from
everyone else. A client is its address; the agents' connections (WebSockets) are not counted:
their messages are the cluster's heartbeat. Both answer before the request is read or handled:

- requests a second: a client that asks faster than `--rate-limit` is answered 429 with
  `Retry-After` (how long until it may ask again);
- requests at once: a client with `--max-requests-per-client` requests still being answered
  (event streams and followed logs left open, bodies sent or read slowly) is answered 503 with
  `Retry-After` for any more."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from daybreak.model.api import Problem

# Buckets kept at most: the idlest (full again, so forgetting them changes nothing) go first.
MAX_CLIENTS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimit:
    """A token bucket per client: `rate` requests a second, `burst` at once."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, max(1.0, burst), clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, client: str) -> float:
        """0 if `client` may ask now (and it is counted); else the seconds until it may."""
        now = self.clock()
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[client] = bucket  # the most recent last
        if len(self._buckets) > MAX_CLIENTS:
            del self._buckets[next(iter(self._buckets))]
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


class InFlight:
    """Requests being answered, per client, at most `limit` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: Counter[str] = Counter()

    def enter(self, client: str) -> bool:
        """Count one more request of `client`, unless it has its `limit` already."""
        if self._counts[client] >= self.limit:
            return False
        self._counts[client] += 1
        return True

    def leave(self, client: str) -> None:
        self._counts[client] -= 1
        if not self._counts[client]:
            del self._counts[client]  # no entry for a client with nothing in flight


def limited_per_client(
    limit: RateLimit | None, in_flight: InFlight | None
) -> Callable[[ASGIApp], ASGIApp]:
    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            client = scope.get("client")
            if scope["type"] != ScopeType.HTTP or client is None:
                await app(scope, receive, send)
                return
            address = client[0]
            wait_s = 0.0 if limit is None else limit.take(address)
            if limit is not None and wait_s > 0:
                retry = math.ceil(wait_s)
                await _refuse(send, 429, retry, f"too many requests from {address}: more than "
                              f"{limit.rate:g} a second; ask again in {retry} s")  # fmt: skip
                return
            if in_flight is None:
                await app(scope, receive, send)
                return
            if not in_flight.enter(address):
                await _refuse(send, 503, 1, f"too many requests at once from {address}: "
                              f"{in_flight.limit} are still being answered (open event "
                              "streams and followed logs count); ask again in 1 s")  # fmt: skip
                return
            try:
                await app(scope, receive, send)
            finally:
                in_flight.leave(address)

        return limited

    return middleware


async def _refuse(send: Send, status: int, retry_s: int, error: str) -> None:
    body = msgspec.json.encode(Problem(error=error, status=status))
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"retry-after", str(retry_s).encode()),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
