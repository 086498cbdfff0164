"""The center's indicators on cases played for them from the shipped scenarios: exact figures, known late and failed cases."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.board.indicators import indicators
from engine.org.orgs import actor_for
from tests.conftest import T0
from tests.scenario_player import SCENARIOS, Player, load_scenario


@pytest.fixture
def played(services, frozen):
    """Cases played from the shipped scenarios, each from Monday 2 March 09:00 (their expectations name dates)."""
    player = Player(services, frozen, restore=False)
    ids, latest = {}, T0
    try:
        for process, name in [("grid_event", "burst_pipe_closed_on_time"), ("grid_event", "overdue_red_escalated"),
                              ("grid_event", "rejected_duplicate"), ("mediation", "limit_no_consent"),
                              ("mediation", "village_agreement_court_confirmed"),
                              ("supervision", "late_receipt_yellow_red_summon"),
                              ("supervision", "on_time_with_assisting_units"), ("report_review", "checks_jumps_and_send_back")]:
            frozen.set(T0)
            ids[name] = player.play(load_scenario(SCENARIOS / process / f"{name}.yaml")).id
            latest = max(latest, frozen.now())
        yield player.session, ids, latest
    finally:
        player.close()


def test_figures_on_cases_built_for_them(played):
    s, ids, now = played
    got = indicators(s, actor=actor_for(s, username="he.ld"), start=T0 - timedelta(days=1), end=now + timedelta(days=1))
    on_time = got["on_time_rate"]
    assert ids["burst_pipe_closed_on_time"] in on_time.numerator_case_ids
    assert ids["overdue_red_escalated"] in on_time.case_ids
    assert ids["overdue_red_escalated"] not in on_time.numerator_case_ids     # handled after its 3 urgent hours
    assert ids["rejected_duplicate"] not in on_time.case_ids                  # 不予立案: never a case
    grid = got["grid_closure_rate"]
    assert (grid.numerator, grid.denominator, grid.value) == (2, 2, 100.0)
    hours = got["grid_avg_handling_hours"]
    # Both reported Monday 09:00, closed at 11:00 and at 12:05 (the lunch break from 12:00 does not count).
    assert (hours.denominator, hours.numerator, hours.value) == (2, 5, 2.5)
    mediation = got["mediation_success_rate"]
    assert (mediation.numerator, mediation.denominator, mediation.value) == (1, 2, 50.0)
    assert mediation.numerator_case_ids == [ids["village_agreement_court_confirmed"]]
    overdue = got["overdue_supervision"]
    assert (overdue.numerator, overdue.denominator) == (1, 2)
    assert overdue.numerator_case_ids == [ids["late_receipt_yellow_red_summon"]]
    returns = got["report_returns"]
    assert (returns.numerator, returns.numerator_case_ids) == (1, [ids["checks_jumps_and_send_back"]])
    # The township's leader sees the township's grid events and nothing of the county's items.
    town = indicators(s, actor=actor_for(s, username="lin.ld"), start=T0 - timedelta(days=1), end=now + timedelta(days=1))
    assert town["grid_closure_rate"].denominator == 2 and town["overdue_supervision"].denominator == 0
