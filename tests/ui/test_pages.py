"""Every page of the web UI over plain HTTP, on a real cluster: its status, what it shows, and
that each is reached by links from the home page."""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any
from urllib.parse import urljoin, urlparse

import msgspec
import pytest

import daybreak
from daybreak.model.api import API_PREFIX
from daybreak.model.jobspec import DockerContainer, ValueConstraint
from daybreak.model.task_state import TaskState
from daybreak.model.update import UpdateRequest, UpdateStarted
from tests.cluster.conftest import wait_for
from tests.ui.conftest import TICKING, UiCluster

LINK = re.compile(r'href="([^"#]+)"')


def page(ui: UiCluster, path: str, status: int = 200) -> str:
    response = ui.web.get(path)
    assert response.status_code == status, (path, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["server-timing"].startswith("app;dur=")
    return response.text


def pending_job(ui: UiCluster, name: str, instances: int, **options: Any) -> None:
    """A job no agent can take: its instances stay PENDING, with a reason."""
    nowhere = ValueConstraint(attribute="rack", values=("nowhere",))
    ui.create(ui.local.job(name=name, instances=instances, constraints=(nowhere,), **options))


def test_root_redirects_to_the_home_page(ui: UiCluster) -> None:
    response = ui.web.get("/")
    assert response.status_code in (301, 302, 307)
    assert response.headers["location"] == "/scheduler"


def counts_in(row: str) -> list[str]:
    """The numbers of a table row's number cells, links or not."""
    return re.findall(r'<td class="num">(?:<a [^>]*>)?(\d+)(?:</a>)?</td>', row)


def test_home_lists_each_role_with_its_jobs_and_tasks(ui: UiCluster) -> None:
    html = page(ui, "/scheduler")
    row = re.search(rf'<tr id="role-{ui.job.role}">(.*?)</tr>', html, re.S)
    assert row is not None
    assert f'href="/scheduler/{ui.job.role}"' in row.group(1)
    numbers = counts_in(row.group(1))
    assert int(numbers[0]) >= 1  # jobs (those needing attention, and cron jobs, next)
    assert int(numbers[4]) >= 2  # running


def test_role_page_groups_jobs_and_shows_the_quota(ui: UiCluster) -> None:
    pending_job(ui, "waiting", 1)
    html = page(ui, f"/scheduler/{ui.job.role}")
    # Grouped by health: the one no agent can take ahead of the healthy one.
    stuck = html.index('id="jobs-cannot-be-placed"')
    healthy = html.index('id="jobs-healthy"')
    assert stuck < html.index(">waiting</a>") < healthy < html.index(">web</a>")
    assert "Quota and usage" in html
    assert page(ui, f"/scheduler/{ui.job.role}/devel").count(">web</a>") == 1


def test_job_page_shows_instances_config_and_history(ui: UiCluster) -> None:
    html = page(ui, ui.job_path)
    for instance in (0, 1):
        row = re.search(
            rf'<tr id="instance-{instance}" data-state="RUNNING">(.*?)</tr>', html, re.S
        )
        assert row is not None, html
        assert "agent-1" in row.group(1)
        assert ">A</td>" in row.group(1)  # config group A, the current one
    assert f'href="{ui.task_path}"' in html
    assert "config A (current): instances 0-1" in html
    assert "process main" in html  # the configuration, readably
    assert "history (3)" in html  # PENDING, ASSIGNED, RUNNING (running at once: no STARTING)
    assert "Assigned to agent-1" in html


def test_job_page_paginates_and_says_why_instances_wait(ui: UiCluster) -> None:
    pending_job(ui, "many", 150)
    path = f"/scheduler/{ui.job.role}/devel/many"
    first = page(ui, path)
    assert first.count('data-state="PENDING"') == 100
    assert "page 1 of 2 (150 in all)" in first
    assert 'class="message pending-reason"' in first
    assert "rack" in first  # the reason names the constraint no agent meets
    second = page(ui, path + "?page=2")
    assert second.count('data-state="PENDING"') == 50
    assert 'id="instance-149"' in second and 'id="instance-0"' not in second


def test_finished_tasks_are_listed_apart(ui: UiCluster) -> None:
    spec = ui.local.job(name="oneshot", instances=1, cmdline="echo done")
    ui.create(spec)
    ui.local.wait_for_states(spec.key, TaskState.FINISHED, 1)
    path = f"/scheduler/{ui.job.role}/devel/oneshot"
    assert "No active tasks." in page(ui, path)
    finished = page(ui, path + "?show=finished")
    assert 'data-state="FINISHED"' in finished


def test_instance_page_shows_every_task_of_the_instance(ui: UiCluster) -> None:
    html = page(ui, f"{ui.job_path}/0")
    assert ui.task_id in html
    assert "Assigned to agent-1" in html


def test_task_page_shows_processes_usage_and_files(ui: UiCluster) -> None:
    html = page(ui, ui.task_path)
    row = re.search(r'<tr id="process-main">(.*?)</tr>', html, re.S)
    assert row is not None, html
    assert "RUNNING" in row.group(1)
    assert "path=.logs/main/0/stdout" in row.group(1)
    assert 'id="usage"' in html
    assert f'href="{ui.task_path}/browse"' in html


def test_browse_lists_the_task_files(ui: UiCluster) -> None:
    top = page(ui, f"{ui.task_path}/browse")
    assert 'browse?path=sandbox"' in top and "browse?path=.logs" in top
    logs = page(ui, f"{ui.task_path}/browse?path=.logs/main/0")
    assert "file?path=.logs/main/0/stdout" in logs.replace("%2F", "/")


def test_file_page_follows_the_file_through_the_api(ui: UiCluster) -> None:
    html = page(ui, f"{ui.task_path}/file?path=.logs/main/0/stdout")
    assert f"{API_PREFIX}/tasks/{ui.task_id}/file/follow?path=.logs/main/0/stdout" in html.replace(
        "%2F", "/"
    )


def test_a_path_outside_the_sandbox_is_refused_with_the_reason(ui: UiCluster) -> None:
    html = page(ui, f"{ui.task_path}/browse?path=../..", status=404)
    assert "outside the sandbox" in html


def test_unknown_jobs_and_tasks_get_a_page_saying_so(ui: UiCluster) -> None:
    assert "no job" in page(ui, f"/scheduler/{ui.job.role}/devel/nosuchjob", status=404)
    assert "no task" in page(ui, f"{ui.job_path}/task/nosuchtask", status=404)
    assert "no update" in page(ui, f"{ui.job_path}/update/nosuchupdate", status=404)
    # A role nobody ever used is not an empty role at rest.
    assert "no role" in page(ui, "/scheduler/nosuchrole", status=404)
    assert "no role" in page(ui, "/scheduler/nosuchrole/prod", status=404)
    page(ui, f"/scheduler/{ui.job.role}/prod")  # a known role's empty environment is fine


def start_update(ui: UiCluster, name: str) -> str:
    """A two-instance service, then an update of it; the update page's path."""
    spec = ui.local.job(name=name, instances=2, cmdline=TICKING, service=True)
    ui.create(spec)
    ui.local.wait_for_states(spec.key, TaskState.RUNNING, 2)
    changed = msgspec.structs.replace(
        spec, task=msgspec.structs.replace(spec.task, name="rolling2")
    )
    response = ui.local.api.post(
        f"/jobs/{spec.key}/update", content=msgspec.json.encode(UpdateRequest(spec=changed))
    )
    assert response.status_code == 200, response.text
    started = msgspec.json.decode(response.content, type=UpdateStarted)
    assert started.update is not None
    return f"/scheduler/{ui.job.role}/devel/{name}/update/{started.update.update_id}"


def test_update_pages_show_progress(ui: UiCluster) -> None:
    link = start_update(ui, "rolling")
    updates = page(ui, "/updates")
    assert f'href="{link}"' in updates
    html = page(ui, link)
    assert 'id="progress-0"' in html and 'id="progress-1"' in html
    assert "queue, 1 at a time" in html
    assert f'href="{link}"' in page(ui, f"/scheduler/{ui.job.role}/devel/rolling")
    assert "no update" in page(ui, link.replace("/rolling/", "/web/"), status=404)


def test_agents_utilization_and_quota_pages(ui: UiCluster) -> None:
    agents = page(ui, "/agents")
    assert 'id="agent-agent-1"' in agents and "rack=r1" in agents
    row = re.search(r'<tr id="agent-agent-1">(.*?)</tr>', agents, re.S)
    assert row is not None and f">{daybreak.__version__}</td>" in row.group(1)
    assert re.search(r"\d+ ms ago|\ds ago", row.group(1)), row.group(1)  # heard just now
    assert "using " in row.group(1)  # what its tasks measured, next to what they hold

    # The agent measures its tasks every second; the page shows the last heartbeat's figures.
    def measured() -> str | None:
        html = page(ui, "/agents/agent-1")
        return html if re.search(r"by its [1-9]\d* running task", html) else None

    # Other tests of the module may add tasks: at least the job's own are measured.
    agent = wait_for(measured, "the agent page to show what its tasks use")
    assert 'id="agent-heard"' in agent and 'id="agent-measured"' in agent
    utilization = page(ui, "/utilization")
    assert f'href="/scheduler/{ui.job.role}"' in utilization
    assert 'id="chart-cpu"' in utilization and "<b>free</b>" in utilization
    quotas = page(ui, "/quotas")
    assert f'id="quota-{ui.job.role}"' in quotas


PAGE_ROOTS = ("/scheduler", "/updates", "/agents", "/utilization", "/quotas")
PAGE_KINDS = {
    "home": r"^/scheduler$",
    "role": r"^/scheduler/[^/]+$",
    "job": r"^/scheduler/[^/]+/[^/]+/[^/]+$",
    "instance": r"^/scheduler/[^/]+/[^/]+/[^/]+/\d+$",
    "task": r"^/scheduler/[^/]+/[^/]+/[^/]+/task/[^/]+$",
    "sandbox": r"^/scheduler/[^/]+/[^/]+/[^/]+/task/[^/]+/browse$",
    "log": r"^/scheduler/[^/]+/[^/]+/[^/]+/task/[^/]+/file$",
    "update": r"^/scheduler/[^/]+/[^/]+/[^/]+/update/[^/]+$",
    "timeline": r"^/scheduler/[^/]+/[^/]+/[^/]+/timeline$",
    "updates": r"^/updates$",
    "agents": r"^/agents$",
    "agent": r"^/agents/[^/]+$",
    "utilization": r"^/utilization$",
    "quotas": r"^/quotas$",
}


@pytest.mark.timeout(300)
def test_every_page_is_reached_by_links_from_home(ui: UiCluster) -> None:
    start_update(ui, "crawled")  # so that an update exists whatever ran before
    seen: dict[str, str] = {}
    queue = deque(["/scheduler"])
    reached: set[str] = set()
    while queue and len(seen) < 400:
        path = queue.popleft()
        if path in seen:
            continue
        response = ui.web.get(path)
        while response.status_code == 429:  # faster than a person: wait as the server asks
            time.sleep(float(response.headers["Retry-After"]))
            response = ui.web.get(path)
        seen[path] = str(response.status_code)
        assert response.status_code == 200, (path, response.text[:300])
        plain = urlparse(path).path
        reached.update(kind for kind, shape in PAGE_KINDS.items() if re.match(shape, plain))
        for href in LINK.findall(response.text):
            target = urljoin(path, href.replace("&amp;", "&"))
            # A job's other pages of instances add nothing new: the first is enough.
            if target.startswith(PAGE_ROOTS) and "page=" not in target:
                queue.append(target)
    assert reached == set(PAGE_KINDS), set(PAGE_KINDS) - reached


def test_a_cron_job_shows_its_schedule_next_runs_and_runs(ui: UiCluster) -> None:
    spec = msgspec.structs.replace(
        ui.local.job(name="nightly", instances=1, cmdline="true"), cron_schedule="15 2 * * MON-FRI"
    )
    scheduled = ui.local.api.post("/cron", content=msgspec.json.encode(spec))
    assert scheduled.status_code == 200, scheduled.text
    html = page(ui, f"/scheduler/{ui.job.role}")
    start = html.index('id="jobs-scheduled"')
    cron_jobs = html[start : html.index("</table>", start)]
    assert ">nightly</a>" in cron_jobs and "cron <code>15 2 * * MON-FRI</code>, next " in cron_jobs
    assert re.search(r"next \d{4}-\d\d-\d\d 02:15:00 UTC", cron_jobs)

    job_page = page(ui, f"/scheduler/{ui.job.role}/devel/nightly")
    assert "<h2>Cron schedule</h2>" in job_page
    assert "At 02:15 on Monday through Friday" in job_page and "in UTC" in job_page
    assert "No runs yet." in job_page
    started = ui.local.api.post(f"/cron/{spec.key}/start")
    assert started.status_code == 200, started.text
    job_page = page(ui, f"/scheduler/{ui.job.role}/devel/nightly")
    assert '<table id="cron-runs">' in job_page and "<td>manual</td>" in job_page

    home = page(ui, "/scheduler")
    row = re.search(rf'<tr id="role-{ui.job.role}">(.*?)</tr>', home, re.S)
    assert row is not None and counts_in(row.group(1))[2] == "1"  # jobs, attention, cron
    # Aurora's /cron: the scheduled cron jobs as JSON.
    listing = ui.web.get("/cron").json()
    assert [entry["schedule"] for entry in listing["cron_jobs"]] == ["15 2 * * MON-FRI"]


def test_a_job_with_killed_instances_shows_how_many_are_active_of_its_config(
    ui: UiCluster,
) -> None:
    pending_job(ui, "shrunk", 3)
    key = f"{ui.job.cluster}/{ui.job.role}/{ui.job.environment}/shrunk"
    killed = ui.local.api.post(f"/jobs/{key}/kill", json={"instances": [1, 2]})
    assert killed.status_code == 200, killed.text
    html = page(ui, f"/scheduler/{ui.job.role}/{ui.job.environment}/shrunk")
    count = re.search(r'<dd id="instance-count">(.*?)</dd>', html)
    assert count is not None
    assert count.group(1) == (
        "1 active of 3 in the config: a killed instance is not replaced; an update with the "
        "config brings it back"
    )
    role = page(ui, f"/scheduler/{ui.job.role}")
    row = re.search(r'<tr id="job-[^"]*-shrunk">(.*?)</tr>', role, re.S)
    assert row is not None and "1 <span" in row.group(1) and ">of 3</span>" in row.group(1)


def test_a_job_in_an_image_names_it(ui: UiCluster) -> None:
    image = "registry.example:5000/web@sha256:" + "0" * 64
    pending_job(ui, "boxed", 1, container=DockerContainer(image=image))
    html = page(ui, f"/scheduler/{ui.job.role}/{ui.job.environment}/boxed")
    assert f'<dd id="image"><code>{image}</code></dd>' in html
    plain = page(ui, f"/scheduler/{ui.job.role}/{ui.job.environment}/{ui.job.name}")
    assert 'id="image"' not in plain
