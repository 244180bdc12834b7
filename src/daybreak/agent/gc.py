"""Which finished tasks' directories to remove: past their age, then oldest first for space."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FinishedSandbox:
    task_id: str
    finished_ms: int
    size_bytes: int


def sandboxes_to_remove(
    finished: list[FinishedSandbox], now_ms: int, max_age_ms: int, max_total_bytes: int
) -> list[str]:
    """Task ids whose directories go, oldest first: every one older than `max_age_ms`, and
    then the oldest of the rest until what remains fits in `max_total_bytes`."""
    oldest_first = sorted(finished, key=lambda sandbox: (sandbox.finished_ms, sandbox.task_id))
    remove: list[str] = []
    kept_bytes = sum(sandbox.size_bytes for sandbox in oldest_first)
    for sandbox in oldest_first:
        if now_ms - sandbox.finished_ms > max_age_ms or kept_bytes > max_total_bytes:
            remove.append(sandbox.task_id)
            kept_bytes -= sandbox.size_bytes
    return remove
