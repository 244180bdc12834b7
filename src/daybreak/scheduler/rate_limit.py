"""Requests a second per client: a client that asks faster than `--rate-limit` is answered 429
with `Retry-After` (how long until it may ask again), before its request is read or handled, so
one runaway script cannot take the scheduler from everyone else. A client is its address; the
agents' connections (WebSockets) are not counted: their messages are the cluster's heartbeat."""

from __future__ import annotations

import math
import time
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


def rate_limited(limit: RateLimit) -> Callable[[ASGIApp], ASGIApp]:
    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            client = scope.get("client")
            if scope["type"] != ScopeType.HTTP or client is None:
                await app(scope, receive, send)
                return
            wait_s = limit.take(client[0])
            if wait_s <= 0:
                await app(scope, receive, send)
                return
            retry = math.ceil(wait_s)
            body = msgspec.json.encode(Problem(
                error=f"too many requests from {client[0]}: more than {limit.rate:g} a second; "
                f"ask again in {retry} s",
                status=429,
            ))  # fmt: skip
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 429,
                "headers": [(b"content-type", b"application/json"),
                            (b"retry-after", str(retry).encode()),
                            (b"content-length", str(len(body)).encode())],
            }  # fmt: skip
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return limited

    return middleware
