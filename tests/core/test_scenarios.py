"""Every scenario in `scenarios/` runs as one test (see `scenario.py` for the format)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.scenario import SCENARIOS, Scenario


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    Scenario(path).run()


def test_there_are_scenarios() -> None:
    assert len(list(SCENARIOS.glob("*.toml"))) >= 10
