"""`daybreak admin install-units`: systemd units for a scheduler and an agent on a real machine,
each reading its flags from a TOML file (`--config`), with the hardening each can bear."""

from __future__ import annotations

import sys
from pathlib import Path

import click

SCHEDULER_UNIT = """\
[Unit]
Description=Daybreak scheduler
Wants=network-online.target
After=network-online.target postgresql.service

[Service]
Type=exec
User={user}
Group={user}
ExecStart={executable} -m daybreak scheduler --config {config_dir}/scheduler.toml
# A new certificate (--tls-cert) is read again without a restart.
ExecReload=/bin/kill -HUP $MAINPID
# Exit 70: it stopped rather than run ahead of its store; a standby or a restart takes over.
Restart=on-failure
RestartSec=2
StateDirectory=daybreak
WorkingDirectory=/var/lib/daybreak
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""

AGENT_UNIT = """\
[Unit]
Description=Daybreak agent
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
# Root: it runs each task as its role's user and puts tasks in cgroups.
User=root
ExecStart={executable} -m daybreak agent --config {config_dir}/agent.toml
Restart=always
RestartSec=2
# Only the agent is stopped or restarted: its tasks keep running and the next agent re-attaches
# to them, as Aurora's executors outlived a Mesos agent restart.
KillMode=process
Delegate=yes
StateDirectory=daybreak-agent
WorkingDirectory=/var/lib/daybreak-agent
# Tasks need the machine (their users' homes, devices, their own privileges): only what cannot
# hurt them is hardened.
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectClock=yes
LockPersonality=yes
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
"""


@click.command("install-units")
@click.option("--dir", "directory", default="/etc/systemd/system", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where the unit files go.")  # fmt: skip
@click.option("--config-dir", default="/etc/daybreak", show_default=True,
              help="Where the units read scheduler.toml and agent.toml from.")  # fmt: skip
@click.option("--user", default="daybreak", show_default=True,
              help="The account the scheduler runs as (the agent runs as root).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace unit files that exist.")
def admin_install_units(directory: Path, config_dir: str, user: str, force: bool) -> None:
    """Write daybreak-scheduler.service and daybreak-agent.service, each starting this
    installation's daybreak with --config; then `systemctl daemon-reload` and enable them."""
    units = {
        "daybreak-scheduler.service": SCHEDULER_UNIT,
        "daybreak-agent.service": AGENT_UNIT,
    }
    existing = [name for name in units if (directory / name).exists()]
    if existing and not force:
        raise click.ClickException(
            f"{', '.join(str(directory / name) for name in existing)} exist: --force replaces them"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        path = directory / name
        path.write_text(text.format(executable=sys.executable, config_dir=config_dir, user=user))
        click.echo(f"wrote {path}")
    click.echo(
        f"Next: put scheduler.toml and agent.toml in {config_dir} (keys are the flags, e.g. "
        'store = "postgresql://..."), create the user '
        f"{user}, then: systemctl daemon-reload && systemctl enable --now daybreak-scheduler"
    )
