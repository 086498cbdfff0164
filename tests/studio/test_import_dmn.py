"""Importing decision tables from Camunda Modeler: FEEL cells become Python, what has no Python spelling is refused.

tests/fixtures/import_dmn/ holds a dinner process and its dish decision as Camunda Modeler 5 writes
them (DMN 1.3, camunda: attributes, FEEL cells, hit policy FIRST); the pair is imported, deployed and
run through a business rule task that decides by the converted table.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from engine.definitions import deployment
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.spiff.decisions import parse_decision
from engine.spiff.parser import NS
from engine.store.models import InstanceStatus
from engine.studio import drafts
from engine.studio.imported_expressions import NotConvertible, feel_expression, feel_unary_tests
from engine.studio.imports import convert_files
from engine.studio.validation import validate_files
from engine.studio.workspace import files_from_uploads
from engine.studio.workspace import workspace
from tests.factories import open_tasks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import_dmn"
DMN11 = "http://www.omg.org/spec/DMN/20151101/dmn.xsd"
DMN13 = NS["dmn"]


def _pair() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*")) if p.suffix in (".bpmn", ".dmn")}


def _cells(text: str) -> list[str]:
    root = etree.fromstring(text.encode())
    return [(t.text or "") for t in root.iterfind(".//dmn:rule/*/dmn:text", NS)]


@pytest.mark.parametrize(("feel", "python"), [
    ('"Fall"', '"Fall"'),
    ('"Winter","Fall"', '? in ("Winter", "Fall")'),
    ('"a, b", "c"', '? in ("a, b", "c")'),
    (">= 10", ">= 10"),
    ("< maxAmount", "< max_amount"),
    ("[1..5]", "1 <= ? <= 5"),
    ("]1..5[", "1 < ? < 5"),
    ("(1..5]", "1 < ? <= 5"),
    ("< 5, > 10", "? < 5 or ? > 10"),
    ("[1..5], 9", "(1 <= ? <= 5) or ? == 9"),
    ('not("x")', '? != "x"'),
    ('not("x","y")', '? not in ("x", "y")'),
    ("not(>= 3)", "not (? >= 3)"),
    ("null", "? is None"),
    ("true", "True"),
    ("-", "-"),
    ("", "-"),
    ("cellInput > 3 and cellInput < 9", "? > 3 and ? < 9"),
    ("? > creditScore", "? > credit_score"),
])
def test_feel_unary_tests_become_the_python_cells_pingan_s_tables_hold(feel, python):
    assert feel_unary_tests(feel) == python


def test_a_column_s_own_input_variable_stands_for_its_value():
    assert feel_unary_tests('season_in = "Spring"', input_variable="season_in") == '? == "Spring"'


@pytest.mark.parametrize(("feel", "python"), [
    ('"Pasta"', '"Pasta"'), ("25", "25"), ("guestCount * 4", "guest_count * 4"), ("true", "True"),
    ("null", "None"), ("Service Level", "service_level"), ('amount > 100 and not(approved)', "amount > 100 and not (approved)"),
])
def test_feel_expressions_in_columns_and_outputs_become_python(feel, python):
    assert feel_expression(feel) == python


@pytest.mark.parametrize(("feel", "says"), [
    ('date("2026-01-01")', "date()"),
    ("< date and time(\"2026-01-01T00:00:00\")", "date and time()"),
    ("string length(name) > 3", "string length()"),
    ('@"2026-01-01"', "超出平安能自动转换的范围"),
    ("if a then 1 else 2", "超出平安能自动转换的范围"),
    ('other = "x"', "没有用到这一列的输入值"),
    ("{a: 1}", "超出平安能自动转换的范围"),
])
def test_feel_without_a_python_spelling_is_refused_in_chinese_and_english(feel, says):
    with pytest.raises(NotConvertible) as exc:
        feel_unary_tests(feel)
    assert says in exc.value.zh and exc.value.en and not re.search(r"[\u4e00-\u9fff]", exc.value.en)


def test_the_dish_decision_from_camunda_modeler_becomes_pingan_s_decision_table():
    result = convert_files(_pair())
    assert result.problems == []
    table = result.files["processes/dish.dmn"]
    root = etree.fromstring(table.encode())
    assert etree.QName(root).namespace == DMN13 and "camunda:" not in table and "modeler:" not in table
    assert [o.get("name") for o in root.iterfind(".//dmn:output", NS)] == ["desired_dish", "budget_per_guest"]
    assert [t.text for t in root.iterfind(".//dmn:inputExpression/dmn:text", NS)] == ["season", "guest_count"]
    assert root.find(".//dmn:inputValues", NS) is None  # the modeler's hints, read by the validator as code
    assert _cells(table) == [
        '"Fall"', "<= 8", '"Spareribs"', "25",
        '? in ("Winter", "Fall")', "5 <= ? <= 8", '"Roastbeef"', "guest_count * 4",
        '? == "Spring"', "(8 < ? < 20) or ? >= 40", '"Dry Aged Gourmet Steak"', "40",
        '? != "Fall"', "-", '"Stew"', "None"]
    assert any("desiredDish 改为 desired_dish" in c for c in result.changes)
    assert any("camunda:historyTimeToLive" in c and "dish.dmn" in c for c in result.changes)
    assert any("个单元格由 FEEL 改写为 Python" in c for c in result.changes)
    bpmn = result.files["processes/dinner.bpmn"]
    assert "<spiffworkflow:calledDecisionId>dish</spiffworkflow:calledDecisionId>" in bpmn
    assert "desired_dish == &quot;Spareribs&quot;" in bpmn or 'desired_dish == "Spareribs"' in bpmn


@pytest.mark.parametrize(("season", "guests", "dish", "budget", "next_step"), [
    ("Fall", 6, "Spareribs", 25, "grill"),
    ("Winter", 6, "Roastbeef", 24, "cook"),
    ("Spring", 12, "Dry Aged Gourmet Steak", 40, "grill"),
    ("Summer", 3, "Stew", None, "cook"),
])
def test_the_imported_pair_deploys_and_a_case_runs_through_the_converted_decision(
        session, season, guests, dish, budget, next_step):
    imported = convert_files(_pair())
    files, problems = imported.files, imported.problems
    assert problems == []
    with workspace(files) as root:
        deployed = deployment.deploy(session, paths=[root], actor="designer")
    assert [d.key for d in deployed] == ["dinner"]
    handler = actor_for(session, username="zhou.ga")  # 承办人 (handler): the dinner's candidate group
    inst = lifecycle.start_instance(session, process_key="dinner", actor=handler)
    [plan] = open_tasks(session, inst.id)
    lifecycle.complete_task(session, task_id=plan.id, data={"season": season, "guest_count": guests}, actor=handler)
    session.refresh(inst)
    assert (inst.data["desired_dish"], inst.data["budget_per_guest"]) == (dish, budget)
    [step] = open_tasks(session, inst.id)
    assert step.element_id == next_step
    lifecycle.complete_task(session, task_id=step.id, data={}, actor=handler)
    session.refresh(inst)
    assert inst.status == InstanceStatus.COMPLETED


def _table(body: str, *, hit_policy: str = "UNIQUE", ns: str = DMN13, extra: str = "", decision: str = "d") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{ns}" xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="defs" name="DRD" namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="{decision}" name="Decide">
    <decisionTable id="t" hitPolicy="{hit_policy}">
      <input id="in" label="Amount"><inputExpression id="in_e" typeRef="integer"><text>amount</text></inputExpression></input>
      <output id="out" label="Level" name="level" typeRef="string" />
{body}
    </decisionTable>
  </decision>{extra}
</definitions>
"""


def _rule(rid: str, entry: str, output: str) -> str:
    return (f'      <rule id="{rid}"><inputEntry id="{rid}_i"><text>{entry}</text></inputEntry>'
            f'<outputEntry id="{rid}_o"><text>{output}</text></outputEntry></rule>')


RULES = _rule("r1", "&gt; 100", '"high"') + "\n" + _rule("r2", "-", '"low"')


@pytest.mark.parametrize(("text", "element", "says"), [
    (_table(RULES, hit_policy="PRIORITY"), "t", "PRIORITY"),
    (_table(RULES, hit_policy="OUTPUT ORDER"), "t", "OUTPUT ORDER"),
    (_table(RULES, hit_policy='COLLECT" aggregation="SUM'), "t", "汇总 SUM"),
    (_table(_rule("r1", 'date("2026-01-01")', '"x"')), "r1", "date()"),
    (_table(_rule("r1", "-", "if amount &gt; 1 then 1 else 2")), "r1", "超出平安能自动转换的范围"),
    (_table(RULES.replace('<text>&gt; 100</text>', '<text>&gt; 100</text>').replace(
        'inputEntry id="r1_i"', 'inputEntry id="r1_i" expressionLanguage="javascript"')), "r1", "javascript"),
    (_table(RULES).replace('name="level" ', ""), "out", "输出列没有名称"),
    (_table(RULES).replace("<text>amount</text>", "<text>string length(name)</text>"), "in", "string length()"),
    (_table(RULES, extra='\n  <decision id="d2" name="Other"><literalExpression id="le"><text>1</text></literalExpression>'
                         "</decision>"), "d2", "不是决策表"),
    (_table(RULES).replace('<decisionTable id="t"', '<informationRequirement id="ir"><requiredDecision href="#season" />'
                                                     '</informationRequirement><decisionTable id="t"'), "d", "依赖其他决策"),
])
def test_what_pingan_s_tables_cannot_run_is_refused_by_element(text, element, says):
    problems = convert_files({"decide.dmn": text}).problems
    assert [p.element_id for p in problems] == [element], [str(p) for p in problems]
    [problem] = problems
    assert says in problem.message and problem.message_en and problem.file.startswith("processes/decide")
    assert problem.line


def test_a_dmn_1_1_file_with_two_decisions_becomes_two_dmn_1_3_files_and_rule_order_collects():
    two = _table(RULES, hit_policy="RULE ORDER", ns=DMN11, extra=f"""
  <decision id="second" name="Second"><decisionTable id="t2" hitPolicy="ANY">
      <input id="in2"><inputExpression id="in2_e"><text>amount</text></inputExpression></input>
      <output id="out2" name="bandName" />
{_rule("s1", "[0..10]", '"small"')}
  </decisionTable></decision>""")
    result = convert_files({"levels.dmn": two})
    assert result.problems == []
    assert sorted(result.files) == ["processes/levels_d.dmn", "processes/levels_second.dmn"]
    first = etree.fromstring(result.files["processes/levels_d.dmn"].encode())
    second = etree.fromstring(result.files["processes/levels_second.dmn"].encode())
    assert etree.QName(first).namespace == DMN13 and DMN11 not in result.files["processes/levels_d.dmn"]
    assert [d.get("id") for d in first.iterfind("dmn:decision", NS)] == ["d"]
    assert first.find(".//dmn:decisionTable", NS).get("hitPolicy") == "COLLECT"
    assert second.find(".//dmn:decisionTable", NS).get("hitPolicy") == "FIRST"
    assert _cells(result.files["processes/levels_second.dmn"]) == ["0 <= ? <= 10", '"small"']
    assert second.find(".//dmn:output", NS).get("name") == "band_name"
    assert any("RULE ORDER 改为 COLLECT" in c for c in result.changes)
    assert any("DMN 1.3" in c for c in result.changes)
    # SpiffWorkflow's parser (with the DMN 1.3 schema) takes each of them.
    assert parse_decision(result.files["processes/levels_d.dmn"].encode(), "levels_d.dmn").hit_policy == "COLLECT"
    assert parse_decision(result.files["processes/levels_second.dmn"].encode(), "levels_second.dmn").outputs == ("band_name",)


def test_a_refused_cell_keeps_the_business_rule_task_that_calls_it_from_deploying():
    pair = _pair()
    pair["dish.dmn"] = pair["dish.dmn"].replace("<text>guestCount * 4</text>", "<text>floor(guestCount / 2)</text>")
    problems = convert_files(pair).problems
    assert [(p.file, p.element_id) for p in problems] == [("processes/dish.dmn", "DecisionRule_winter")]
    assert "floor()" in problems[0].message and "Budget per guest" in problems[0].message


def test_pingan_s_own_tables_and_warning_rules_go_through_unchanged():
    root = Path(__file__).resolve().parents[2] / "processes"
    for path in [*root.glob("*.dmn"), *(root / "warnings").glob("*.dmn")]:
        text = path.read_text(encoding="utf-8")
        result = convert_files({path.name: text})
        assert result.files == {f"processes/{path.name}": text} and result.changes == [], path.name


def _with_result_variable(mapping: str) -> dict[str, str]:
    pair = _pair()
    pair["dinner.bpmn"] = pair["dinner.bpmn"].replace(
        'camunda:decisionRef="dish"', f'camunda:decisionRef="dish" camunda:resultVariable="dish" {mapping}').replace(
        '${desiredDish == "Spareribs" || desiredDish == "Dry Aged Gourmet Steak"}',
        '${dish.desiredDish == "Spareribs" || dish.desiredDish == "Dry Aged Gourmet Steak"}')
    return pair


def test_a_single_result_variable_is_set_from_the_converted_table_s_outputs(session):
    imported = convert_files(_with_result_variable('camunda:mapDecisionResult="singleResult"'))
    assert imported.problems == []
    task = etree.fromstring(imported.files["processes/dinner.bpmn"].encode()).find(".//*[@id='decide']")
    assert task.findtext(".//spiffworkflow:postScript", namespaces=NS) == \
        "dish = {'desiredDish': desired_dish, 'budgetPerGuest': budget_per_guest}"
    assert any("决策结果变量 dish（singleResult）" in c for c in imported.changes)
    with workspace(imported.files) as root:
        deployment.deploy(session, paths=[root], actor="designer")
    handler = actor_for(session, username="zhou.ga")
    inst = lifecycle.start_instance(session, process_key="dinner", actor=handler)
    [plan] = open_tasks(session, inst.id)
    lifecycle.complete_task(session, task_id=plan.id, data={"season": "Fall", "guest_count": 4}, actor=handler)
    session.refresh(inst)
    assert inst.data["dish"] == {"desiredDish": "Spareribs", "budgetPerGuest": 25}
    assert [t.element_id for t in open_tasks(session, inst.id)] == ["grill"]


@pytest.mark.parametrize("mapping", ["", 'camunda:mapDecisionResult="resultList"', 'camunda:mapDecisionResult="singleEntry"'])
def test_a_result_variable_pingan_cannot_fill_the_same_way_is_still_refused(mapping):
    """A list of results, or one entry of a table with two outputs: the conditions would read something else."""
    problems = convert_files(_with_result_variable(mapping)).problems
    assert problems[0].element_id == "decide" and "决策结果" in problems[0].message


def test_juel_cells_of_older_camunda_tables_become_python_and_other_languages_are_refused():
    juel = _table(_rule("r1", "${cellInput &gt; 100 &amp;&amp; cellInput &lt; maxAmount}", '"high"').replace(
        'inputEntry id="r1_i"', 'inputEntry id="r1_i" expressionLanguage="juel"'), ns=DMN11)
    result = convert_files({"decide.dmn": juel})
    assert result.problems == []
    assert _cells(result.files["processes/decide.dmn"]) == ["? > 100 and ? < max_amount", '"high"']
    groovy = juel.replace('expressionLanguage="juel"', 'expressionLanguage="groovy"')
    [problem] = convert_files({"decide.dmn": groovy}).problems
    assert problem.element_id == "r1" and "groovy" in problem.message


ZEEBE_TASK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="grade" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="enter" name="Enter" camunda:candidateGroups="handler">
      <bpmn:extensionElements><camunda:formData><camunda:formField id="amount" label="Amount" type="long" />
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:businessRuleTask id="decide" name="Grade">
      <bpmn:extensionElements><zeebe:calledDecision decisionId="d" resultVariable="grade" /></bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:exclusiveGateway id="gw" default="low" />
    <bpmn:userTask id="escalate" name="Escalate" camunda:candidateGroups="handler" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="enter" />
    <bpmn:sequenceFlow id="f2" sourceRef="enter" targetRef="decide" />
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="gw" />
    <bpmn:sequenceFlow id="high" sourceRef="gw" targetRef="escalate"><bpmn:conditionExpression>= grade = "high"</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="low" sourceRef="gw" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="escalate" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_camunda_8_s_result_variable_of_a_one_output_table_is_its_value(session):
    imported = convert_files({"grade.bpmn": ZEEBE_TASK, "grade_rules.dmn": _table(RULES, hit_policy="FIRST")})
    assert imported.problems == []
    task = etree.fromstring(imported.files["processes/grade.bpmn"].encode()).find(".//*[@id='decide']")
    assert (task.findtext(".//spiffworkflow:preScript", namespaces=NS),
            task.findtext(".//spiffworkflow:postScript", namespaces=NS)) == ("level = None", "grade = level")
    with workspace(imported.files) as root:
        deployment.deploy(session, paths=[root], actor="designer")
    handler = actor_for(session, username="zhou.ga")
    inst = lifecycle.start_instance(session, process_key="grade", actor=handler)
    [enter] = open_tasks(session, inst.id)
    lifecycle.complete_task(session, task_id=enter.id, data={"amount": 500}, actor=handler)
    assert [t.element_id for t in open_tasks(session, inst.id)] == ["escalate"]
    session.refresh(inst)
    assert (inst.data["level"], inst.data["grade"]) == ("high", "high")


def test_the_studio_s_upload_converts_the_pair_into_a_draft_that_validates(session, actors):
    uploads = [(name, text.encode("utf-8")) for name, text in _pair().items()]
    draft = drafts.create_draft(session, actor=actors("designer"), files=files_from_uploads(uploads))
    assert draft.process_key == "dinner" and draft.import_problems == []
    assert '? in ("Winter", "Fall")' in draft.files["processes/dish.dmn"]
    assert any("desired_dish" in c for c in draft.import_changes)
    assert validate_files(draft.files) == []


SHIPPED = sorted([*(Path(__file__).resolve().parents[2] / "processes").glob("*.dmn"),
                  *(Path(__file__).resolve().parents[2] / "processes" / "warnings").glob("*.dmn")])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_python_cells_in_a_table_marked_as_another_tool_s_stay_what_they_are(path):
    """A Pingan table re-saved by dmn-js (or carrying Camunda's namespace) is converted, and its Python survives."""
    text = path.read_text(encoding="utf-8")
    marked = text.replace("<definitions ", '<definitions xmlns:camunda="http://camunda.org/schema/1.0/dmn" ', 1)
    result = convert_files({path.name: marked})
    assert result.problems == [] and "camunda" not in result.files[f"processes/{path.name}"].split("namespace=")[0]
    assert _cells(result.files[f"processes/{path.name}"]) == _cells(text)
