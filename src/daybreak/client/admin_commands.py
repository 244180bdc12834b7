"""`daybreak admin ...`: what operators do: credentials, quotas, maintenance, backups."""

from __future__ import annotations

import click

from daybreak.scheduler.security import hash_password, hash_token, new_token


@click.group()
def admin() -> None:
    """Operate a cluster: credentials, quotas, host maintenance, backups."""


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
