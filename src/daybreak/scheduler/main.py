"""`daybreak scheduler`: open the store, load the state, serve until told to stop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn
import uvloop

from daybreak.scheduler.app import create_app
from daybreak.scheduler.security import Security
from daybreak.scheduler.service import Scheduler
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.store import open_store

log = logging.getLogger("daybreak.scheduler")

LOOPBACK = ("127.0.0.1", "::1", "localhost")


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


async def serve(config: SchedulerConfig, security: Security) -> None:
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
    await server.serve()


def run_scheduler(config: SchedulerConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A broken security file stops the start, before the port is taken.
    security = load_security(config)
    uvloop.run(serve(config, security))
