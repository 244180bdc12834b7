"""The pages under the scheduler's security: closed reads ask a browser who it is (HTTP basic),
and a signed-in browser gets the pages and their live updates."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import LocalCluster, running_cluster, unique_role
from tests.cluster.test_security import AGENT_TOKEN, ALICE_TOKEN, bearer, security_file
from tests.ui.conftest import LIVE_S, browsing, following, not_reloaded, screenshot


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster whose reads need a user: alice (password wonderland) of its role."""
    directory = tmp_path_factory.mktemp("closed")
    credential = directory / "agent-token"
    credential.write_text(AGENT_TOKEN + "\n")
    role = unique_role()
    config = security_file(directory / "security.toml", role, open_reads=False)
    with running_cluster(
        "sqlite", directory, "--security", str(config),
        agent_args=("--credential-file", str(credential)), agents=1, role=role,
        api_headers=bearer(ALICE_TOKEN),
    ) as local:  # fmt: skip
        yield local


def test_a_page_without_credentials_asks_for_them(closed: LocalCluster) -> None:
    for path in ("/scheduler", f"/scheduler/{closed.role}", "/agents", "/static/live.js"):
        response = httpx.get(closed.scheduler.url + path)
        assert response.status_code == 401, path
        assert "Basic" in response.headers["www-authenticate"]
    assert "credentials" in httpx.get(closed.scheduler.url + "/scheduler").text


def test_wrong_credentials_are_refused(closed: LocalCluster) -> None:
    response = httpx.get(closed.scheduler.url + "/scheduler", auth=("alice", "looking-glass"))
    assert response.status_code == 401


def test_a_signed_in_browser_sees_pages_change_live(browser: Browser, closed: LocalCluster) -> None:
    alice = {"username": "alice", "password": "wonderland"}
    # The role exists before its page is opened: a role nobody used is a 404.
    assert closed.create(closed.job(name="early", instances=1)).status_code == 201
    with browsing(browser, closed.scheduler.url, http_credentials=alice) as page:
        page.goto(f"/scheduler/{closed.role}")
        expect(page.locator("h1")).to_have_text(f"Jobs of {closed.role}")
        following(page)  # the event stream needs alice too
        spec = closed.job(name="late", instances=1)
        assert closed.create(spec).status_code == 201
        closed.wait_for_states(spec.key, TaskState.RUNNING, 1)
        expect(page.locator(".jobs.healthy #job-devel-late")).to_be_visible(timeout=LIVE_S)
        assert not_reloaded(page)
        screenshot(page, "role-signed-in")
