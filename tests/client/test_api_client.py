"""The CLI's client asks once: a 4xx answer is the request's own fault and is never retried
(Aurora's client retried them, AURORA-1248); only a GET that a standby turned away is asked
again, of the leader. Redirected by a standby, it presents its credentials to the leader."""

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


class Redirecting(BaseHTTPRequestHandler):
    """A standby: every request goes to the leader (`leader`), as a 307."""

    leader: ClassVar[str] = ""

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", Redirecting.leader + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


class Leader(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        Leader.seen.append(self.headers.get("Authorization"))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"{}"
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def serving(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def test_credentials_follow_a_standbys_redirect_to_the_leader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAYBREAK_TOKEN", raising=False)
    leader, leader_url = serving(Leader)
    standby, standby_url = serving(Redirecting)
    Redirecting.leader, Leader.seen = leader_url, []
    token = tmp_path / "token"
    token.write_text("alices-token\n")
    client = ApiClient(ClusterEntry("c", (standby_url,), Path("clusters.json"), token))
    try:
        assert client.call("POST", "/jobs", dict, {"spec": {}}) == {}
    finally:
        client.close()
        for httpd in (leader, standby):
            httpd.shutdown()
            httpd.server_close()
    assert Leader.seen == ["Bearer alices-token"]
