"""Every scenario in `scenarios/` runs as one test (see `scenario.py` for the format)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.core.scenario import SCENARIOS, Scenario


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    Scenario(path).run()


def test_there_are_scenarios() -> None:
    assert len(list(SCENARIOS.glob("*.toml"))) >= 10


DIGEST = """
import hashlib, sys
from tests.conftest import REPO
from tests.core.scenario import SCENARIOS, Scenario
digest = hashlib.sha256()
for path in sorted(SCENARIOS.glob("*.toml")):
    scenario = Scenario(path)
    scenario.run()
    digest.update(repr(scenario.log).encode())
print(digest.hexdigest())
"""


def test_the_same_inputs_give_the_same_decisions_in_any_process() -> None:
    """String hashing differs between interpreters; no decision may depend on it."""
    digests = set()
    for seed in ("1", "2", "3"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        command = [sys.executable, "-c", DIGEST]
        run = subprocess.run(
            command, cwd=REPO, env=environment, capture_output=True, text=True, check=True
        )
        digests.add(run.stdout)
    assert len(digests) == 1
