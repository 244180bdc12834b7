"""`daybreak`: the command line people use (`daybreak.client`, which speaks only the API) and
the daemons it starts (`daybreak.daemons`: scheduler, agent, up and down)."""

from __future__ import annotations

from collections.abc import Sequence

from daybreak import daemons
from daybreak.client import cli

for _command in daemons.COMMANDS:
    cli.cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(argv)
