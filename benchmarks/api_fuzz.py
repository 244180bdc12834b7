"""The API fuzzed from its own OpenAPI document, longer than `make test` does: schemathesis sends
`--examples` generated requests to each operation of a real scheduler (SQLite) and checks that
none gets a server error and every answer is one the document describes. Prints one JSON
object: operations, cases (requests sent), failures (each operation's first), seconds."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.test_api_conformance import fuzz, scheduler_schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=300, help="requests per operation")
    arguments = parser.parse_args()
    # Without a rate limit: every request reaches its handler (429 is documented, and tested).
    with (
        tempfile.TemporaryDirectory() as directory,
        scheduler_schema(Path(directory), "--rate-limit", "0") as schema,
    ):
        started = time.monotonic()
        fuzzed = fuzz(schema, arguments.examples)
        seconds = time.monotonic() - started
    print(json.dumps({
        "operations": fuzzed.operations,
        "examples_per_operation": arguments.examples,
        "cases": fuzzed.cases,
        "failures": len(fuzzed.failures),
        "failed_operations": sorted(fuzzed.failures),
        "seconds": round(seconds, 1),
    }))  # fmt: skip
    if fuzzed.failures:
        for label, text in fuzzed.failures.items():
            print(f"{label}: {text}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
