"""The API's cron routes: schedule a cron job (create or replace its template), deschedule it,
run it now, and read what is scheduled with its next runs (Aurora's `/cron`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post

from daybreak.core.commands import DescheduleCron, ScheduleCron, StartCron
from daybreak.model.api import API_PREFIX
from daybreak.model.cron import CronJob, CronJobInfo, CronList
from daybreak.model.jobspec import JobSpec
from daybreak.scheduler import views
from daybreak.scheduler.access import Access, access, require_role
from daybreak.scheduler.api_jobs import job_key
from daybreak.scheduler.service import Scheduler

CRON_PATH = API_PREFIX + "/cron/{cluster:str}/{role:str}/{environment:str}/{name:str}"


def _info(scheduler: Scheduler, record: CronJob) -> CronJobInfo:
    return views.cron_info(scheduler.view, record, scheduler.clock.now())


@post(API_PREFIX + "/cron", status_code=200, opt=access(Access.ROLE))
async def schedule_cron(
    request: Request[Any, Any, Any], data: JobSpec, scheduler: Scheduler
) -> CronJobInfo:
    """Schedule a cron job, or replace its template: runs under way are left alone, the next
    run takes the new template."""
    require_role(request, data.key.role)
    return _info(scheduler, await scheduler.ask(ScheduleCron(data)))


@get([API_PREFIX + "/cron", "/cron"])
async def list_cron(scheduler: Scheduler, role: str | None = None) -> CronList:
    """Every cron job (of `role`), with its next runs and its latest runs; also at `/cron`,
    where Aurora served its scheduled cron jobs."""
    jobs = views.cron_jobs(scheduler.view, scheduler.clock.now(), role)
    return CronList(cron_jobs=tuple(jobs))


@get(CRON_PATH)
async def show_cron(
    cluster: str, role: str, environment: str, name: str, scheduler: Scheduler
) -> CronJobInfo:
    """A cron job: its schedule in the scheduler's time zone, next runs, latest runs."""
    key = job_key(cluster, role, environment, name)
    return views.cron_job(scheduler.view, key, scheduler.clock.now())


@delete(CRON_PATH, status_code=200, opt=access(Access.ROLE))
async def deschedule_cron(
    cluster: str, role: str, environment: str, name: str, scheduler: Scheduler
) -> CronJobInfo:
    """Remove the cron job's template: no run starts any more; a run under way continues."""
    key = job_key(cluster, role, environment, name)
    return _info(scheduler, await scheduler.ask(DescheduleCron(key)))


@post(CRON_PATH + "/start", status_code=200, opt=access(Access.ROLE))
async def start_cron(
    cluster: str, role: str, environment: str, name: str, scheduler: Scheduler
) -> CronJobInfo:
    """Run the cron job now, under its collision policy."""
    key = job_key(cluster, role, environment, name)
    return _info(scheduler, await scheduler.ask(StartCron(key)))


ROUTES = (schedule_cron, list_cron, show_cron, deschedule_cron, start_cron)
