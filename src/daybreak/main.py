"""`daybreak`: the command line people use (`daybreak.client`, which speaks only the API) and
the daemons it starts (`daybreak.daemons`: scheduler and agent; `daybreak.devcluster_commands`:
up and down)."""

from __future__ import annotations

from collections.abc import Sequence

from daybreak import daemons, devcluster_commands
from daybreak.client import cli

for _command in (*daemons.COMMANDS, *devcluster_commands.COMMANDS):
    cli.cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(argv)
