"""The web UI in a real browser: Debian's Chromium driven by Playwright, against a real cluster.
Each test saves screenshots of the pages it visits (see `screenshot`)."""

from __future__ import annotations

import re

import msgspec
from playwright.sync_api import Page, expect

from daybreak.model.jobspec import UpdateSettings, ValueConstraint
from daybreak.model.task_state import TaskState
from daybreak.model.update import UpdateRequest
from tests.ui.conftest import LIVE_S, TICKING, UiCluster, following, not_reloaded, screenshot


def test_navigate_from_home_to_a_task_and_its_output(page: Page, ui: UiCluster) -> None:
    page.goto("/scheduler")
    expect(page.locator("h1")).to_have_text("Roles")
    screenshot(page, "home")
    page.click(f'a[href="/scheduler/{ui.job.role}"]')
    expect(page.locator("h1")).to_have_text(f"Jobs of {ui.job.role}")
    screenshot(page, "role")
    page.click(f'a[href="{ui.job_path}"] >> nth=0')
    expect(page.locator("#instance-0")).to_have_attribute("data-state", "RUNNING")
    page.click("#history-" + ui.task_id + " summary")
    expect(page.locator(f"#history-{ui.task_id}")).to_contain_text("Assigned to agent-1")
    screenshot(page, "job")
    page.click(f'a[href="{ui.task_path}"]')
    # The task page asks the agent for the processes (waiting up to 3 s for it) before it
    # renders: on a loaded machine that alone can take longer than the default 5 s.
    expect(page.locator("#process-main")).to_contain_text("RUNNING", timeout=LIVE_S)
    screenshot(page, "task")
    page.click("#process-main >> text=stdout")
    expect(page.locator("#output")).to_contain_text("tick-1", timeout=LIVE_S)
    screenshot(page, "stdout")
    page.goto(ui.task_path)
    page.click("text=browse")
    expect(page.locator("#files")).to_contain_text("sandbox/")
    screenshot(page, "sandbox")


def test_cluster_pages_from_the_menu(page: Page, ui: UiCluster) -> None:
    page.goto("/scheduler")
    for link, heading, name in (
        ("Agents", "Agents", "agents"),
        ("Utilization", "Utilization", "utilization"),
        ("Quotas", "Quotas", "quotas"),
        ("Updates", "Updates", "updates"),
    ):
        page.click(f"header nav >> text={link}")
        expect(page.locator("h1")).to_have_text(heading)
        screenshot(page, name)
    page.goto("/agents")
    expect(page.locator("#agent-agent-1")).to_contain_text("rack=r1")


def test_output_grows_on_the_page_as_it_is_written(page: Page, ui: UiCluster) -> None:
    page.goto(f"{ui.task_path}/file?path=.logs/main/0/stdout")
    output = page.locator("#output")
    expect(output).to_contain_text("tick-2", timeout=LIVE_S)
    expect(page.locator("#follow-status")).to_have_text("following")
    page.evaluate("window.notReloaded = true")
    last = max(int(n) for n in re.findall(r"tick-(\d+)", output.inner_text()))
    expect(output).to_contain_text(f"tick-{last + 5}\n", timeout=LIVE_S)
    assert not_reloaded(page)
    screenshot(page, "stdout-following")


def test_an_update_page_shows_the_update_progress_live(page: Page, ui: UiCluster) -> None:
    quick = UpdateSettings(watch_secs=2)
    spec = ui.local.job(name="updating", instances=3, cmdline=TICKING, service=True, update=quick)
    assert ui.local.create(spec).status_code == 201
    ui.local.wait_for_states(spec.key, TaskState.RUNNING, 3)
    changed = msgspec.structs.replace(spec, task=msgspec.structs.replace(spec.task, name="v2"))
    response = ui.local.api.post(
        f"/jobs/{spec.key}/update", content=msgspec.json.encode(UpdateRequest(spec=changed))
    )
    assert response.status_code == 200, response.text
    update_id = response.json()["update"]["update_id"]
    job_path = f"/scheduler/{ui.job.role}/devel/updating"
    page.goto(job_path)
    page.click(f'a[href="{job_path}/update/{update_id}"] >> nth=0')
    following(page)
    expect(page.locator("#update-status")).to_contain_text("ROLLING_FORWARD")
    # While it rolls: how long it may take, which instance is in its watch, and what changes.
    expect(page.locator("#time-left")).to_contain_text("instance(s) to go")
    expect(page.locator("#watching tr[id^=watch-]")).not_to_have_count(0)
    changes = page.locator("#config-changes")
    expect(changes).to_contain_text("instances 0-2")
    expect(changes.locator("pre.diff .add", has_text='"name": "v2"')).to_have_count(1)
    screenshot(page, "update-rolling")
    expect(page.locator("#update-status")).to_contain_text("ROLLED_FORWARD", timeout=LIVE_S * 2)
    for instance in range(3):
        expect(page.locator(f"#progress-{instance}")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#time-left")).to_have_count(0)  # over: nothing left
    assert not_reloaded(page)
    screenshot(page, "update-done")


def test_a_running_task_has_cpu_and_memory_graphs_next_to_its_limits(
    page: Page, ui: UiCluster
) -> None:
    page.goto(ui.task_path)
    ram = page.locator("#usage-ram")
    # A point a second: the graph grows a line once two have been heard, without a reload.
    expect(ram.locator("polyline.usage")).to_have_count(1, timeout=LIVE_S)
    expect(page.locator("#usage-cpu polyline.usage")).to_have_count(1)
    expect(ram.locator("line.limit")).to_have_count(1)
    expect(page.locator("#usage-graphs")).to_contain_text("of 32 MiB asked")
    # Measured in one script: the page's live refresh may replace the graph at any moment.
    width = page.evaluate("document.getElementById('usage-ram').getBoundingClientRect().width")
    assert width > 200, width
    history = ui.local.api.get(f"/tasks/{ui.task_id}/usage").json()
    assert history["ram_limit_mb"] == 32
    assert len(history["points"]) >= 2
    assert all(ram_mb > 0 for _at, _cpu, ram_mb in history["points"])
    screenshot(page, "task-usage-graphs")


def test_a_table_sorts_by_the_header_clicked_and_keeps_its_order(page: Page, ui: UiCluster) -> None:
    page.goto(ui.job_path)
    rows = page.locator("#instances tr[data-state]")
    expect(rows.first).to_have_id("instance-0")
    header = page.locator("#instances th", has_text="instance")
    header.click()  # ascending, as they came
    expect(header).to_have_attribute("aria-sort", "ascending")
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_id("instance-1")
    page.reload()  # the tab remembers the order
    expect(rows.first).to_have_id("instance-1")
    screenshot(page, "job-sorted")
    page.locator("#instances th", has_text="instance").click()
    expect(rows.first).to_have_id("instance-0")


def test_a_pending_instance_turns_running_without_a_reload(page: Page, ui: UiCluster) -> None:
    """Runs last in this module: it adds an agent to the cluster."""
    on_r2 = ValueConstraint(attribute="rack", values=("r2",))
    spec = ui.local.job(name="waiting", instances=1, cmdline=TICKING, constraints=(on_r2,))
    assert ui.local.create(spec).status_code == 201
    page.goto(f"/scheduler/{ui.job.role}/devel/waiting")
    row = page.locator("#instance-0")
    expect(row).to_have_attribute("data-state", "PENDING")
    expect(row).to_contain_text("rack")  # why it waits
    following(page)
    screenshot(page, "job-pending")
    ui.local.add_agent(rack="r2")
    expect(row).to_have_attribute("data-state", "RUNNING", timeout=LIVE_S)
    expect(row).to_contain_text("agent-2")
    assert not_reloaded(page)
    screenshot(page, "job-running")
