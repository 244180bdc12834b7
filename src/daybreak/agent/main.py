"""`daybreak agent`: flags in, a running daemon out. Stopping the agent never stops its tasks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from daybreak.agent.daemon import Agent
from daybreak.agent.executor.processes import account_of
from daybreak.agent.machine import default_hostname, parse_pairs, parse_ports, parse_resources
from daybreak.agent.settings import AgentConfig
from daybreak.errors import InvalidParameterError
from daybreak.log_format import configure as configure_logging
from daybreak.model.units import parse_duration_s, parse_size_mb


def build_config(
    *,
    scheduler: tuple[str, ...],
    work_dir: str,
    hostname: str | None,
    address: str | None,
    attributes: str | None,
    resources: str | None,
    ports: str,
    agent_id: str | None,
    credential_file: str | None,
    ca_file: str | None,
    client_cert: str | None,
    client_key: str | None,
    insecure_registries: tuple[str, ...],
    registry_credentials: str | None,
    default_registry: str | None,
    cgroups: bool,
    task_user: str | None,
    task_pids_max: int,
    usage_interval: str,
    sandbox_max_age: str,
    sandbox_max_total: str,
    gc_interval: str,
    image_max_age: str,
    image_max_total: str,
    log_format: str = "text",
) -> AgentConfig:
    directory = Path(work_dir).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    host = hostname or default_hostname()
    given = parse_pairs(attributes or "", "--attributes")
    if (client_cert is None) != (client_key is None):
        raise InvalidParameterError("give both --client-cert and --client-key, or neither")
    credential = None
    if credential_file is not None:
        try:
            credential = Path(credential_file).read_text().strip()
        except OSError as error:
            raise InvalidParameterError(f"--credential-file: {error}") from None
    return AgentConfig(
        scheduler_urls=tuple(scheduler),
        work_dir=directory,
        hostname=host,
        address=address,
        attributes={"host": host, **given},
        resources=parse_resources(resources, directory),
        ports=parse_ports(ports),
        agent_id=agent_id,
        credential=credential,
        ca_file=None if ca_file is None else Path(ca_file),
        client_cert=None if client_cert is None else Path(client_cert),
        client_key=None if client_key is None else Path(client_key),
        insecure_registries=frozenset(insecure_registries),
        default_registry=default_registry,
        registry_credentials=None if registry_credentials is None else Path(registry_credentials),
        cgroups=cgroups,
        task_user=_task_user(task_user),
        task_pids_max=task_pids_max,
        usage_interval_s=parse_duration_s(usage_interval, "--usage-interval"),
        sandbox_max_age_s=parse_duration_s(sandbox_max_age, "--sandbox-max-age"),
        sandbox_max_total_mb=parse_size_mb(sandbox_max_total, "--sandbox-max-total"),
        gc_interval_s=parse_duration_s(gc_interval, "--gc-interval"),
        image_max_age_s=parse_duration_s(image_max_age, "--image-max-age"),
        image_max_total_mb=parse_size_mb(image_max_total, "--image-max-total"),
        log_format=log_format,
    )


def _task_user(name: str | None) -> str | None:
    if name is not None and account_of(name) is None:
        raise InvalidParameterError(f"--task-user {name}: no such user on this machine")
    return name


def run_agent(config: AgentConfig) -> None:
    configure_logging(config.log_format)

    async def serve() -> None:
        agent = Agent(config)
        runner = asyncio.current_task()
        assert runner is not None
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, runner.cancel)
        await agent.run()

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(serve())
