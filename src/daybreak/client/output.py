"""How the CLI prints: aligned columns for people, indented JSON for scripts."""

from __future__ import annotations

from collections.abc import Sequence

import click
import msgspec

from daybreak.model.describe import size_mb

__all__ = ["amount", "print_json", "size_mb", "table"]


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
