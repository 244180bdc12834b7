"""`Server-Timing: app;dur=MS` on every HTTP answer: how long the scheduler took to produce it,
handler and rendering together, as a browser's developer tools and the benchmarks read it."""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def server_timing(app: ASGIApp) -> ASGIApp:
    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took_ms = (time.perf_counter() - started) * 1000
                header = (b"server-timing", f"app;dur={took_ms:.1f}".encode())
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await app(scope, receive, send_timed)

    return timed
