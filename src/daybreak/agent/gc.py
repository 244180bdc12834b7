"""What to remove of what is no longer used (finished tasks' directories, images no task runs
from): past its age, then oldest first for space."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unused:
    name: str  # a task's id, an image's digest
    since_ms: int  # when it was last used: a task's end, an image's last launch
    size_bytes: int


def to_remove(
    unused: list[Unused], now_ms: int, max_age_ms: int, max_total_bytes: int
) -> list[str]:
    """Names of what goes, oldest first: everything unused for longer than `max_age_ms`, and
    then the oldest of the rest until what remains fits in `max_total_bytes`."""
    oldest_first = sorted(unused, key=lambda item: (item.since_ms, item.name))
    remove: list[str] = []
    kept_bytes = sum(item.size_bytes for item in oldest_first)
    for item in oldest_first:
        if now_ms - item.since_ms > max_age_ms or kept_bytes > max_total_bytes:
            remove.append(item.name)
            kept_bytes -= item.size_bytes
    return remove
