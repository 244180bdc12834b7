"""`daybreak admin new-ca` and `new-cert`: a small certificate authority for a cluster that has
none, so that the scheduler serves HTTPS and agents and people verify it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click


@click.command("new-ca")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="daybreak cluster CA", show_default=True, help="Its name.")
@click.option("--days", default=3650, show_default=True, help="How long it is valid.")
def admin_new_ca(directory: Path, name: str, days: int) -> None:
    """Make a CA in DIRECTORY: ca.pem (give it to agents and clients) and ca-key.pem (keep it
    where only whoever makes certificates can read it)."""
    from daybreak.certs import CA_KEY, new_ca

    certificate = new_ca(directory, name, days)
    click.echo(f"CA certificate: {certificate}")
    click.echo(f"CA key:         {directory / CA_KEY} (readable by its owner only)")


@click.command("new-cert")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ca", "ca_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The CA's directory (from new-ca).")  # fmt: skip
@click.option("--name", "names", multiple=True, required=True, metavar="HOST",
              help="A host name or address the scheduler is reached by (repeat it); for "
              "--client, who holds it.")  # fmt: skip
@click.option("--client", is_flag=True, help="A client certificate (an agent's, a person's).")
@click.option("--days", default=397, show_default=True, help="How long it is valid.")
def admin_new_cert(ca_dir: Path, out: Path, names: Sequence[str], client: bool, days: int) -> None:
    """Make OUT.pem and OUT-key.pem, signed by the CA: a scheduler's server certificate (for
    `daybreak scheduler --tls-cert --tls-key`), or with --client a client's."""
    from daybreak.certs import new_cert

    cert_path, key_path = new_cert(ca_dir, out, names, client=client, days=days)
    click.echo(f"certificate: {cert_path}")
    click.echo(f"key:         {key_path} (readable by its owner only)")


CERT_ADMIN_COMMANDS = (admin_new_ca, admin_new_cert)
