"""Talking to a scheduler's public API: errors become messages that say what to do.

A cluster may have several schedulers: one leads, the others redirect to it (followed here).
A scheduler that cannot be reached is passed over for the next; while none leads (a failover),
reads wait for one, up to `FAILOVER_WAIT_S`; changes are not sent twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TypeVar

import httpx
import httpx_sse
import msgspec

from daybreak.client.clusters import ClusterEntry
from daybreak.client.credentials import credentials_for
from daybreak.errors import ApiError, AuthError, InvalidParameterError, NetworkError
from daybreak.model.api import API_PREFIX, Problem
from daybreak.tls import client_context

T = TypeVar("T")

FAILOVER_WAIT_S = 20.0
RETRY_S = 0.5
# A stream waits as long as it takes for the next event (the server sends keepalives).
STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)


class _Presenting(httpx.BaseTransport):
    """Presents the caller's credentials with every request, a redirected one too: a standby
    redirects to the leader, another origin, and httpx drops the Authorization header of a
    request redirected across origins (the caller would be refused as anonymous)."""

    def __init__(self, inner: httpx.BaseTransport, auth: httpx.Auth) -> None:
        self.inner, self.auth = inner, auth

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "Authorization" not in request.headers:
            request = next(self.auth.sync_auth_flow(request))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class ApiClient:
    def __init__(self, cluster: ClusterEntry, timeout_s: float = 30) -> None:
        self.cluster = cluster
        transport: httpx.BaseTransport = httpx.HTTPTransport(
            verify=client_context(cluster.ca_file), trust_env=False
        )
        auth = credentials_for(cluster)
        if auth is not None:
            transport = _Presenting(transport, auth)
        self.http = httpx.Client(
            timeout=timeout_s,
            trust_env=False,
            transport=transport,
            follow_redirects=True,  # a standby's 307 keeps the method and the body
        )

    def call(
        self,
        method: str,
        path: str,
        answer: type[T],
        body: object = None,
        *,
        params: dict[str, str] | None = None,
        raw: bool = False,
    ) -> T:
        """`body` is encoded as JSON, and the answer decoded as `answer`; with `raw`, `body`
        is sent and the answer returned as the bytes they are."""
        if raw:
            content = body if isinstance(body, bytes) else None
        else:
            content = None if body is None else msgspec.json.encode(body)
        response = self._send(method, path, content, params)
        if response.status_code >= 400:
            raise self._error(response)
        if raw and answer is bytes:
            return response.content  # type: ignore[return-value]
        return msgspec.json.decode(response.content, type=answer)

    def _send(
        self, method: str, path: str, content: bytes | None, params: dict[str, str] | None
    ) -> httpx.Response:
        deadline = time.monotonic() + FAILOVER_WAIT_S
        while True:
            failure: httpx.HTTPError | None = None
            for url in self.cluster.scheduler_urls:
                try:
                    response = self.http.request(
                        method,
                        url + API_PREFIX + path,
                        content=content,
                        params=params,
                        headers={"Content-Type": "application/json"},
                    )
                except httpx.ConnectError as error:
                    failure = error  # nothing was sent: the next scheduler may lead
                    continue
                except httpx.HTTPError as error:
                    raise self._unreachable(error) from error
                leaderless = response.status_code == 503 and "standby" in response.text
                if not (leaderless and method == "GET") or time.monotonic() > deadline:
                    return response
                failure = None
                break
            if failure is not None:  # no scheduler could be reached at all
                raise self._unreachable(failure) from failure
            time.sleep(RETRY_S)

    def events(
        self, path: str, params: dict[str, str] | None = None
    ) -> Iterator[httpx_sse.ServerSentEvent]:
        """Follow a server-sent event stream until the server ends it. The first scheduler
        that answers serves it (a standby redirects to the leader)."""
        failure: httpx.HTTPError | None = None
        for url in self.cluster.scheduler_urls:
            try:
                address = url + API_PREFIX + path
                with httpx_sse.connect_sse(
                    self.http, "GET", address, params=params, timeout=STREAM_TIMEOUT
                ) as source:
                    if source.response.status_code >= 400:
                        source.response.read()
                        raise self._error(source.response)
                    yield from source.iter_sse()
                    return
            except httpx.ConnectError as error:
                failure = error
            except httpx.HTTPError as error:
                raise self._unreachable(error) from error
        assert failure is not None
        raise self._unreachable(failure) from failure

    def _unreachable(self, error: httpx.HTTPError) -> NetworkError:
        where = ", ".join(self.cluster.scheduler_urls)
        return NetworkError(
            f"cannot reach the scheduler of {self.cluster.name} at {where}: {error}. "
            "Is it running? (`daybreak up` starts a local cluster)"
        )

    def _error(self, response: httpx.Response) -> Exception:
        try:
            message = msgspec.json.decode(response.content, type=Problem).error
        except msgspec.DecodeError:
            message = response.text.strip() or response.reason_phrase
        if response.status_code in (401, 403):
            return AuthError(message)
        if response.status_code == 404:
            return InvalidParameterError(message)
        return ApiError(message)

    def close(self) -> None:
        self.http.close()
