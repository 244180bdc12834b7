"""The way every command reaches a cluster's scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from daybreak.client.clusters import find_cluster

if TYPE_CHECKING:
    from daybreak.client.api_client import ApiClient


@contextmanager
def client_for(cluster: str) -> Iterator[ApiClient]:
    from daybreak.client.api_client import ApiClient  # httpx: only for commands that call

    client = ApiClient(find_cluster(cluster))
    try:
        yield client
    finally:
        client.close()
