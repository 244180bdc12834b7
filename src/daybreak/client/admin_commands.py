"""`daybreak admin ...` and `daybreak quota get`: what operators do: credentials, quotas, host
maintenance, backups, and finding tasks across the cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from daybreak.client.connect import client_for
from daybreak.client.output import amount, print_json, size_mb, table
from daybreak.errors import InvalidParameterError
from daybreak.model.agent import DrainTerms
from daybreak.model.api import (
    AgentList,
    AgentSummary,
    MaintenanceRequest,
    Quota,
    QuotaReport,
    RestoreResult,
    TaskList,
)
from daybreak.model.credentials import hash_password, hash_token, new_token
from daybreak.model.sla import parse_duration

DRAIN_POLL_S = 0.5
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group()
def admin() -> None:
    """Operate a cluster: credentials, quotas, host maintenance, backups, queries."""


@click.group()
def quota() -> None:
    """See a role's quota and what it uses."""


@admin.command("new-token")
def admin_new_token() -> None:
    """Make a bearer token: give the token to its user or agent, put the hash in the
    scheduler's security file."""
    token = new_token()
    click.echo(f"token: {token}")
    click.echo(f'hash:  "{hash_token(token)}"')


@admin.command("hash-password")
@click.password_option("--password", help="The password [asked for].")
def admin_hash_password(password: str) -> None:
    """Hash a password for HTTP basic, for a user's `password` in the security file."""
    click.echo(f'"{hash_password(password)}"')


# Quotas.


def _size(text: str, what: str) -> float:
    """Aurora's quota sizes: `4GB`, `512MiB`; a bare number is MiB."""
    from daybreak.model.units import is_number, parse_size_mb

    return float(text) if is_number(text.replace(".", "", 1)) else parse_size_mb(text, what)


def describe_quota(report: QuotaReport) -> str:
    columns = (report.quota, report.production, report.production_running,
               report.non_production, report.non_production_running)  # fmt: skip
    rows = [
        ["cpu", *(amount(q.cpu) for q in columns)],
        ["ram", *(size_mb(q.ram_mb) for q in columns)],
        ["disk", *(size_mb(q.disk_mb) for q in columns)],
    ]
    headers = ["RESOURCE", "QUOTA", "PRODUCTION REQUESTED", "RUNNING", "OTHER REQUESTED", "RUNNING"]
    return f"Quota of role {report.role}:\n" + table(headers, rows)


@admin.command("set-quota")
@click.argument("cluster")
@click.argument("role")
@click.argument("cpu", type=float)
@click.argument("ram")
@click.argument("disk")
def admin_set_quota(cluster: str, role: str, cpu: float, ram: str, disk: str) -> None:
    """Set ROLE's production quota, e.g. `set-quota devcluster www-data 4 8GiB 20GiB`."""
    wanted = Quota(cpu=cpu, ram_mb=_size(ram, "RAM"), disk_mb=_size(disk, "DISK"))
    with client_for(cluster) as client:
        report = client.call("PUT", f"/quotas/{role}", QuotaReport, wanted)
    click.echo(describe_quota(report))


@quota.command("get")
@click.argument("where", metavar="CLUSTER/ROLE")
@json_option
def quota_get(where: str, as_json: bool) -> None:
    """Show a role's quota and what its production and other tasks use."""
    cluster, _, role = where.partition("/")
    if not role or "/" in role:
        raise InvalidParameterError(f"{where!r}: write CLUSTER/ROLE, e.g. devcluster/www-data")
    with client_for(cluster) as client:
        report = client.call("GET", f"/quotas/{role}", QuotaReport)
    if as_json:
        print_json(report)
        return
    click.echo(describe_quota(report))


# Host maintenance.


def host_names(hosts: str | None, filename: str | None, required: bool = True) -> tuple[str, ...]:
    """Hosts from a comma-separated list and a file of one per line."""
    names: list[str] = []
    if hosts:
        names += hosts.split(",")
    if filename:
        names += Path(filename).read_text().split()
    names = [name.strip() for name in names if name.strip()]
    if not names and required:
        raise click.UsageError("name the hosts with --hosts h1,h2 or --filename FILE")
    return tuple(names)


F = TypeVar("F", bound=Callable[..., Any])


def host_options(command: F) -> F:
    command = click.option("--hosts", help="Comma-separated hosts (hostnames or agent ids).")(
        command
    )
    return click.option(
        "--filename",
        type=click.Path(exists=True, dir_okay=False),
        help="A file of hosts, one per line.",
    )(command)


def describe_hosts(agents: AgentList) -> str:
    rows = [
        [a.hostname, a.agent_id, a.maintenance, "yes" if a.online else "no", a.tasks]
        for a in agents.agents
    ]
    lines = [table(["HOST", "AGENT", "MODE", "ONLINE", "TASKS"], rows)]
    for agent in agents.agents:
        lines += _drain_waits(agent)
    return "\n".join(lines)


def _drain_waits(agent: AgentSummary) -> list[str]:
    if not agent.drain_waits:
        return []
    lines = [f"{agent.hostname}: {len(agent.drain_waits)} task(s) wait for their job's SLA"]
    if agent.drain is not None and not agent.drain.terms.force:
        forced = datetime.fromtimestamp(agent.drain.force_at_ms / 1000, UTC)
        lines[0] += f" (moved regardless from {forced:%Y-%m-%d %H:%M} UTC)"
    lines += [f"  {wait.job}/{wait.instance}: {wait.reason}" for wait in agent.drain_waits]
    return lines


def _set_mode(
    cluster: str, hosts: tuple[str, ...], mode: str, terms: DrainTerms | None = None
) -> AgentList:
    request = MaintenanceRequest(hosts=hosts, mode=mode, drain=terms or DrainTerms())
    with client_for(cluster) as client:
        return client.call("POST", "/maintenance", AgentList, request)


def _duration_s(text: str, flag: str) -> int:
    try:
        return parse_duration(text, flag)
    except InvalidParameterError as error:
        raise click.BadParameter(str(error), param_hint=flag) from None


@admin.command("host-drain")
@click.argument("cluster")
@host_options
@click.option(
    "--default-percentage",
    default=95.0,
    show_default=True,
    type=click.FloatRange(0, 100, min_open=True),
    help="A job without an SLA policy keeps this percentage of its instances up...",
)
@click.option(
    "--default-duration",
    default="30m",
    show_default=True,
    help="...for this long (e.g. 30m, 1h30m).",
)
@click.option(
    "--force-drain-timeout",
    default="7d",
    show_default=True,
    help="After this, the tasks still waiting for their SLA are moved regardless.",
)
@click.option(
    "--force", is_flag=True, help="Move every task at once, ignoring SLA policies: emergencies."
)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for DRAINED.")
def admin_host_drain(
    *, cluster: str, hosts: str | None, filename: str | None, default_percentage: float,
    default_duration: str, force_drain_timeout: str, force: bool, no_wait: bool,
) -> None:  # fmt: skip
    """Move the tasks off hosts and take the hosts out of service (DRAINED once empty). A task
    moves only while its job's SLA policy holds without it (Aurora's sla_host_drain); what
    waits, and why, is printed as it changes."""
    names = host_names(hosts, filename)
    terms = DrainTerms(
        percentage=default_percentage,
        duration_secs=_duration_s(default_duration, "--default-duration"),
        force_after_secs=_duration_s(force_drain_timeout, "--force-drain-timeout"),
        force=force,
    )
    agents = _set_mode(cluster, names, "DRAINING", terms)
    if no_wait:
        click.echo(describe_hosts(agents))
        return
    shown = ""
    with client_for(cluster) as client:
        while True:
            waiting = "\n".join(line for a in agents.agents for line in _drain_waits(a))
            if waiting and waiting != shown:
                click.echo(waiting)
                shown = waiting
            if all(a.maintenance == "DRAINED" for a in agents.agents):
                break
            time.sleep(DRAIN_POLL_S)
            agents = client.call("GET", "/agents?hosts=" + ",".join(names), AgentList)
    click.echo(describe_hosts(agents))


admin.add_command(admin_host_drain, "sla-host-drain")  # Aurora's name for the SLA-aware drain


@admin.command("host-deactivate")
@click.argument("cluster")
@host_options
def admin_host_deactivate(cluster: str, hosts: str | None, filename: str | None) -> None:
    """Schedule maintenance: hosts stay in use but are chosen last (SCHEDULED)."""
    click.echo(describe_hosts(_set_mode(cluster, host_names(hosts, filename), "SCHEDULED")))


@admin.command("host-activate")
@click.argument("cluster")
@host_options
def admin_host_activate(cluster: str, hosts: str | None, filename: str | None) -> None:
    """Return hosts to service (NONE) after maintenance."""
    click.echo(describe_hosts(_set_mode(cluster, host_names(hosts, filename), "NONE")))


@admin.command("host-status")
@click.argument("cluster")
@host_options
@json_option
def admin_host_status(cluster: str, hosts: str | None, filename: str | None, as_json: bool) -> None:
    """Show hosts' maintenance modes (NONE, SCHEDULED, DRAINING, DRAINED)."""
    path = "/agents" + (
        "" if not (hosts or filename) else "?hosts=" + ",".join(host_names(hosts, filename))
    )
    with client_for(cluster) as client:
        agents = client.call("GET", path, AgentList)
    if as_json:
        print_json(agents)
        return
    click.echo(describe_hosts(agents))


# Backup and restore.


def _cluster_and_file(arguments: Sequence[str]) -> tuple[str, Path]:
    if len(arguments) == 1:
        return "devcluster", Path(arguments[0])
    if len(arguments) == 2:
        return arguments[0], Path(arguments[1])
    raise click.UsageError("give [CLUSTER] FILE (the cluster defaults to devcluster)")


@admin.command("backup")
@click.argument("arguments", nargs=-1, metavar="[CLUSTER] FILE")
def admin_backup(arguments: Sequence[str]) -> None:
    """Save the cluster's whole state, consistent, to FILE."""
    cluster, path = _cluster_and_file(arguments)
    with client_for(cluster) as client:
        data = client.call("GET", "/backup", bytes, raw=True)
    path.write_bytes(data)
    click.echo(f"Saved the state of {cluster} to {path} ({len(data)} bytes).")


@admin.command("restore")
@click.argument("arguments", nargs=-1, metavar="[CLUSTER] FILE")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def admin_restore(arguments: Sequence[str], yes: bool) -> None:
    """Replace the cluster's whole state with a backup's; agents reconnect and are reconciled
    (tasks the backup does not know are killed)."""
    cluster, path = _cluster_and_file(arguments)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidParameterError(f"cannot read the backup {path}: {error}") from error
    if not yes:
        click.confirm(f"Replace the whole state of {cluster} with {path}?", abort=True)
    with client_for(cluster) as client:
        result = client.call("POST", "/restore", RestoreResult, data, raw=True)
    click.echo(f"Restored {cluster} from {path}: {result.jobs} job(s), {result.tasks} task(s).")


# Finding tasks.

DEFAULT_FORMAT = "%role%/%name%/%instanceId% %status%"


@admin.command("query")
@click.argument("cluster")
@click.argument("role", required=False)
@click.argument("name", required=False)
@click.option("--environment", help="Only this environment.")
@click.option("--states", default="RUNNING", show_default=True, help="Comma-separated task states.")
@click.option("--shards", "instances", help="Only these instances, e.g. 0-3,7.")
@click.option("--limit", default=1000, show_default=True, help="At most this many tasks.")
@click.option(
    "--listformat",
    default=DEFAULT_FORMAT,
    show_default=True,
    help="%role% %environment% %name% %instanceId% %status% %host% %taskId%.",
)
@json_option
def admin_query(
    *, cluster: str, role: str | None, name: str | None, environment: str | None, states: str,
    instances: str | None, limit: int, listformat: str, as_json: bool,
) -> None:  # fmt: skip
    """Find tasks across the cluster, by role, job name, state and instance."""
    params = {"role": role, "name": name, "environment": environment, "states": states,
              "instances": instances, "limit": str(limit)}  # fmt: skip
    with client_for(cluster) as client:
        found = client.call(
            "GET", "/tasks", TaskList, params={k: v for k, v in params.items() if v}
        )
    if as_json:
        print_json(found)
        return
    for task in found.tasks:
        fields = {
            "role": task.job.role,
            "environment": task.job.environment,
            "name": task.job.name,
            "instanceId": str(task.instance),
            "status": task.state.name,
            "host": task.hostname or "-",
            "taskId": task.task_id,
        }
        line = listformat
        for field, value in fields.items():
            line = line.replace(f"%{field}%", value)
        click.echo(line)
    if found.truncated:
        click.echo(f"(only the first {limit}; --limit shows more)", err=True)


@admin.command("schedulers")
@click.argument("cluster")
def admin_schedulers(cluster: str) -> None:
    """List CLUSTER's schedulers (from the clusters file) and what each says it is: the leader
    (with its epoch), a standby (and whom it follows), or unreachable."""
    import httpx

    from daybreak.client.clusters import find_cluster

    for url in find_cluster(cluster).scheduler_urls:
        try:
            answer = httpx.get(f"{url}/health", timeout=5, trust_env=False).text.strip()
        except httpx.HTTPError as error:
            answer = f"unreachable ({error.__class__.__name__})"
        click.echo(f"{url}  {answer.removeprefix('OK ')}")
