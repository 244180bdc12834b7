"""For the web UI's tests: a real cluster (a scheduler and one agent, shared by a module's
tests, with a service job running), and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task_state import TaskState
from tests.cluster.conftest import LocalCluster, running_cluster
from tests.conftest import REPO

# Prints a numbered line every 0.2 s, so a follower sees it grow.
TICKING = "for i in $(seq 1 100000); do echo tick-$i; sleep 0.2; done"


@dataclass
class UiCluster:
    local: LocalCluster
    web: httpx.Client  # the pages, at the scheduler's root
    job: JobKey  # a two-instance service, RUNNING
    task_id: str  # the task of its instance 0

    @property
    def job_path(self) -> str:
        return f"/scheduler/{self.job.role}/{self.job.environment}/{self.job.name}"

    @property
    def task_path(self) -> str:
        return f"{self.job_path}/task/{self.task_id}"

    def create(self, spec: JobSpec) -> None:
        response = self.local.create(spec)
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiCluster]:
    # Usage measured every second and a graph point a second, so graphs grow while tests look.
    with running_cluster(
        "sqlite", tmp_path_factory.mktemp("ui"), "--usage-history-step", "1s",
        agent_args=("--usage-interval", "1s"), agents=1,
    ) as local:  # fmt: skip
        spec = local.job(name="web", instances=2, cmdline=TICKING, service=True)
        assert local.create(spec).status_code == 201
        status = local.wait_for_states(spec.key, TaskState.RUNNING, 2)
        task_id = next(t.task_id for t in status.active if t.instance == 0)
        with httpx.Client(base_url=local.scheduler.url, timeout=15) as web:
            yield UiCluster(local, web, spec.key, task_id)


CHROMIUM = "/usr/bin/chromium"
# As root in a machine without a display or network; see the env notes of this project.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(os.environ.get("DAYBREAK_TEST_OUTPUT", REPO / "test-output")) / "screenshots"
LIVE_S = 30_000  # ms: how long a change may take to reach a page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Playwright gives each launch a new, empty profile directory.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@contextmanager
def browsing(browser: Browser, url: str, **options: Any) -> Iterator[Page]:
    """A page in a context of its own (cookies, credentials) at the scheduler `url`."""
    options.setdefault("viewport", {"width": 1300, "height": 900})
    context = browser.new_context(base_url=url, **options)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, ui: UiCluster) -> Iterator[Page]:
    with browsing(browser, ui.local.scheduler.url) as opened:
        yield opened


def screenshot(page: Page, name: str) -> None:
    """Saved under test-output/screenshots (or $DAYBREAK_TEST_OUTPUT/screenshots), so that a
    person can look at what the pages show."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def following(page: Page) -> None:
    """Wait until the page follows the scheduler's events, and mark the document: a reload
    would lose the mark."""
    expect(page.locator("body")).to_have_attribute("data-live", "connected", timeout=LIVE_S)
    page.evaluate("window.notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))
