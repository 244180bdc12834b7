"""How the CLI prints: aligned columns for people, indented JSON for scripts."""

from __future__ import annotations

from collections.abc import Sequence

import click
import msgspec


def print_json(value: object) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell, as kubectl and Aurora's client print them."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def amount(value: float) -> str:
    return f"{value:g}"


def size_mb(value: float) -> str:
    """MiB, shown in the largest unit that keeps it readable: 512 MiB, 4 GiB, 1.5 TiB."""
    for unit, scale in (("TiB", 1024**2), ("GiB", 1024)):
        if value >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value:.4g} MiB"
