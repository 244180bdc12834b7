"""A store on each backend, made for one test and dropped after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daybreak.store import open_store
from daybreak.store.store import Store
from tests.databases import BACKENDS, store_url


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    store = open_store(url)
    yield store
    store.close()
