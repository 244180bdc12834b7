"""A client that floods the scheduler is shed with 429 and Retry-After, and one that holds too
many requests open with 503, before its requests are handled, while another client is answered
as usual (issue 19, item 4)."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.cluster.conftest import SchedulerProcess, wait_for

SENT = 600
RATE = 20


def test_a_flooding_client_is_shed_and_another_is_still_answered(tmp_path: Path) -> None:
    scheduler = SchedulerProcess(f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "scheduler.log",
                                 "--rate-limit", str(RATE)).start()  # fmt: skip
    outcomes: Counter[str] = Counter()
    retry_after: set[str] = set()
    try:
        with httpx.Client(base_url=scheduler.url, timeout=30) as flood:

            def ask(_: int) -> None:
                try:
                    response = flood.get("/api/v1/jobs")
                except httpx.HTTPError as error:
                    outcomes[f"error {type(error).__name__}"] += 1
                    return
                outcomes[str(response.status_code)] += 1
                if response.status_code == 429:
                    retry_after.add(response.headers.get("retry-after", ""))
                    assert "too many requests from 127.0.0.1" in response.json()["error"]

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(ask, range(SENT)))
        # Another address on this machine's loopback is another client.
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=scheduler.url, transport=other, timeout=30) as calm:
            assert calm.get("/api/v1/jobs").status_code == 200
    finally:
        scheduler.stop()
    print(json.dumps({"sent": SENT, "answered": outcomes["200"], "shed": outcomes["429"],
                      "errors": SENT - outcomes["200"] - outcomes["429"]}))  # fmt: skip
    assert set(outcomes) <= {"200", "429"}, outcomes  # nothing failed, nothing hung
    # At least the burst (twice the rate) was answered, and most of the flood was shed.
    assert outcomes["200"] >= 2 * RATE and outcomes["429"] > SENT // 2, outcomes
    assert retry_after and all(value.isdigit() and int(value) >= 1 for value in retry_after)


def test_a_client_holding_its_limit_of_open_requests_is_refused_more_and_others_are_not(
    tmp_path: Path,
) -> None:
    """Event streams left open (or bodies read slowly) hold the scheduler's connections: past
    its limit, a client is answered 503 with Retry-After at once, and its others stay open."""
    scheduler = SchedulerProcess(f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "scheduler.log",
                                 "--max-requests-per-client", "3").start()  # fmt: skip
    try:
        with httpx.Client(base_url=scheduler.url, timeout=30) as greedy, ExitStack() as streams:
            for _ in range(3):
                opened = streams.enter_context(greedy.stream("GET", "/api/v1/events"))
                assert opened.status_code == 200
            refused = greedy.get("/api/v1/jobs")
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "too many requests at once from 127.0.0.1: 3" in refused.json()["error"]
            other = httpx.HTTPTransport(local_address="127.0.0.2")
            with httpx.Client(base_url=scheduler.url, transport=other, timeout=30) as calm:
                assert calm.get("/api/v1/jobs").status_code == 200
            streams.close()  # the greedy client lets go: it is answered again
            wait_for(lambda: greedy.get("/api/v1/jobs").status_code == 200, "a free slot")
    finally:
        scheduler.stop()
