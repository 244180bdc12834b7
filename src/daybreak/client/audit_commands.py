"""`daybreak admin audit`: who asked the scheduler to change what, from where, and when."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from daybreak.client.connect import client_for
from daybreak.client.output import print_json, table
from daybreak.model.audit import AuditList


def _when(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_audit(page: AuditList) -> str:
    if not page.records:
        return "No audit entries."
    rows = [
        (_when(e.at_ms), e.who, e.source or "-", e.status, f"{e.method} {e.path}", e.target or "-")
        for e in (record.entry for record in page.records)
    ]
    text = table(["TIME", "WHO", "FROM", "ANSWER", "REQUEST", "JOB"], rows)
    if page.before is not None:
        text += f"\n(older entries: --before {page.before})"
    return text


@click.command("audit")
@click.argument("cluster")
@click.option("--limit", default=100, show_default=True, help="At most this many entries.")
@click.option("--who", help="Only this user's requests.")
@click.option("--before", type=int, help="Only entries older than this one (to page back).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def admin_audit(
    cluster: str, limit: int, who: str | None, before: int | None, as_json: bool
) -> None:
    """Show the requests that asked CLUSTER's scheduler for a change, newest first: when, who,
    from which address, the answer (2xx: carried out) and the job."""
    params = {"limit": str(limit)}
    if who:
        params["who"] = who
    if before is not None:
        params["before"] = str(before)
    with client_for(cluster) as client:
        page = client.call("GET", "/audit", AuditList, params=params)
    if as_json:
        print_json(page)
        return
    click.echo(describe_audit(page))
