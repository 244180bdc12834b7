"""`daybreak scheduler`: open the store, load the state, serve the API and the web UI until
told to stop. The one place the scheduler and its pages are put together."""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn
import uvloop
from litestar import Litestar

from daybreak.scheduler import app
from daybreak.scheduler.carrier import StoreWriteFailedError
from daybreak.scheduler.security import Security
from daybreak.scheduler.service import DecisionFailedError, Scheduler
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.store import StoreError, open_store
from daybreak.ui.routes import template_config, ui_router

log = logging.getLogger("daybreak.scheduler")

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# The exit status of a scheduler that stopped itself rather than run ahead of its store.
EXIT_STOPPED = 70


def load_security(config: SchedulerConfig) -> Security:
    if config.security_file is not None:
        return Security.load(config.security_file)
    if config.host not in LOOPBACK:
        log.warning(
            "event=no_security host=%s: without --security anyone who reaches this port may "
            "change any job",
            config.host,
        )
    return Security.disabled()


def create_app(scheduler: Scheduler, security: Security) -> Litestar:
    return app.create_app(scheduler, security, [ui_router()], template_config())


async def serve(config: SchedulerConfig, security: Security) -> None:
    """Serve until told to stop; raise if the scheduler stops on its own (a failed write or
    decision), having carried out nothing more."""
    store = await asyncio.to_thread(open_store, config.store_url)
    scheduler = Scheduler(config, store)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(scheduler, security),
            host=config.host,
            port=config.port,
            log_level="warning",
            lifespan="on",
            ws_max_size=64 * 1024 * 1024,
            # Event streams never end on their own: give them this long, then close them.
            timeout_graceful_shutdown=3,
        )
    )
    async with scheduler.running() as scheduler_task, asyncio.TaskGroup() as group:
        # One group owns the server and the scheduler: either ending stops the other.
        group.create_task(_watch(scheduler_task, server))
        group.create_task(_announce_listening(server, scheduler))
        await server.serve()
        if scheduler_task.done() and not scheduler_task.cancelled():
            scheduler_task.result()  # the scheduler's failure, raised
        scheduler_task.cancel()


async def _watch(scheduler_task: asyncio.Task[None], server: uvicorn.Server) -> None:
    """When the scheduler stops on its own, stop serving (its failure is raised by `serve`)."""
    await asyncio.wait([scheduler_task])
    server.should_exit = True
    server.force_exit = True


async def _announce_listening(server: uvicorn.Server, scheduler: Scheduler) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.01)
    scheduler.listening()
    log.info("event=listening host=%s port=%d", server.config.host, server.config.port)


def run_scheduler(config: SchedulerConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A broken security file stops the start, before the port is taken.
    security = load_security(config)
    try:
        uvloop.run(serve(config, security))
    except BaseException as error:
        cause = _stopping_cause(error)
        if cause is None:
            raise
        log.critical("event=scheduler_stopped error=%s", cause)
        sys.exit(EXIT_STOPPED)


def _stopping_cause(error: BaseException) -> BaseException | None:
    """The failure that stopped the scheduler, found inside task groups' exception groups."""
    if isinstance(error, StoreWriteFailedError | DecisionFailedError | StoreError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _stopping_cause(inner)
            if found is not None:
                return found
    return None
