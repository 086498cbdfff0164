"""Play every process scenario twice: straight through, and restoring from the database between steps.

Scenario files live in tests/scenarios/<process>/<path>.yaml (format: tests/scenario_player.py).
Each run deploys the real ``processes/`` definition inside a transaction that is rolled back.
"""
from __future__ import annotations

import pytest

from tests.scenario_player import Player, all_scenarios

SCENARIOS = all_scenarios()


@pytest.mark.parametrize("restore", [False, True], ids=["straight", "restored"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, restore, services, frozen):
    player = Player(services, frozen, restore=restore)
    try:
        player.play(scenario)
    finally:
        player.close()


def test_restored_run_really_reloads_the_spec(services, frozen):
    """The restored mode is only a proof if every step parses the spec again from the database."""
    from engine import definitions

    scenario = next(s for s in SCENARIOS if s.process == "mediation")
    player = Player(services, frozen, restore=True)
    loads = []
    original = definitions.load_spec

    def counting_load(data):
        loads.append(1)
        return original(data)

    definitions.load_spec = counting_load
    try:
        player.play(scenario)
    finally:
        definitions.load_spec = original
        player.close()
    assert len(loads) >= len(scenario.steps)
