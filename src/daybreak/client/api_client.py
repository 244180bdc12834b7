"""Talking to a scheduler's public API: errors become messages that say what to do."""

from __future__ import annotations

from typing import TypeVar

import httpx
import msgspec

from daybreak.client.clusters import ClusterEntry
from daybreak.client.credentials import credentials_for
from daybreak.errors import ApiError, AuthError, InvalidParameterError, NetworkError
from daybreak.model.api import API_PREFIX, Problem

T = TypeVar("T")


class ApiClient:
    def __init__(self, cluster: ClusterEntry, timeout_s: float = 30) -> None:
        self.cluster = cluster
        self.http = httpx.Client(
            base_url=cluster.scheduler_url + API_PREFIX,
            timeout=timeout_s,
            trust_env=False,
            auth=credentials_for(cluster),
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
        try:
            response = self.http.request(
                method,
                path,
                content=content,
                params=params,
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as error:
            raise NetworkError(
                f"cannot reach the scheduler of {self.cluster.name} at "
                f"{self.cluster.scheduler_url}: {error}. Is it running? (`daybreak up` starts "
                "a local cluster)"
            ) from error
        if response.status_code >= 400:
            raise self._error(response)
        if raw and answer is bytes:
            return response.content  # type: ignore[return-value]
        return msgspec.json.decode(response.content, type=answer)

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
