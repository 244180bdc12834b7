"""What is wrong, at a glance, in a real browser against a troubled cluster: a crash-looping
job, one that can never be placed, a finished batch job and a service whose update rolled
back, each shown with its health and why on the role page and in the home page's attention
list; the same health in the API and in `job status`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest
from playwright.sync_api import Browser, Page, expect

from daybreak.model.api import JobStatus
from daybreak.model.jobspec import JobKey, JobSpec, Resources, UpdateSettings
from daybreak.model.task_state import TaskState
from daybreak.model.update import UpdateRequest
from tests.cluster.conftest import LocalCluster, running_cluster, wait_for
from tests.ui.conftest import LIVE_S, browsing, screenshot

SLEEP = "sleep 600"
CRASHING = "echo 'bind: Address already in use' >&2; exit 1"
BROKEN = "echo 'listen tcp :8080: EADDRINUSE' >&2; exit 3"


@pytest.fixture(scope="module")
def troubled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster("sqlite", tmp_path_factory.mktemp("troubled"), agents=1) as local:
        jobs = [
            local.job("crashing", instances=1, cmdline=CRASHING, service=True),
            sized(local.job("huge", instances=1, cmdline=SLEEP), cpu=64),
            local.job("batch", instances=1, cmdline="true"),
            local.job("serving", instances=3, cmdline=SLEEP, service=True,
                      update=UpdateSettings(watch_secs=5)),
        ]  # fmt: skip
        for spec in jobs:
            assert local.create(spec).status_code == 201
        serving = jobs[3]
        local.wait_for_states(serving.key, TaskState.RUNNING, 3)
        local.wait_for_states(jobs[2].key, TaskState.FINISHED, 1)
        # An update to a config whose process exits at once: it fails and rolls back.
        broken = msgspec.structs.replace(serving, task=msgspec.structs.replace(
            serving.task, processes=(msgspec.structs.replace(serving.task.processes[0],
                                                             cmdline=BROKEN),)))  # fmt: skip
        response = local.api.post(f"/jobs/{serving.key}/update",
                                  content=msgspec.json.encode(UpdateRequest(spec=broken)))  # fmt: skip
        assert response.status_code == 200, response.text
        wait_for(lambda: health(local, serving.key) == "update failed", "the update rolled back")
        yield local


def sized(spec: JobSpec, cpu: float) -> JobSpec:
    resources = Resources(cpu=cpu, ram_mb=16, disk_mb=16)
    return msgspec.structs.replace(
        spec, task=msgspec.structs.replace(spec.task, resources=resources)
    )


def health(local: LocalCluster, key: JobKey) -> str | None:
    status = local.status(key)
    return None if status.health is None else status.health.health


@pytest.fixture
def page(browser: Browser, troubled: LocalCluster) -> Iterator[Page]:
    with browsing(browser, troubled.scheduler.url) as opened:
        yield opened


def test_each_job_is_shown_with_its_health_and_why(page: Page, troubled: LocalCluster) -> None:
    role = troubled.role
    page.goto(f"/scheduler/{role}")
    expected = {
        "crashing": ("crash-looping", "held back for restarting too often"),
        "huge": ("cannot be placed", "needs cpu 64 where the largest agent has 2"),
        "batch": ("finished", "1 instance ended"),
        "serving": ("update failed", "rolled back"),
    }
    for name, (word, why) in expected.items():
        row = page.locator(f"#job-devel-{name}")
        expect(row.locator(".health")).to_have_text(word, timeout=LIVE_S)
        expect(row).to_contain_text(why)
    screenshot(page, "role-health")
    # Grouped by health: the crash-looping job under its own heading, the finished one apart.
    expect(page.locator("table.jobs.crash-looping #job-devel-crashing")).to_have_count(1)
    expect(page.locator("table.jobs.finished #job-devel-batch")).to_have_count(1)

    page.goto("/scheduler")
    attention = page.locator("#attention")
    for name in ("crashing", "huge", "serving"):
        expect(attention.locator(f'a[href="/scheduler/{role}/devel/{name}"]')).to_have_count(1)
    expect(attention.locator(f'a[href="/scheduler/{role}/devel/batch"]')).to_have_count(0)
    summary = page.locator("#cluster-summary")
    expect(summary).to_contain_text("1 of 1 agents online")
    screenshot(page, "home-health")


def test_the_api_and_the_cli_say_the_same(troubled: LocalCluster) -> None:
    key = troubled.job("huge").key
    status = msgspec.json.decode(troubled.api.get(f"/jobs/{key}").content, type=JobStatus)
    assert status.health is not None and status.health.health == "cannot be placed"
    assert status.active[0].pending_reason is not None
    assert status.active[0].pending_reason.startswith("cannot be placed on any agent: needs cpu 64")


def test_an_instance_row_says_why_and_links_the_failed_runs_output(
    page: Page, troubled: LocalCluster
) -> None:
    page.goto(f"/scheduler/{troubled.role}/devel/crashing")
    row = page.locator("#instance-0")
    expect(row.locator(".last-failure")).to_contain_text(
        "last run FAILED: Process 'main' failed", timeout=LIVE_S
    )
    expect(row.locator(".restarts")).not_to_have_text("0")
    screenshot(page, "job-crashing")
    row.locator("a.stderr").click()
    expect(page.locator("#output")).to_contain_text("bind: Address already in use",
                                                    timeout=LIVE_S)  # fmt: skip
    screenshot(page, "job-crashing-stderr")
    # The failed run's task page shows the end of its stderr at once.
    failed = troubled.status(troubled.job("crashing").key).finished[-1]
    page.goto(f"/scheduler/{troubled.role}/devel/crashing/task/{failed.task_id}")
    expect(page.locator("#failed-main")).to_contain_text("main failed (exit 1)", timeout=LIVE_S)
    expect(page.locator("#tail-main")).to_contain_text("bind: Address already in use",
                                                       timeout=LIVE_S)  # fmt: skip
    screenshot(page, "task-failed")

    page.goto(f"/scheduler/{troubled.role}/devel/huge")
    expect(page.locator("#instance-0 .pending-reason")).to_contain_text(
        "cannot be placed on any agent: needs cpu 64 where the largest agent has 2"
    )
    expect(page.locator("#health")).to_contain_text("cannot be placed")


PHONE_PAGES = ("/scheduler", "/scheduler/{role}", "/scheduler/{role}/devel/crashing",
               "/agents", "/updates", "/quotas", "/utilization")  # fmt: skip


def test_every_page_fits_a_phone_and_follows_a_dark_system_setting(
    browser: Browser, troubled: LocalCluster
) -> None:
    with browsing(browser, troubled.scheduler.url, viewport={"width": 390, "height": 844},
                  color_scheme="dark") as phone:  # fmt: skip
        for number, path in enumerate(PHONE_PAGES):
            phone.goto(path.format(role=troubled.role))
            screenshot(phone, f"phone-dark-{number}")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide at 390"
            # Every menu link is inside the header, on its dark ground.
            header = phone.locator("header.top").bounding_box()
            assert header is not None
            for link in phone.locator("header.top nav a").all():
                box = link.bounding_box()
                assert (
                    box is not None and box["y"] + box["height"] <= header["y"] + header["height"]
                )
        background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 19, 28)"
    favicon = httpx.get(troubled.scheduler.url + "/favicon.ico", follow_redirects=True)
    assert favicon.status_code == 200 and favicon.text.startswith("<svg")


def test_a_failed_updates_page_counts_only_what_it_touched_and_links_the_cause(
    page: Page, troubled: LocalCluster
) -> None:
    key = troubled.job("serving").key
    listed = troubled.api.get("/updates", params={"role": key.role, "name": key.name})
    [update] = listed.json()["updates"]
    page.goto(f"/scheduler/{troubled.role}/devel/serving/update/{update['update_id']}")
    # Batches of one: instance 0 failed and was rolled back; 1 and 2 were never touched.
    expect(page.locator("#progress-0")).to_have_attribute("data-status", "rolled_back")
    for instance in (1, 2):
        expect(page.locator(f"#progress-{instance}")).to_have_attribute("data-status",
                                                                        "untouched")  # fmt: skip
    expect(page.locator("#update")).to_contain_text("2 untouched (already as wanted)")
    failure = page.locator("#update-failure")
    expect(failure).to_contain_text("instance 0 ended FAILED")
    screenshot(page, "update-failed")
    failure.locator("text=stderr").click()
    expect(page.locator("#output")).to_contain_text("EADDRINUSE", timeout=LIVE_S)
    page.go_back()
    page.locator("#progress-1").click()
    expect(page.locator("h1")).to_contain_text("Instance 1 of")


def test_search_finds_jobs_hosts_and_tasks_and_a_host_has_a_page(
    page: Page, troubled: LocalCluster
) -> None:
    page.goto("/scheduler")
    page.fill("header form.search input", "crashi")
    page.press("header form.search input", "Enter")
    results = page.locator("#results")
    expect(results.locator(f'a[href="/scheduler/{troubled.role}/devel/crashing"]')).to_have_count(1)
    serving = troubled.status(troubled.job("serving").key).active[0]
    page.goto(f"/search?q={serving.task_id[-12:]}")
    expect(results.locator("a", has_text=serving.task_id)).to_have_count(1)
    page.goto("/search?q=agent-")
    results.locator('a[href="/agents/agent-1"]').click()
    expect(page.locator("h1")).to_have_text("Agent agent-1")
    expect(page.locator("#agent-tasks")).to_contain_text(serving.task_id)
    screenshot(page, "agent")
    page.goto("/search?q=nothing-is-called-this")
    expect(results).to_contain_text("Nothing holds")
    missing = httpx.get(troubled.scheduler.url + "/agents/no-such-agent")
    assert missing.status_code == 404 and "no agent &#39;no-such-agent&#39;" in missing.text


def test_the_job_page_filters_by_state_and_jumps_to_an_instance(troubled: LocalCluster) -> None:
    web = httpx.Client(base_url=troubled.scheduler.url, timeout=15)
    path = f"/scheduler/{troubled.role}/devel/serving"
    html = web.get(path).text
    assert f'href="{path}?show=active&amp;state=RUNNING"' in html
    assert html.count('<tr id="instance-') == 3
    none = web.get(path, params={"state": "PENDING"}).text
    assert none.count('<tr id="instance-') == 0 and "No active tasks." in none
    several = web.get(path, params={"state": "PENDING,RUNNING"}).text
    assert several.count('<tr id="instance-') == 3
    # The role page's counts lead to the tasks they count.
    role = web.get(f"/scheduler/{troubled.role}").text
    assert f'href="{path}?state=RUNNING">3</a>' in role
    assert f'href="{path}?show=finished&amp;state=FAILED,LOST">' in role
    jumped = web.get(f"{path}/jump", params={"instance": "2"})
    assert jumped.status_code in (302, 303, 307) and jumped.headers["location"] == f"{path}/2"
    assert web.get(f"{path}/jump", params={"instance": "two"}).status_code == 400
    web.close()


def test_a_job_timeline_tells_its_creation_failures_and_update(
    page: Page, troubled: LocalCluster
) -> None:
    path = f"/scheduler/{troubled.role}/devel/serving"
    page.goto(path)
    page.locator("a.timeline-link").click()
    expect(page.locator("h1")).to_contain_text("Timeline of")
    entries = page.locator("#timeline-entries")
    expect(entries.locator("tr.created")).to_contain_text("instances 0-2 created")
    rolled_back = entries.locator("tr.update.trouble", has_text="ROLLED_BACK")
    expect(rolled_back).to_have_count(1)
    rolled_back.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text("Update")
    page.go_back()
    # The broken config's task failed: a trouble line, with its cause and a link to the task.
    failed = entries.locator("tr.failed.trouble").first
    expect(failed).to_contain_text("failed")
    failed.locator("a", has_text="task").click()
    expect(page.locator("#task-state")).to_contain_text("FAILED")
    screenshot(page, "job-timeline-task")
    page.goto(f"{path}/timeline")
    screenshot(page, "job-timeline")
    assert (
        httpx.get(
            troubled.scheduler.url + f"/scheduler/{troubled.role}/devel/none/timeline"
        ).status_code
        == 404
    )
