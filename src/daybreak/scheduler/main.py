"""`daybreak scheduler`: open the store, load the state, serve until told to stop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn
import uvloop

from daybreak.scheduler.app import create_app
from daybreak.scheduler.service import Scheduler
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.store import open_store


async def serve(config: SchedulerConfig) -> None:
    store = await asyncio.to_thread(open_store, config.store_url)
    scheduler = Scheduler(config, store)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(scheduler),
            host=config.host,
            port=config.port,
            log_level="warning",
            lifespan="on",
            ws_max_size=64 * 1024 * 1024,
        )
    )
    await server.serve()


def run_scheduler(config: SchedulerConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvloop.run(serve(config))
