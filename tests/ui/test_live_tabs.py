"""Live pages in many tabs: one event stream per browser, and a banner when it drops.

Chromium allows six connections per host over HTTP/1.1. When each tab held a stream of its
own, six open tabs stopped every tab updating and a seventh page never loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from daybreak.model.jobspec import ValueConstraint
from tests.cluster.conftest import SchedulerProcess
from tests.ui.conftest import LIVE_S, TICKING, UiCluster, following, not_reloaded, screenshot

TABS = 8
# Makes a page look hidden to itself, as a tab in the background is.
HIDE = """() => {
  Object.defineProperty(document, "hidden", { get: () => true, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
# A browser where the tabs cannot share (no Web Locks: a page served over plain HTTP from
# another machine is not a secure context).
NO_LOCKS = "Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });"


@pytest.fixture
def context(browser: Browser, ui: UiCluster) -> Iterator[BrowserContext]:
    """One browser profile: its tabs share what a browser's tabs share."""
    opened = browser.new_context(
        base_url=ui.local.scheduler.url, viewport={"width": 1300, "height": 900}
    )
    opened.set_default_navigation_timeout(10_000)
    try:
        yield opened
    finally:
        opened.close()


def unplaceable(ui: UiCluster, name: str, instances: int) -> str:
    """A job that waits for a rack no agent has: its pages change only when we change it."""
    nowhere = ValueConstraint(attribute="rack", values=("r9",))
    spec = ui.local.job(name=name, instances=instances, cmdline=TICKING, constraints=(nowhere,))
    ui.create(spec)
    return f"/scheduler/{ui.job.role}/devel/{name}"


def refreshes(tab: Page) -> int:
    """How many times the page fetched itself again to follow a change."""
    return int(tab.evaluate("Number(document.body.dataset.refreshes || 0)"))


def refreshed_since(tab: Page, count: int) -> None:
    tab.wait_for_function(
        "count => Number(document.body.dataset.refreshes || 0) > count", arg=count, timeout=LIVE_S
    )


def open_tabs(context: BrowserContext, paths: list[str]) -> list[Page]:
    tabs = []
    for path in paths:
        tab = context.new_page()
        tab.goto(path)
        following(tab)
        tabs.append(tab)
    return tabs


def add_instance(ui: UiCluster, name: str) -> None:
    path = f"/jobs/{ui.job.cluster}/{ui.job.role}/devel/{name}/instances"
    response = ui.local.api.post(path, json={"count": 1})
    assert response.status_code == 200, response.text


def test_eight_tabs_all_update_and_a_ninth_page_loads(
    context: BrowserContext, ui: UiCluster
) -> None:
    job_page = unplaceable(ui, "tabs", 1)
    role_page = f"/scheduler/{ui.job.role}"
    paths = [job_page] * 5 + [role_page, "/scheduler", f"{job_page}/0"]
    tabs = open_tabs(context, paths)
    counts = [refreshes(tab) for tab in tabs]

    add_instance(ui, "tabs")
    for tab in tabs[:5]:
        expect(tab.locator("#instance-1")).to_have_attribute(
            "data-state", "PENDING", timeout=LIVE_S
        )
    for tab, count in zip(tabs, counts, strict=True):
        refreshed_since(tab, count)
        assert not_reloaded(tab)

    ninth = context.new_page()
    ninth.goto("/agents")
    following(ninth)
    screenshot(ninth, "ninth-tab")


def test_a_tab_that_is_not_about_the_changed_job_is_left_alone(
    context: BrowserContext, ui: UiCluster
) -> None:
    """Every tab hears every event through the shared stream; only the concerned refetch."""
    changed, quiet = unplaceable(ui, "changed", 1), unplaceable(ui, "quiet", 1)
    changed_tab, quiet_tab = open_tabs(context, [changed, quiet])
    quiet_tab.wait_for_timeout(1000)  # the refetch each tab makes once it follows
    before = refreshes(quiet_tab)
    add_instance(ui, "changed")
    expect(changed_tab.locator("#instance-1")).to_have_attribute(
        "data-state", "PENDING", timeout=LIVE_S
    )
    changed_tab.wait_for_timeout(1000)  # time for a refetch the quiet tab should not make
    assert refreshes(quiet_tab) == before


def test_when_the_tab_that_follows_closes_another_takes_over(
    context: BrowserContext, ui: UiCluster
) -> None:
    path = unplaceable(ui, "takeover", 1)
    first, second = open_tabs(context, [path, path])
    first.close()  # the first tab opened held the stream
    add_instance(ui, "takeover")
    expect(second.locator("#instance-1")).to_have_attribute("data-state", "PENDING", timeout=LIVE_S)


def test_where_tabs_cannot_share_a_hidden_tab_lets_its_stream_go(
    context: BrowserContext, ui: UiCluster
) -> None:
    """As a person opens tabs in a window: each new one is seen, the one before is hidden."""
    context.add_init_script(NO_LOCKS)
    path = unplaceable(ui, "hidden", 1)
    for _ in range(TABS):
        (tab,) = open_tabs(context, [path])
        tab.evaluate(HIDE)
    (ninth,) = open_tabs(context, [path])
    add_instance(ui, "hidden")
    expect(ninth.locator("#instance-1")).to_have_attribute("data-state", "PENDING", timeout=LIVE_S)


def test_a_banner_says_when_live_updates_stop_and_when_they_are_back(
    context: BrowserContext, tmp_path: Path
) -> None:
    scheduler = SchedulerProcess(f"sqlite:///{tmp_path / 'db'}", tmp_path / "log").start()
    try:
        tab = context.new_page()
        tab.goto(scheduler.url + "/scheduler")
        following(tab)
        banner = tab.locator("#live-banner")
        expect(banner).to_be_hidden()

        scheduler.stop()
        expect(banner).to_be_visible(timeout=LIVE_S)
        expect(banner).to_contain_text("Live updates stopped")
        expect(tab.locator("body")).to_have_attribute("data-live", "reconnecting")
        screenshot(tab, "live-lost")

        scheduler.start()
        expect(banner).to_contain_text("Live updates are back", timeout=LIVE_S)
        expect(tab.locator("body")).to_have_attribute("data-live", "connected")
        # The page caught up with what happened meanwhile: a new leader's term.
        expect(tab.locator("#leader-line")).to_contain_text("epoch 2", timeout=LIVE_S)
        screenshot(tab, "live-back")
        expect(banner).to_be_hidden(timeout=LIVE_S)
    finally:
        scheduler.stop()
