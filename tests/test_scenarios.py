"""Play every process scenario twice through the product's runner: straight through, and restoring between steps.

Scenario files live in tests/scenarios/<process>/<path>.yaml (format: engine/studio/scenarios.py).
``run_scenarios`` plays them on the test database (SQLite, or PostgreSQL when asked) inside a
transaction that is rolled back, exactly as ``pingan test`` and the studio play them on a sandbox.
"""
from __future__ import annotations

import pytest

from engine.definitions import deployment
from engine.studio.scenarios import run_scenarios
from tests.scenario_player import all_scenarios, library_files

SCENARIOS = all_scenarios()
_RUNS: dict[bool, dict] = {}


def _results(services, restore: bool) -> dict:
    # One run per mode: deploying the library once, then every scenario in its own savepoint.
    if restore not in _RUNS:
        results = run_scenarios(library_files(), restore=restore, within=services, time_budget=1800)
        _RUNS[restore] = {r.name: r for r in results}
    return _RUNS[restore]


@pytest.mark.parametrize("restore", [False, True], ids=["straight", "restored"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, restore, services):
    result = _results(services, restore)[scenario.id]
    assert result.passed, f"{result.name}: {result.message}"
    assert result.failing_step is None
    assert len(result.path) >= 3, result.path
    if "end" in scenario.expect:
        assert result.path[-1] == scenario.expect["end"] or scenario.expect["end"] in result.path


def test_restored_run_really_reloads_the_spec(services):
    """The restored mode is only a proof if every step parses the spec again from the database."""
    scenario = next(s for s in SCENARIOS if s.process == "mediation")
    files = {p: t for p, t in library_files("mediation").items()
             if not p.startswith("tests/") or p == scenario.file}
    loads = []
    original = deployment.load_spec

    def counting_load(data):
        loads.append(1)
        return original(data)

    deployment.load_spec = counting_load
    try:
        [result] = run_scenarios(files, restore=True, within=services)
    finally:
        deployment.load_spec = original
    assert result.passed, result.message
    assert len(loads) >= len(scenario.steps)
