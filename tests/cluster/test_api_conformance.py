"""The API against its own OpenAPI document, by schemathesis: generated requests to every
operation of a real scheduler get no server error, and every answer (status, content type,
body) is one the document describes. Bounded: 30 examples an operation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.cluster.conftest import SchedulerProcess

EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@contextlib.contextmanager
def scheduler_schema(directory: Path, *flags: str) -> Iterator[schemathesis.BaseSchema]:
    """A real scheduler's API (started with `flags`), as its OpenAPI document describes it."""
    scheduler = SchedulerProcess(
        f"sqlite:///{directory / 'db'}", directory / "scheduler.log", *flags
    )
    scheduler.start()
    try:
        document = schemathesis.openapi.from_url(scheduler.url + "/api/v1/openapi.json")
        # The event stream and a followed file answer for as long as one listens.
        yield document.exclude(path_regex=r"/(events|file/follow)$")
    finally:
        scheduler.stop()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    with scheduler_schema(tmp_path_factory.mktemp("conformance")) as schema:
        yield schema


@dataclass
class Fuzzed:
    operations: int = 0
    cases: int = 0  # requests sent
    failures: dict[str, str] = field(default_factory=dict)  # each operation's first, with its case


def fuzz(api_schema: schemathesis.BaseSchema, examples: int) -> Fuzzed:
    """Every operation, each with up to `examples` generated requests; every failure found is
    reported at once. (`benchmarks/api_fuzz.py` runs it longer.)"""
    fuzzed = Fuzzed()
    loaded = list(api_schema.get_all_operations())
    operations = [result.ok() for result in loaded if isinstance(result, Ok)]
    assert len(operations) == len(loaded), "the document itself has errors"
    fuzzed.operations = len(operations)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def check(case: schemathesis.Case[Any]) -> None:
            fuzzed.cases += 1
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as failure:
            fuzzed.failures[operation.label] = str(failure)[:2000]
    return fuzzed


def test_every_answer_is_one_the_document_describes(api_schema: schemathesis.BaseSchema) -> None:
    fuzzed = fuzz(api_schema, EXAMPLES)
    assert fuzzed.operations >= 15
    assert not fuzzed.failures, "\n\n".join(
        f"{label}: {text}" for label, text in fuzzed.failures.items()
    )
