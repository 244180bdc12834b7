"""Waiting on a job the way the UI does: the scheduler streams the job's changes
(`GET /api/v1/events?job=KEY`), and whoever waits reads the job again when one arrives.

A reader thread follows the stream and wakes the waiter; a burst of changes wakes it once. The
waiter also wakes after a bounded time, so that a stream lost to a failover costs a short delay,
never a hang, and a wait that is about time (an update's watch) keeps its clock.
"""

from __future__ import annotations

import threading
from types import TracebackType

from daybreak.client.api_client import ApiClient
from daybreak.client.clusters import ClusterEntry
from daybreak.errors import DaybreakError
from daybreak.model.jobspec import JobKey

# How long the start waits for the stream, and the longest a waiter sleeps without news.
START_S = 5.0
LONGEST_S = 5.0


class JobWatch:
    def __init__(self, cluster: ClusterEntry, key: JobKey) -> None:
        # A client of its own: the waiter's requests and this stream run at the same time.
        self._client = ApiClient(cluster)
        self._key = key
        self._changed = threading.Event()
        self._following = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"watch {key}", daemon=True)

    def __enter__(self) -> JobWatch:
        self._thread.start()
        # Once following, no change after the waiter's next read is missed.
        self._following.wait(START_S)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._client.close()  # ends the stream; the reader thread ends with it

    def wait(self, longest_s: float = LONGEST_S) -> None:
        """Until the job changes, or `longest_s` passes."""
        self._changed.wait(min(longest_s, LONGEST_S))
        self._changed.clear()

    def _read(self) -> None:
        try:
            for event in self._client.events("/events", {"job": str(self._key)}):
                if event.event == "following":
                    self._following.set()
                self._changed.set()
        except (DaybreakError, RuntimeError, OSError):
            pass  # the stream is gone: waits fall back to their bounded time
        finally:
            self._following.set()
            self._changed.set()
