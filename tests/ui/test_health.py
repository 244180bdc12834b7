"""What is wrong, at a glance, in a real browser against a troubled cluster: a crash-looping
job, one that can never be placed, a finished batch job and a service whose update rolled
back, each shown with its health and why on the role page and in the home page's attention
list; the same health in the API and in `job status`."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="module")
def troubled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster("sqlite", tmp_path_factory.mktemp("troubled"), agents=1) as local:
        jobs = [
            local.job("crashing", instances=1, cmdline=CRASHING, service=True),
            sized(local.job("huge", instances=1, cmdline=SLEEP), cpu=64),
            local.job("batch", instances=1, cmdline="true"),
            local.job("serving", instances=1, cmdline=SLEEP, service=True,
                      update=UpdateSettings(watch_secs=5)),
        ]  # fmt: skip
        for spec in jobs:
            assert local.create(spec).status_code == 201
        serving = jobs[3]
        local.wait_for_states(serving.key, TaskState.RUNNING, 1)
        local.wait_for_states(jobs[2].key, TaskState.FINISHED, 1)
        # An update to a config whose process exits at once: it fails and rolls back.
        broken = msgspec.structs.replace(serving, task=msgspec.structs.replace(
            serving.task, processes=(msgspec.structs.replace(serving.task.processes[0],
                                                             cmdline="exit 3"),)))  # fmt: skip
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

    page.goto(f"/scheduler/{troubled.role}/devel/huge")
    expect(page.locator("#instance-0 .pending-reason")).to_contain_text(
        "cannot be placed on any agent: needs cpu 64 where the largest agent has 2"
    )
    expect(page.locator("#health")).to_contain_text("cannot be placed")
