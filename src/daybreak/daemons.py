"""The long-running parts: `daybreak agent` and `daybreak scheduler` (`daybreak up`/`down`, a
whole local cluster, are `daybreak.devcluster_commands`)."""

from __future__ import annotations

from typing import Any

import click

from daybreak.config_file import config_file_option
from daybreak.model.agent_protocol import DEFAULT_AGENT_TIMEOUT_MS
from daybreak.model.validate import ENVIRONMENTS

LOG_FORMAT_OPTION = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="key=value lines, or a JSON object a line (the scheduler adds one per task transition).",
)


@click.command("agent")
@config_file_option
@LOG_FORMAT_OPTION
@click.option(
    "--scheduler",
    required=True,
    multiple=True,
    metavar="URL",
    help="A scheduler, e.g. http://s1:8081; repeat it for each scheduler of the cluster.",
)
@click.option(
    "--work-dir",
    default="./daybreak-agent",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where sandboxes, checkpoints and unacknowledged status updates live.",
)
@click.option("--hostname", help="The name tasks see as {{mesos.hostname}} [machine's].")
@click.option(
    "--address",
    help="Where people reach this machine: `task run` and `task ssh` go there by ssh "
    "[the machine's fully qualified name].",
)
@click.option("--attributes", metavar="NAME=VALUE,...", help="e.g. rack=r1,zone=a (host is added).")
@click.option(
    "--resources",
    metavar="cpu=N,ram=SIZE,disk=SIZE,gpu=N",
    help="What to offer; what is left out is detected from the machine.",
)
@click.option("--ports", default="31000-32000", show_default=True, help="Ports tasks may get.")
@click.option("--agent-id", help="A fixed id [generated once and kept in the work dir].")
@click.option(
    "--credential-file",
    type=click.Path(dir_okay=False),
    help="File holding the agent's token for the scheduler.",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False),
    help="CA certificate (PEM) an https:// scheduler is verified against [the system's].",
)
@click.option(
    "--client-cert",
    type=click.Path(dir_okay=False),
    help="Show the scheduler this certificate (PEM) instead of a token: mutual TLS, on the "
    "scheduler's --agent-port.",
)
@click.option("--client-key", type=click.Path(dir_okay=False), help="Its key (PEM).")
@click.option(
    "--insecure-registry",
    "insecure_registries",
    multiple=True,
    metavar="HOST:PORT",
    help="A registry to pull images from over plain HTTP; repeat it for each.",
)
@click.option(
    "--default-registry",
    metavar="HOST:PORT",
    help="Pull image names that name no registry (debian:stable-slim) from this one, a mirror "
    "of Docker Hub [Docker Hub].",
)
@click.option(
    "--registry-credentials",
    type=click.Path(dir_okay=False, exists=True),
    help="Registries' credentials, as `skopeo login` writes them (containers-auth.json).",
)
@click.option(
    "--cgroups/--no-cgroups",
    default=True,
    show_default=True,
    help="Limit tasks with cgroups where the machine allows (else measure and enforce).",
)
@click.option(
    "--task-user",
    help="Run the tasks of roles with no Unix account on this machine as this user (for "
    "example nobody). Without it, such tasks are refused when the agent runs as root; tasks "
    "run as root only when named here.",
)
@click.option("--task-pids-max", default=4096, show_default=True, help="Processes per task.")
@click.option(
    "--usage-interval", default="5s", show_default=True, help="How often usage is measured."
)
@click.option(
    "--sandbox-max-age",
    default="7d",
    show_default=True,
    help="Finished tasks' sandboxes older than this are removed.",
)
@click.option(
    "--sandbox-max-total",
    default="20GiB",
    show_default=True,
    help="Finished tasks' sandboxes are removed, oldest first, past this total size.",
)
@click.option(
    "--image-max-age",
    default="7d",
    show_default=True,
    help="Images no task runs from are removed this long after their last launch.",
)
@click.option(
    "--image-max-total",
    default="20GiB",
    show_default=True,
    help="Images no task runs from are removed, least recently launched first, past this size.",
)
@click.option(
    "--gc-interval",
    default="60s",
    show_default=True,
    help="How often sandboxes and images are swept.",
)
def agent_command(**options: Any) -> None:
    """Run the node agent: offer this machine, run tasks in sandboxes, report every change."""
    from daybreak.agent.main import build_config, run_agent

    run_agent(build_config(**options))


@click.command("scheduler")
@config_file_option
@LOG_FORMAT_OPTION
@click.option(
    "--store",
    "store_url",
    default="sqlite:///.daybreak/scheduler.db",
    show_default=True,
    help="sqlite:///PATH (embedded) or postgresql://USER@HOST:PORT/DB.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, help="Port of the API and the UI.")
@click.option("--cluster", default="devcluster", show_default=True, help="This cluster's name.")
@click.option(
    "--heartbeat-interval", default="1s", show_default=True, help="How often agents heartbeat."
)
@click.option(
    "--agent-timeout",
    default=f"{DEFAULT_AGENT_TIMEOUT_MS // 1000}s",
    show_default=True,
    help="An agent silent this long has its tasks LOST and placed elsewhere.",
)
@click.option(
    "--advertise-url",
    metavar="URL",
    help="How agents, clients and other schedulers reach this one (standbys redirect to the "
    "leader's) [http://HOST:PORT].",
)
@click.option(
    "--heartbeat-budget",
    default=200.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Heartbeats a second the whole fleet may send: a larger fleet is told to beat less "
    "often than --heartbeat-interval, and its timeout grows to three intervals.",
)
@click.option(
    "--disruption-share",
    default=0.3,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="While more than this share of agents (and more than 3) cannot be reached at once, "
    "none is given up: the cause is more likely the scheduler's side.",
)
@click.option(
    "--flapping-threshold",
    default="5m",
    show_default=True,
    help="A task ending this soon after it started is flapping: it waits to be rescheduled.",
)
@click.option(
    "--initial-flapping-delay",
    default="30s",
    show_default=True,
    help="A flapping task's first wait.",
)
@click.option(
    "--max-flapping-delay",
    default="5m",
    show_default=True,
    help="The longest wait (each flap doubles it).",
)
@click.option(
    "--preemption-delay",
    default="3m",
    show_default=True,
    help="How long a task must be pending before it may preempt others.",
)
@click.option(
    "--max-instances-per-job",
    default=4000,
    show_default=True,
    type=click.IntRange(1),
    help="The most instances one job may have (Aurora's -max_tasks_per_job).",
)
@click.option(
    "--placements-per-round",
    default=2000,
    show_default=True,
    type=click.IntRange(1),
    help="The most tasks one scheduling round places; the next round follows at once "
    "(Aurora's -max_tasks_per_schedule_attempt).",
)
@click.option(
    "--allowed-job-environments",
    default=ENVIRONMENTS,
    show_default=True,
    help="A regular expression the environment of every job must match (Aurora's "
    "-allowed_job_environments).",
)
@click.option(
    "--cron-timezone",
    default="UTC",
    show_default=True,
    help="The time zone cron schedules are read in (an IANA name: Europe/Berlin); Aurora's "
    "-cron_timezone.",
)
@click.option(
    "--cron-start-deadline",
    default="10m",
    show_default=True,
    help="A cron trigger missed while no scheduler led still runs on takeover if it is "
    "younger than this (once); an older one is recorded as skipped.",
)
@click.option(
    "--min-required-instances-for-sla-check",
    "sla_min_instances",
    default=20,
    show_default=True,
    type=click.IntRange(0),
    help="A drain checks the SLA of jobs with at least this many active instances (Aurora's "
    "-min_required_instances_for_sla_check).",
)
@click.option(
    "--sla-aware-kill-non-prod",
    is_flag=True,
    help="A drain checks the SLA of non-production jobs too (Aurora's -sla_aware_kill_non_prod).",
)
@click.option(
    "--host-maintenance-polling-interval",
    default="1m",
    show_default=True,
    help="A job's SLA coordinator that said no is asked again after this (Aurora's "
    "-host_maintenance_polling_interval).",
)
@click.option(
    "--sla-coordinator-timeout",
    default="1m",
    show_default=True,
    help="How long a job's SLA coordinator has to answer (Aurora's -sla_coordinator_timeout).",
)
@click.option(
    "--usage-history",
    default="3h",
    show_default=True,
    help="How far back each task's cpu and memory graph goes (kept in memory).",
)
@click.option(
    "--usage-history-step",
    default="1m",
    show_default=True,
    help="One point of each task's usage graph per this much time.",
)
@click.option(
    "--audit-retention",
    default="90d",
    show_default=True,
    help="How long the audit log (daybreak admin audit) keeps each entry.",
)
@click.option(
    "--workload-credential-ttl",
    default="15m",
    show_default=True,
    help="How long the credential each task gets to call the API as its role lasts; its "
    "agent is sent a fresh one every third of that.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True),
    help="Serve HTTPS with this certificate (PEM, chain after it); read again on SIGHUP.",
)
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="Its key (PEM).")
@click.option(
    "--agent-port",
    type=click.IntRange(1, 65535),
    help="Serve agents that show a client certificate (mutual TLS) on this port too; they need "
    "no token there. Needs --agent-ca and --tls-cert.",
)
@click.option(
    "--agent-ca",
    type=click.Path(dir_okay=False, exists=True),
    help="The CA (PEM) whose client certificates --agent-port takes.",
)
@click.option(
    "--rate-limit",
    default=100.0,
    show_default=True,
    help="Requests a second each client (address) may make, twice that at once; beyond it, "
    "429 with Retry-After. 0: no limit.",
)
@click.option(
    "--max-requests-per-client",
    type=click.IntRange(min=0),
    default=64,
    show_default=True,
    help="Requests of one client (address) answered at once, open event streams included; "
    "beyond it, 503 with Retry-After. 0: no limit.",
)
@click.option(
    "--plain-http",
    is_flag=True,
    help="Serve plain HTTP on an address other than loopback (without TLS, tokens and "
    "passwords cross the network readable).",
)
@click.option(
    "--security",
    "security_file",
    type=click.Path(dir_okay=False, exists=True),
    help="TOML file of users, roles, admins and agent tokens [none: every call allowed].",
)
def scheduler_command(
    *,
    store_url: str,
    host: str,
    port: int,
    cluster: str,
    heartbeat_interval: str,
    agent_timeout: str,
    advertise_url: str | None,
    heartbeat_budget: float,
    disruption_share: float,
    flapping_threshold: str,
    initial_flapping_delay: str,
    max_flapping_delay: str,
    preemption_delay: str,
    max_instances_per_job: int,
    placements_per_round: int,
    allowed_job_environments: str,
    cron_timezone: str,
    cron_start_deadline: str,
    sla_min_instances: int,
    sla_aware_kill_non_prod: bool,
    host_maintenance_polling_interval: str,
    sla_coordinator_timeout: str,
    usage_history: str,
    usage_history_step: str,
    audit_retention: str,
    workload_credential_ttl: str,
    log_format: str,
    tls_cert: str | None,
    tls_key: str | None,
    agent_port: int | None,
    agent_ca: str | None,
    rate_limit: float,
    max_requests_per_client: int,
    plain_http: bool,
    security_file: str | None,
) -> None:
    """Run the scheduler: the store, the API, and the decisions."""
    import re
    from pathlib import Path
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from daybreak.core.settings import Settings
    from daybreak.core.sla import SlaRules
    from daybreak.core.throttle import FlappingPolicy
    from daybreak.model.units import parse_duration_s

    def ms(text: str, flag: str) -> int:
        return round(parse_duration_s(text, flag) * 1000)

    try:
        re.compile(allowed_job_environments)
    except re.error as error:
        raise click.BadParameter(
            f"{allowed_job_environments!r} is not a regular expression: {error}",
            param_hint="--allowed-job-environments",
        ) from None
    try:
        cron_zone = ZoneInfo(cron_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{cron_timezone!r} is not a time zone this machine knows (an IANA name such as "
            "UTC or Europe/Berlin)",
            param_hint="--cron-timezone",
        ) from None

    core = Settings(
        flapping=FlappingPolicy(
            threshold_ms=ms(flapping_threshold, "--flapping-threshold"),
            initial_ms=ms(initial_flapping_delay, "--initial-flapping-delay"),
            maximum_ms=ms(max_flapping_delay, "--max-flapping-delay"),
        ),
        preemption_delay_ms=ms(preemption_delay, "--preemption-delay"),
        max_instances_per_job=max_instances_per_job,
        allowed_job_environments=allowed_job_environments,
        placements_per_round=placements_per_round,
        cron_zone=cron_zone,
        cron_start_deadline_ms=ms(cron_start_deadline, "--cron-start-deadline"),
        sla_rules=SlaRules(sla_min_instances, sla_aware_kill_non_prod),
        coordinator_retry_ms=ms(
            host_maintenance_polling_interval, "--host-maintenance-polling-interval"
        ),
    )
    from daybreak.scheduler.settings import SchedulerConfig
    from daybreak.server import LOOPBACK, run_scheduler

    if (tls_cert is None) != (tls_key is None):
        raise click.BadParameter("give both --tls-cert and --tls-key, or neither",
                                 param_hint="--tls-cert")  # fmt: skip
    if (agent_port is None) != (agent_ca is None) or (agent_port and tls_cert is None):
        raise click.BadParameter("mutual TLS for agents takes --agent-port, --agent-ca and "
                                 "--tls-cert together", param_hint="--agent-port")  # fmt: skip
    if tls_cert is None and not plain_http and host not in LOOPBACK:
        raise click.BadParameter(
            f"{host} is reachable from other machines: serve HTTPS (--tls-cert and --tls-key; "
            "`daybreak admin new-ca` and `new-cert` make them), or say --plain-http",
            param_hint="--host",
        )
    usage_step_ms = ms(usage_history_step, "--usage-history-step")
    credential_ttl_ms = ms(workload_credential_ttl, "--workload-credential-ttl")
    for value, flag in ((usage_step_ms, "--usage-history-step"),
                        (credential_ttl_ms, "--workload-credential-ttl")):  # fmt: skip
        if value <= 0:
            raise click.BadParameter("must be longer than 0", param_hint=flag)

    run_scheduler(
        SchedulerConfig(
            store_url=store_url,
            host=host,
            port=port,
            cluster=cluster,
            heartbeat_interval_ms=ms(heartbeat_interval, "--heartbeat-interval"),
            agent_timeout_ms=ms(agent_timeout, "--agent-timeout"),
            disruption_share=disruption_share,
            heartbeat_budget_per_s=heartbeat_budget,
            advertised_url=advertise_url,
            security_file=None if security_file is None else Path(security_file),
            coordinator_timeout_s=parse_duration_s(
                sla_coordinator_timeout, "--sla-coordinator-timeout"
            ),
            usage_window_ms=ms(usage_history, "--usage-history"),
            usage_step_ms=usage_step_ms,
            audit_retention_ms=ms(audit_retention, "--audit-retention"),
            workload_credential_ttl_ms=credential_ttl_ms,
            rate_limit_per_s=rate_limit,
            max_requests_per_client=max_requests_per_client,
            log_format=log_format,
            tls_cert=None if tls_cert is None else Path(tls_cert),
            tls_key=None if tls_key is None else Path(tls_key),
            agent_port=agent_port,
            agent_ca=None if agent_ca is None else Path(agent_ca),
            core=core,
        )
    )


COMMANDS = (agent_command, scheduler_command)
