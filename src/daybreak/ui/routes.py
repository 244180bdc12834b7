"""The web UI's pages, at Aurora's addresses, rendered on the server from the scheduler's state.

Every page is one read of memory and one template; `static/live.js` keeps the parts marked
`data-live` current by following the scheduler's events and fetching the page again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.model.api import API_PREFIX, process_log
from daybreak.model.jobspec import JobKey
from daybreak.model.task_state import TERMINAL_STATES
from daybreak.model.units import is_number
from daybreak.scheduler import api_tasks
from daybreak.scheduler.access import Access, access
from daybreak.scheduler.role import NotLeaderError, redirect_to_leader
from daybreak.scheduler.service import Scheduler
from daybreak.scheduler.statuses import status_of
from daybreak.ui import agent_pages, charts, job_pages, pages, update_pages
from daybreak.ui.formatting import FILTERS, percent

HERE = Path(__file__).parent
JOB = "/scheduler/{role:str}/{env:str}/{name:str}"
TASK = JOB + "/task/{task_id:str}"
# A task page waits this long for its agent to describe the task's processes.
AGENT_WAIT_S = 3.0


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    def setup(engine: JinjaTemplateEngine) -> None:
        engine.engine.filters.update(FILTERS)
        engine.engine.globals.update(percent=percent, api=API_PREFIX)

    return TemplateConfig(
        directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=setup
    )


def render(scheduler: Scheduler, name: str, **context: Any) -> Template:
    leader = scheduler.config.address
    return Template(
        name,
        context={
            "cluster": scheduler.config.cluster,
            "now": scheduler.clock.now(),
            # Pages are served by the leader (standbys redirect): say which, and its epoch.
            "leader": leader if scheduler.epoch is None else f"{leader}, epoch {scheduler.epoch}",
            "disruption": scheduler.state.disruption(),
            **context,
        },
    )


def job_key(scheduler: Scheduler, role: str, env: str, name: str) -> JobKey:
    return JobKey(cluster=scheduler.config.cluster, role=role, environment=env, name=name)


@get("/", include_in_schema=False)
async def root() -> Redirect:
    return Redirect("/scheduler")


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> Redirect:
    """Where browsers look without being told."""
    return Redirect("/static/favicon.svg")


@get("/scheduler")
async def home(scheduler: Scheduler) -> Template:
    return render(scheduler, "home.html", home=pages.home_page(scheduler.view))


@get(["/scheduler/{role:str}", "/scheduler/{role:str}/{env:str}"])
async def role_jobs(scheduler: Scheduler, role: str, env: str | None = None) -> Template:
    return render(scheduler, "role.html", page=pages.role_page(scheduler.view, role, env))


@get(JOB)
async def job(
    *, scheduler: Scheduler, role: str, env: str, name: str, show: str = "active", page: int = 1,
    in_state: Annotated[str, Parameter(query="state")] = "",
) -> Template:  # fmt: skip
    """The job's tasks, those `show`n (active or finished) in `state` if given."""
    key = job_key(scheduler, role, env, name)
    shown = "finished" if show == "finished" else "active"
    page_of = job_pages.job_page(scheduler.view, key, shown, page, in_state.upper() or None)
    return render(scheduler, "job.html", job=page_of)


@get(JOB + "/jump")
async def jump(role: str, env: str, name: str, instance: str = "") -> Redirect:
    """To an instance's page, from the job page's box."""
    if not is_number(instance.strip()):
        raise InvalidParameterError(f"instance {instance!r} is not a number")
    return Redirect(f"/scheduler/{role}/{env}/{name}/{int(instance)}")


@get(JOB + "/timeline")
async def timeline(scheduler: Scheduler, role: str, env: str, name: str, page: int = 1) -> Template:
    """The job's story, newest first: creates, failures, preemptions, kills and updates."""
    key = job_key(scheduler, role, env, name)
    shown = job_pages.timeline_page(scheduler.view, key, page)
    return render(scheduler, "timeline.html", page=shown)


@get(JOB + "/{instance:int}")
async def instance_history(
    scheduler: Scheduler, role: str, env: str, name: str, instance: int
) -> Template:
    key = job_key(scheduler, role, env, name)
    return render(
        scheduler, "instance.html", page=job_pages.instance_page(scheduler.view, key, instance)
    )


@get(TASK)
async def task(scheduler: Scheduler, role: str, env: str, name: str, task_id: str) -> Template:
    key = job_key(scheduler, role, env, name)
    found = job_pages.task_of(scheduler.view, key, task_id)
    details = problem = None
    try:
        details = await api_tasks.task_details(scheduler, task_id, AGENT_WAIT_S)
    except DaybreakError as error:
        problem = error.message
    return render(
        scheduler,
        "task.html",
        key=key,
        task=scheduler.view.summarize(found),
        details=details,
        problem=problem,
        finished=found.state in TERMINAL_STATES,
        usage_graphs=charts.usage_charts(
            api_tasks.task_usage(scheduler, task_id), scheduler.clock.now()
        ),
    )


@get(TASK + "/browse", opt=access(Access.FILES))
async def browse(
    *, scheduler: Scheduler, role: str, env: str, name: str, task_id: str, path: str = ""
) -> Template:
    key = job_key(scheduler, role, env, name)
    job_pages.task_of(scheduler.view, key, task_id)
    listing = await api_tasks.list_task_files(scheduler, task_id, path)
    parent = "/".join(path.rstrip("/").split("/")[:-1]) if path else None
    return render(scheduler, "browse.html", key=key, listing=listing, parent=parent)


@get(TASK + "/file", opt=access(Access.FILES))
async def file(
    *, scheduler: Scheduler, role: str, env: str, name: str, task_id: str, path: str = "",
    process: str = "", stream: str = "stdout",
) -> Template:  # fmt: skip
    """A file of the task's; or, given `process` (and `stream`), that process's output of its
    latest run."""
    key = job_key(scheduler, role, env, name)
    job_pages.task_of(scheduler.view, key, task_id)
    if process:
        path = await latest_output(scheduler, task_id, process, stream)
    if not path:
        raise InvalidParameterError("name a file with path=, or a process with process=")
    return render(scheduler, "file.html", key=key, task_id=task_id, path=path)


async def latest_output(scheduler: Scheduler, task_id: str, process: str, stream: str) -> str:
    """The path of `process`'s `stream` (stdout or stderr) of its latest run (its first, if
    it has none yet)."""
    if stream not in ("stdout", "stderr"):
        raise InvalidParameterError(f"stream {stream!r} is neither stdout nor stderr")
    try:
        listing = await api_tasks.list_task_files(scheduler, task_id, f".logs/{process}")
        run = listing.latest_run()
    except DaybreakError:
        run = None  # not started yet, or its agent is gone: the page says what it finds
    return process_log(process, 0 if run is None else run, stream)


@get(JOB + "/update/{update_id:str}")
async def update(
    *, scheduler: Scheduler, role: str, env: str, name: str, update_id: str, page: int = 1
) -> Template:
    key = job_key(scheduler, role, env, name)
    shown = update_pages.update_page(scheduler.view, key, update_id, page, scheduler.clock.now())
    return render(scheduler, "update.html", page=shown)


@get("/updates")
async def updates(scheduler: Scheduler) -> Template:
    return render(scheduler, "updates.html", page=update_pages.updates_page(scheduler.view))


@get(["/agents", "/slaves"])
async def agents(scheduler: Scheduler, page: int = 1) -> Template:
    rows = agent_pages.agent_rows(scheduler.view, measured=scheduler.usage.agent)
    paging = pages.Paging.of(len(rows), page)
    return render(scheduler, "agents.html", rows=paging.slice(rows), paging=paging)


@get(["/agents/{agent_id:str}", "/slaves/{agent_id:str}"])
async def agent(scheduler: Scheduler, agent_id: str, page: int = 1) -> Template:
    return render(
        scheduler,
        "agent.html",
        page=agent_pages.agent_page(scheduler.view, agent_id, page, scheduler.usage.agent),
    )


@get("/search")
async def search(scheduler: Scheduler, q: str = "") -> Template:
    """Roles, jobs, hosts and task ids holding `q`; one exact match is opened at once."""
    found = pages.search(scheduler.view, q)
    return render(scheduler, "search.html", found=found)


@get("/utilization")
async def utilization(scheduler: Scheduler) -> Template:
    return render(scheduler, "utilization.html", usage=pages.utilization(scheduler.view))


@get("/quotas")
async def quotas(scheduler: Scheduler) -> Template:
    return render(scheduler, "quotas.html", reports=pages.quota_reports(scheduler.view))


def error_page(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Errors as a page a person reads; 401 keeps its challenge, so a browser asks who you are."""
    if isinstance(error, HTTPException):
        status, message, headers = error.status_code, str(error.detail), error.headers or {}
    elif isinstance(error, DaybreakError):
        status, message, headers = status_of(error), error.message, {}
    else:
        raise error
    if isinstance(error, NotLeaderError):
        return redirect_to_leader(request, error)
    scheduler: Scheduler = request.app.state.role.leading()
    template = render(scheduler, "error.html", status=status, message=message, path=request.url)
    template.status_code = status
    template.headers.update(headers)
    return template


PAGES = (
    root, favicon, home, role_jobs, job, jump, timeline, instance_history, task, browse, file,
    update, updates, agents, agent, search, utilization, quotas,
)  # fmt: skip


def ui_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            *PAGES,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        include_in_schema=False,
        exception_handlers={DaybreakError: error_page, HTTPException: error_page},
    )
