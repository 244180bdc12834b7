"""The CLI's client asks once: a 4xx answer is the request's own fault and is never retried
(Aurora's client retried them, AURORA-1248); only a GET that a standby turned away is asked
again, of the leader."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from daybreak.client.api_client import ApiClient
from daybreak.client.clusters import ClusterEntry
from daybreak.errors import ApiError, InvalidParameterError


class Counting(BaseHTTPRequestHandler):
    asked: ClassVar[list[str]] = []
    status = 400

    def _answer(self) -> None:
        Counting.asked.append(f"{self.command} {self.path}")
        body = b'{"error": "bad request: instances must be at least 1", "status": 400}'
        self.send_response(Counting.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Counting.asked = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("status", "error"), [(400, ApiError), (404, InvalidParameterError),
                                               (409, ApiError), (429, ApiError)])  # fmt: skip
def test_a_4xx_answer_is_not_retried(server: str, status: int, error: type[Exception]) -> None:
    Counting.status = status
    client = ApiClient(ClusterEntry("c", (server, server), Path("clusters.json")))
    with pytest.raises(error, match="instances must be at least 1"):
        client.call("POST", "/jobs", dict, {"spec": {}})
    with pytest.raises(error):
        client.call("GET", "/jobs", dict)
    client.close()
    assert Counting.asked == ["POST /api/v1/jobs", "GET /api/v1/jobs"]
