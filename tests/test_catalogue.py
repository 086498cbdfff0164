"""The process library's catalogue: every part of every process is backed by a form, a role or a scenario.

Runs without a database: it reads processes/, forms/ and tests/scenarios/ as a deployment would.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.definitions.deployment import collect_sources, validate
from engine.definitions.lint import form_key_for
from engine.org.demo import ORGS, USERS
from engine.org.orgs import role_for_lane
from tests.scenario_player import PROCESSES, all_scenarios

ROOT = Path(__file__).resolve().parents[1]
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
LIBRARY = ["mediation", "grid_event", "supervision", "inspection", "assessment", "report_review"]

VALID = {v.parsed.key: v for v in validate(collect_sources([ROOT]))}
SCENARIOS = all_scenarios()
DEMO_ROLES = {role for *_, grants in USERS for role, _org in grants}
DEMO_ORGS = {code for code, *_ in ORGS}


def _expects(process: str) -> list[dict]:
    """Every expect block (per step and final) of the process's scenarios."""
    out = []
    for s in SCENARIOS:
        if s.process == process:
            out += [step["expect"] for step in s.steps if "expect" in step] + [s.expect]
    return out


def _tree(key: str):
    return etree.parse(str(PROCESSES / f"{key}.bpmn"))


def test_the_library_is_complete_and_valid():
    assert sorted(VALID) == sorted(LIBRARY)
    assert sorted({s.process for s in SCENARIOS}) == sorted(LIBRARY)


@pytest.mark.parametrize("key", LIBRARY)
def test_every_user_task_has_a_form_and_every_form_a_task(key):
    proc = VALID[key].parsed
    used = {form_key_for(key, t.element_id, t.form_key) for t in proc.user_tasks.values()}
    forms = set(VALID[key].forms)
    assert used <= forms, f"user tasks without a form: {sorted(used - forms)}"
    assert forms - used <= {f"{key}/start"}, f"forms without a user task: {sorted(forms - used - {f'{key}/start'})}"
    on_disk = {f"{key}/{p.stem}" for p in (ROOT / "forms" / key).glob("*.yaml")}
    assert on_disk == forms


@pytest.mark.parametrize("key", LIBRARY)
def test_every_lane_is_a_role_the_demo_county_fills(key):
    lanes = VALID[key].parsed.lanes
    roles = {lane: role_for_lane(lane) for lane in lanes}
    assert all(roles.values()), f"lanes that are no role: {[lane for lane, r in roles.items() if not r]}"
    assert set(roles.values()) <= DEMO_ROLES, f"roles nobody holds in the demo county: {set(roles.values()) - DEMO_ROLES}"
    starters = VALID[key].config.get("start_roles") or []
    assert starters and set(starters) <= DEMO_ROLES


@pytest.mark.parametrize("key", LIBRARY)
def test_every_end_event_is_reached_by_a_scenario(key):
    ends = set(VALID[key].parsed.end_events)
    reached = set()
    for expect in _expects(key):
        reached |= {expect["end"]} if "end" in expect else set()
        reached |= set(expect.get("reached") or [])
    assert ends <= reached, f"end events no scenario reaches: {sorted(ends - reached)}"
    assert reached <= ends, f"scenarios name end events the process lacks: {sorted(reached - ends)}"


@pytest.mark.parametrize("key", LIBRARY)
def test_every_timer_fires_in_a_scenario(key):
    timers = {el.getparent().getparent().get("id")
              for el in _tree(key).iterfind(".//bpmn:timerEventDefinition/*", NS)}
    fired = set()
    for expect in _expects(key):
        fired |= set(expect.get("fired") or [])
    assert timers, "every process of the library has at least one timer"
    assert timers <= fired, f"timers no scenario fires: {sorted(timers - fired)}"
    assert fired <= timers


@pytest.mark.parametrize("key", LIBRARY)
def test_every_message_arrives_in_a_scenario(key):
    names = VALID[key].parsed.message_names
    sent = {step["message"]["name"] for s in SCENARIOS if s.process == key for step in s.steps if "message" in step}
    assert names <= sent, f"messages no scenario sends: {sorted(names - sent)}"
    kept = set((VALID[key].config.get("messages") or {}))
    assert names <= kept, "a message from outside may arrive early: the config must keep it (unmatched: keep)"


@pytest.mark.parametrize("key", LIBRARY)
def test_parameters_live_in_the_config(key):
    """Org codes and numbers scripts use come from the config's variables, which the demo county satisfies."""
    variables = VALID[key].config.get("variables") or {}
    assert isinstance(variables, dict) and variables
    for name, value in variables.items():
        if name.endswith("_org"):
            assert value in DEMO_ORGS, f"{name}={value} is not an org of the demo county"


def test_every_decision_table_is_used():
    used = set()
    for v in VALID.values():
        used |= {f for f in v.parsed.files if f.endswith(".dmn")}
    assert used == {p.name for p in PROCESSES.glob("*.dmn")}


@pytest.mark.parametrize("key", LIBRARY)
def test_every_diagram_element_has_a_shape(key):
    """bpmn-js draws only what has diagram interchange: every flow node and flow needs a shape or edge."""
    tree = _tree(key)
    drawn = {el.get("bpmnElement") for el in tree.iter() if isinstance(el.tag, str) and el.get("bpmnElement")}
    elements = {el.get("id") for el in tree.getroot().iterfind(".//bpmn:process//*[@id]", NS)
                if etree.QName(el).localname not in {"laneSet", "timerEventDefinition", "messageEventDefinition",
                                                     "multiInstanceLoopCharacteristics", "inputDataItem",
                                                     "outputDataItem", "terminateEventDefinition"}}
    assert elements <= drawn, f"elements without a shape: {sorted(elements - drawn)}"


def test_scenario_users_exist_in_the_demo_county():
    users = {u for u, *_ in USERS}
    for s in SCENARIOS:
        names = {s.start["as"]} | {step["as"] for step in s.steps if "as" in step}
        names |= {step["return_to"]["as"] for step in s.steps if "return_to" in step}
        assert names <= users, f"{s.id}: unknown demo users {names - users}"
