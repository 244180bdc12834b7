"""`daybreak scheduler`: open the store, load the state, serve the API and the web UI until
told to stop. The one place the scheduler and its pages are put together."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Literal

import uvicorn
import uvloop
from litestar import Litestar

from daybreak import log_format
from daybreak.scheduler import app
from daybreak.scheduler.carrier import StoreWriteFailedError
from daybreak.scheduler.leadership import (
    Leadership,
    LeadershipLostError,
    SoleLeadership,
)
from daybreak.scheduler.rate_limit import InFlight, RateLimit
from daybreak.scheduler.role import Role
from daybreak.scheduler.security import Security
from daybreak.scheduler.service import DecisionFailedError, Scheduler
from daybreak.scheduler.settings import SchedulerConfig
from daybreak.store import Store, StoreError, open_store
from daybreak.store.leadership import DeposedError
from daybreak.tls import ServerContext, TlsSetupError
from daybreak.ui.routes import template_config, ui_router

log = logging.getLogger("daybreak.scheduler")

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# The exit status of a scheduler that stopped itself rather than run ahead of its store.
EXIT_STOPPED = 70


def load_security(config: SchedulerConfig) -> Security:
    if config.security_file is not None:
        security = Security.load(config.security_file)
        security.certified_agents_port = config.agent_port
        return security
    if config.host not in LOOPBACK:
        log.warning(
            "event=no_security host=%s: without --security anyone who reaches this port may "
            "change any job",
            config.host,
        )
    return Security.disabled()


def create_app(role: Role, security: Security, config: SchedulerConfig) -> Litestar:
    rate, at_once = config.rate_limit_per_s, config.max_requests_per_client
    limit = None if rate <= 0 else RateLimit(rate, burst=2 * rate)
    in_flight = None if at_once <= 0 else InFlight(at_once)
    return app.create_app(role, security, [ui_router()], template_config(),
                          rate_limit=limit, in_flight=in_flight)  # fmt: skip


def leadership_for(config: SchedulerConfig, store: Store, address: str) -> Leadership:
    if config.store_url.startswith(("postgresql://", "postgres://")):
        from daybreak.scheduler.leadership_postgres import PostgresLeadership  # noqa: PLC0415

        return PostgresLeadership(store, config.store_url, address)
    return SoleLeadership(store, address)


def _http_server(
    asgi: Litestar,
    config: SchedulerConfig,
    port: int,
    tls: ServerContext | None,
    lifespan: Literal["on", "off"],
) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            asgi,
            ssl_context_factory=None if tls is None else lambda _config, _default: tls.context,
            host=config.host,
            port=port,
            log_level="warning",
            # In JSON, uvicorn's own lines go through the same (root) handler as ours.
            log_config=None if config.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
            lifespan=lifespan,
            ws_max_size=64 * 1024 * 1024,
            # An agent's silence is found by its heartbeats (see `daybreak.core.agents`); pings
            # from here to thousands of agents would cost more than all their heartbeats.
            ws_ping_interval=None,
            # Agents' messages are small and many: deflating them costs more than it saves.
            ws_per_message_deflate=False,
            # Event streams never end on their own: give them this long, then close them.
            timeout_graceful_shutdown=3,
        )
    )


async def serve(
    config: SchedulerConfig,
    security: Security,
    tls: ServerContext | None = None,
    agents_tls: ServerContext | None = None,
) -> None:
    """Serve until told to stop: stand by until this scheduler leads, lead until it does not
    (then stand by again). Raise if a term ends on a failed write or decision that is not a
    loss of leadership: the process then stops, having carried out nothing more. With
    `agents_tls`, agents with a certificate from the agents' CA are served on a port of their
    own (`--agent-port`)."""
    _reload_on_sighup([context for context in (tls, agents_tls) if context is not None])
    store = await asyncio.to_thread(open_store, config.store_url)
    leadership = leadership_for(config, store, config.address)
    role = Role(config.address, leadership)
    asgi = create_app(role, security, config)
    server = _http_server(asgi, config, config.port, tls, lifespan="on")
    # The same application: its startup and shutdown are the main server's.
    agents_server = None
    if agents_tls is not None and config.agent_port is not None:
        agents_server = _http_server(asgi, config, config.agent_port, agents_tls, lifespan="off")
    # If this scheduler can lead at once (on SQLite it always can), its state is loaded before
    # the port opens: no one is told "no leader yet" by a scheduler about to lead.
    epoch = await leadership.acquire_now()
    first = None if epoch is None else await _new_term(config, store, role, epoch)
    try:
        async with asyncio.TaskGroup() as group:
            serving = group.create_task(server.serve(), name="http")
            if agents_server is not None:
                group.create_task(agents_server.serve(), name="agents-https")
            leading = group.create_task(
                _lead(
                    config,
                    store=store,
                    leadership=leadership,
                    role=role,
                    server=server,
                    first=first,
                ),
                name="lead",
            )
            await serving
            leading.cancel()  # told to stop: end the term, or the standing by
            if agents_server is not None:
                agents_server.should_exit = True
    finally:
        await leadership.release()
        await asyncio.to_thread(store.close)


def _reload_on_sighup(contexts: list[ServerContext]) -> None:
    """SIGHUP reads the certificate and key again (a renewed certificate, no restart)."""

    def reload() -> None:
        for tls in contexts:
            try:
                tls.reload()
            except TlsSetupError as error:  # the old certificate stays in use
                log.error("event=tls_reload_failed error=%s", error)
                continue
            log.info("event=tls_reloaded cert=%s", tls.cert_file)

    if contexts:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


async def _new_term(config: SchedulerConfig, store: Store, role: Role, epoch: int) -> Scheduler:
    scheduler = Scheduler(config, store, epoch=epoch)
    await scheduler.load()
    role.scheduler = scheduler
    role.terms += 1
    return scheduler


async def _lead(
    config: SchedulerConfig,
    *,
    store: Store,
    leadership: Leadership,
    role: Role,
    server: uvicorn.Server,
    first: Scheduler | None,
) -> None:
    while not server.started:
        await asyncio.sleep(0.01)
    log.info("event=listening host=%s port=%d", config.host, config.port)
    try:
        scheduler = first
        while True:
            if scheduler is None:
                epoch = await leadership.acquire()  # standing by until then
                scheduler = await _new_term(config, store, role, epoch)
            await _term(scheduler, leadership, role)
            scheduler = None
    finally:
        server.should_exit = True


async def _term(scheduler: Scheduler, leadership: Leadership, role: Role) -> None:
    """Lead (with `scheduler`, loaded) until leadership is lost (then return, to stand by)
    or the scheduler stops on a failure (then raise)."""
    epoch = scheduler.epoch
    async with scheduler.running() as term:
        # Owned here: its end is read below, whatever it was.
        assert epoch is not None  # a scheduler that leads has one
        holding = asyncio.create_task(leadership.hold(epoch), name="hold")
        scheduler.listening()
        cause: BaseException | None = None
        try:
            await asyncio.wait({term, holding}, return_when=asyncio.FIRST_COMPLETED)
            cause = _why_stand_by(holding, term, leadership)
            if cause is not None:
                # Another scheduler leads, or may: stop acting at once, before anything else
                # runs.
                scheduler.carrier.stop(LeadershipLostError(f"epoch {epoch} ended: {cause}"))
        finally:
            role.scheduler = None  # nothing more is asked of this term
            if not holding.done():
                holding.cancel()
            await asyncio.gather(holding, return_exceptions=True)
        if cause is not None:
            log.warning("event=stepped_down epoch=%d cause=%s", epoch, cause)
            await leadership.release()
            return
        failure = _failure(term)
        if failure is not None:
            raise failure


def _why_stand_by(
    holding: asyncio.Task[None], term: asyncio.Task[None], leadership: Leadership
) -> BaseException | None:
    """Why the term ends in standing by (rather than stopping the process), if it does: the
    lease was lost, the epoch was taken over, or a write failed where a standby can lead."""
    if holding.done() and holding.exception() is not None:
        return holding.exception()
    if _deposed(term) or (_store_failed(term) and leadership.has_standbys):
        return term.exception()
    return None


def _failure(term: asyncio.Task[None]) -> BaseException | None:
    """How the term's scheduler stopped on its own, if it did."""
    return None if not term.done() or term.cancelled() else term.exception()


def _store_failed(term: asyncio.Task[None]) -> bool:
    return isinstance(_failure(term), StoreWriteFailedError)


def _deposed(term: asyncio.Task[None]) -> bool:
    """Whether the term ended because its epoch was taken over."""
    error = _failure(term)
    while error is not None:
        if isinstance(error, DeposedError):
            return True
        error = error.__cause__
    return False


def run_scheduler(config: SchedulerConfig) -> None:
    log_format.configure(config.log_format)
    # A broken security file or certificate stops the start, before the port is taken.
    security = load_security(config)
    tls = None
    agents_tls = None
    if config.tls_cert is not None and config.tls_key is not None:
        tls = ServerContext(config.tls_cert, config.tls_key)
        if config.agent_ca is not None:
            agents_tls = ServerContext(config.tls_cert, config.tls_key, config.agent_ca)
    try:
        uvloop.run(serve(config, security, tls, agents_tls))
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
