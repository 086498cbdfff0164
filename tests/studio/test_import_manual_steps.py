"""Importing with manual steps: what no machine can decide or do in Pingan becomes a step a person does.

Each conversion is checked on a small model: refused by element without ``manual_steps``, converted
with it (and listed among the changes), deployed, and a case run through it.
"""
from __future__ import annotations

import yaml
from lxml import etree

from engine.definitions import deployment
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.spiff.parser import NS
from engine.store.models import InstanceStatus
from engine.studio.import_common import condition_fields
from engine.studio.imports import convert_files
from engine.studio.workspace import workspace
from tests.factories import open_tasks

BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"


def _model(process: str, *, key: str = "imported", di: str = "", head: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="{BPMNDI}"
    xmlns:dc="{DC}" xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  {head}
  <bpmn:process id="{key}" isExecutable="true">
{process}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="{key}">{di}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _flow(fid: str, source: str, target: str, name: str = "", condition: str = "") -> str:
    cond = f'<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>' if condition else ""
    return f'<bpmn:sequenceFlow id="{fid}" name="{name}" sourceRef="{source}" targetRef="{target}">{cond}</bpmn:sequenceFlow>'


def _import(text: str, *, manual: bool = True, extra: dict[str, str] | None = None):
    return convert_files({"model.bpmn": text, **(extra or {})}, default_role="handler", manual_steps=manual)


def _deploy_and_start(session, files: dict[str, str], key: str = "imported"):
    with workspace(files) as root:
        deployment.deploy(session, paths=[root], actor="designer")
    actor = actor_for(session, username="zhou.ga")  # 承办人 (handler)
    return actor, lifecycle.start_instance(session, process_key=key, actor=actor)


def _open(session, inst) -> list[str]:
    session.refresh(inst)
    return [t.element_id for t in open_tasks(session, inst.id)]


def _complete(session, inst, actor, element_id: str, data: dict) -> None:
    task = next(t for t in open_tasks(session, inst.id) if t.element_id == element_id)
    lifecycle.complete_task(session, task_id=task.id, data=data, actor=actor)


def _element(files, path: str, element_id: str):
    tree = etree.fromstring(files[path].encode())
    return tree, tree.find(f".//*[@id='{element_id}']")


# -- a choice after a fork: nobody made it, so a person is asked --------------------------------------

FORK = _model("\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:parallelGateway id="fork" />',
    '<bpmn:userTask id="register" name="登记" />',
    '<bpmn:exclusiveGateway id="route" name="走哪条路？" />',
    '<bpmn:userTask id="quick" name="快速办理" />',
    '<bpmn:userTask id="slow" name="一般办理" />',
    '<bpmn:endEvent id="end_register" /><bpmn:endEvent id="end_quick" /><bpmn:endEvent id="end_slow" />',
    _flow("f1", "start", "fork"), _flow("f2", "fork", "register"), _flow("f3", "fork", "route"),
    _flow("f4", "register", "end_register"), _flow("to_quick", "route", "quick", "快办"),
    _flow("to_slow", "route", "slow", "慢办"), _flow("f5", "quick", "end_quick"), _flow("f6", "slow", "end_slow"),
]), di="""
  <bpmndi:BPMNShape id="route_di" bpmnElement="route"><dc:Bounds x="300" y="200" width="50" height="50" /></bpmndi:BPMNShape>
  <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="200" y="225" /><di:waypoint x="300" y="225" /></bpmndi:BPMNEdge>""")


def test_a_choice_nobody_makes_gets_a_drawn_user_task_before_its_gateway(session):
    [problem] = _import(FORK, manual=False).problems
    assert problem.element_id in ("to_quick", "to_slow") and "条件" in problem.message
    imported = _import(FORK)
    assert imported.problems == []
    path = "processes/imported.bpmn"
    tree, task = _element(imported.files, path, "route_choose")
    assert etree.QName(task).localname == "userTask" and task.get("name") == "选择：走哪条路？"
    flows = {f.get("id"): (f.get("sourceRef"), f.get("targetRef")) for f in tree.iterfind(".//bpmn:sequenceFlow", NS)}
    assert flows["f3"] == ("fork", "route_choose") and flows["route_choose_to_route"] == ("route_choose", "route")
    [bounds] = tree.findall(f".//{{{BPMNDI}}}BPMNShape[@bpmnElement='route_choose']/{{{DC}}}Bounds")
    assert (bounds.get("x"), bounds.get("y"), bounds.get("width")) == ("275", "90", "100")
    assert tree.find(f".//{{{BPMNDI}}}BPMNEdge[@bpmnElement='route_choose_to_route']") is not None
    form = yaml.safe_load(imported.files["forms/imported/route_choose.yaml"])
    assert form["fields"] == [{"name": "choice", "label": "走哪条路？", "type": "select", "required": True,
                               "options": [{"value": "快办", "label": "快办"}, {"value": "慢办", "label": "慢办"}]}]
    assert any("route_choose" in c and "选择" in c for c in imported.changes)

    actor, inst = _deploy_and_start(session, imported.files)
    assert sorted(_open(session, inst)) == ["register", "route_choose"]
    _complete(session, inst, actor, "route_choose", {"choice": "慢办"})
    assert sorted(_open(session, inst)) == ["register", "slow"]
    _complete(session, inst, actor, "slow", {})
    _complete(session, inst, actor, "register", {})
    session.refresh(inst)
    assert inst.status == InstanceStatus.COMPLETED


# -- a loop drawn without condition or maximum: the person says whether to go again -----------------------

LOOP = _model("\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:manualTask id="clarify" name="Clarify missing points">'
    '<bpmn:standardLoopCharacteristics testBefore="false" /></bpmn:manualTask>',
    '<bpmn:endEvent id="end" />',
    _flow("f1", "start", "clarify"), _flow("f2", "clarify", "end"),
]))


def test_a_loop_without_condition_asks_its_person_whether_to_do_it_again(session):
    [problem] = _import(LOOP.replace("manualTask", "scriptTask")).problems  # no person: nobody to ask
    assert problem.element_id == "clarify" and "循环" in problem.message
    # Tested before the first round, the answer would be read before anyone gave it.
    [problem] = _import(LOOP.replace('testBefore="false"', 'testBefore="true"')).problems
    assert problem.element_id == "clarify" and "循环" in problem.message
    imported = _import(LOOP)
    assert imported.problems == []
    _, task = _element(imported.files, "processes/imported.bpmn", "clarify")
    assert task.findtext("bpmn:standardLoopCharacteristics/bpmn:loopCondition", namespaces=NS) == "clarify_missing_points_again"
    form = yaml.safe_load(imported.files["forms/imported/clarify.yaml"])
    assert form["fields"] == [{"name": "clarify_missing_points_again", "label": "是否需要再次办理", "type": "boolean",
                               "required": True}]

    # SpiffWorkflow checks the condition after each round and runs another while it holds.
    actor, inst = _deploy_and_start(session, imported.files)
    for again in (True, True, False):
        assert _open(session, inst) == ["clarify"]
        _complete(session, inst, actor, "clarify", {"clarify_missing_points_again": again})
    session.refresh(inst)
    assert inst.status == InstanceStatus.COMPLETED and not _open(session, inst)


# -- a start that never fires by itself: a person starts the case ---------------------------------------

SIGNAL_START = _model("\n".join([
    '<bpmn:startEvent id="start" name="New employee hired">'
    '<bpmn:signalEventDefinition id="sig_def" signalRef="hired" /></bpmn:startEvent>',
    '<bpmn:userTask id="welcome" name="Welcome" />',
    '<bpmn:endEvent id="end" />',
    _flow("f1", "start", "welcome"), _flow("f2", "welcome", "end"),
]), head='<bpmn:signal id="hired" name="New employee hired" />')


def test_a_signal_start_or_a_timer_start_without_time_becomes_a_start_a_person_makes(session):
    [problem] = _import(SIGNAL_START, manual=False).problems
    assert problem.element_id == "start" and "信号开始事件" in problem.message
    imported = _import(SIGNAL_START)
    assert imported.problems == []
    _, start = _element(imported.files, "processes/imported.bpmn", "start")
    assert len(start) == 0  # no event definition left
    assert any("New employee hired" in c and "普通开始事件" in c for c in imported.changes)
    actor, inst = _deploy_and_start(session, imported.files)
    assert _open(session, inst) == ["welcome"]

    timer = SIGNAL_START.replace('<bpmn:signalEventDefinition id="sig_def" signalRef="hired" />',
                                 '<bpmn:timerEventDefinition><bpmn:timeDate /></bpmn:timerEventDefinition>')
    assert _import(timer, manual=False).problems
    imported = _import(timer)
    assert imported.problems == [] and any("定时器没有时间" in c for c in imported.changes)

    # Beside a start a person already makes, the signal start is left as drawn, and refused.
    both = SIGNAL_START.replace('<bpmn:userTask', '<bpmn:startEvent id="start_by_hand" />\n<bpmn:userTask').replace(
        _flow("f1", "start", "welcome"), _flow("f1", "start", "welcome") + _flow("f0", "start_by_hand", "welcome"))
    assert [p.element_id for p in _import(both).problems] == ["start"]


# -- a decision whose table is not supplied: a person decides -------------------------------------------

DECISION = _model("\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:businessRuleTask id="check" name="Check risk" camunda:decisionRef="risk_check" camunda:resultVariable="risk" />',
    '<bpmn:exclusiveGateway id="gw" name="Risk?" />',
    '<bpmn:userTask id="reject" name="Reject" /><bpmn:userTask id="accept" name="Accept" />',
    '<bpmn:endEvent id="end_reject" /><bpmn:endEvent id="end_accept" />',
    _flow("f1", "start", "check"), _flow("f2", "check", "gw"),
    _flow("high", "gw", "reject", "high", "${risk == 'high'}"), _flow("low", "gw", "accept", "low", "${risk == 'low'}"),
    _flow("f3", "reject", "end_reject"), _flow("f4", "accept", "end_accept"),
]))
RISK_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">
  <decision id="risk_check" name="Risk"><decisionTable id="t"><output id="o" name="risk" typeRef="string" />
  </decisionTable></decision>
</definitions>
"""


def test_a_decision_table_not_supplied_becomes_a_person_s_decision_with_the_fields_its_conditions_read(session):
    [problem] = _import(DECISION, manual=False).problems
    assert problem.element_id == "check" and "risk" in problem.message
    # With the table supplied, the result variable is still refused: the table's columns are the data.
    supplied = _import(DECISION, extra={"risk_check.dmn": RISK_DMN})
    assert [p.element_id for p in supplied.problems] == ["check"] and "决策结果" in supplied.problems[0].message
    imported = _import(DECISION)
    assert imported.problems == []
    _, task = _element(imported.files, "processes/imported.bpmn", "check")
    assert etree.QName(task).localname == "userTask"
    assert any("risk_check" in c and "用户任务" in c for c in imported.changes)
    form = yaml.safe_load(imported.files["forms/imported/check.yaml"])
    assert form["fields"] == [{"name": "risk", "label": "risk", "type": "select", "required": True,
                               "options": [{"value": "high", "label": "high"}, {"value": "low", "label": "low"}]}]
    actor, inst = _deploy_and_start(session, imported.files)
    _complete(session, inst, actor, "check", {"risk": "high"})
    assert _open(session, inst) == ["reject"]


def test_a_list_a_condition_iterates_is_asked_for_as_a_multiple_choice():
    """FEEL's ``some risk in riskLevels satisfies risk = "red"``, once Python: the list is the field."""
    assert condition_fields('any(risk == "red" for risk in risk_levels)') == {
        "risk_levels": {"type": "multiselect", "options": [{"value": "red", "label": "red"}]}}
    assert condition_fields("all(x > 1 for x in amounts) and approved") == {
        "amounts": {"type": "text"}, "approved": {"type": "boolean"}}


# -- a call to a process not among the files: a person does it elsewhere and confirms ----------------------

CALL = _model("\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:callActivity id="request" name="Request documents" calledElement="request_documents" />',
    '<bpmn:endEvent id="end" />',
    _flow("f1", "start", "request"), _flow("f2", "request", "end"),
]))


def test_a_call_to_a_process_not_imported_becomes_a_step_done_elsewhere(session):
    [problem] = _import(CALL, manual=False).problems
    assert problem.element_id == "request" and "request_documents" in problem.message
    imported = _import(CALL)
    assert imported.problems == []
    _, task = _element(imported.files, "processes/imported.bpmn", "request")
    assert etree.QName(task).localname == "userTask" and task.get("calledElement") is None
    assert task.get("name") == "在外部办理 Request documents 后确认"
    actor, inst = _deploy_and_start(session, imported.files)
    _complete(session, inst, actor, "request", {})
    session.refresh(inst)
    assert inst.status == InstanceStatus.COMPLETED

    # The called process imported alongside: the call stays a call.
    called = _model('<bpmn:startEvent id="s" /><bpmn:endEvent id="e" />' + _flow("g", "s", "e"), key="request_documents")
    together = _import(CALL, extra={"called.bpmn": called})
    assert together.problems == []
    assert 'calledElement="request_documents"' in together.files["processes/imported.bpmn"]


# -- a multi-instance activity drawn reading a data object: that list is filled in as a table --------------

LIST = _model("\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:task id="select" name="Select platforms">'
    '<bpmn:dataOutputAssociation id="out"><bpmn:targetRef>platforms_ref</bpmn:targetRef></bpmn:dataOutputAssociation>'
    '</bpmn:task>',
    '<bpmn:userTask id="publish" name="Publish">'
    '<bpmn:dataInputAssociation id="in"><bpmn:sourceRef>platforms_ref</bpmn:sourceRef></bpmn:dataInputAssociation>'
    '<bpmn:multiInstanceLoopCharacteristics isSequential="false" /></bpmn:userTask>',
    '<bpmn:endEvent id="end" />',
    '<bpmn:dataObjectReference id="platforms_ref" name="Selected platforms" dataObjectRef="platforms" />',
    '<bpmn:dataObject id="platforms" name="Selected platforms" isCollection="true" />',
    _flow("f1", "start", "select"), _flow("f2", "select", "publish"), _flow("f3", "publish", "end"),
]))


def test_a_multi_instance_activity_iterates_the_data_object_it_reads_filled_in_by_who_writes_it(session):
    [problem] = _import(LIST, manual=False).problems
    assert problem.element_id == "publish" and "多实例" in problem.message
    imported = _import(LIST)
    assert imported.problems == []
    tree, publish = _element(imported.files, "processes/imported.bpmn", "publish")
    loop = publish.find("bpmn:multiInstanceLoopCharacteristics", NS)
    assert loop.findtext("bpmn:loopDataInputRef", namespaces=NS) == "selected_platforms"
    assert loop.find("bpmn:inputDataItem", NS).get("name") == "selected_platforms_item"
    assert etree.QName(tree.find(".//*[@id='select']")).localname == "userTask"  # was a plain task
    [field] = yaml.safe_load(imported.files["forms/imported/select.yaml"])["fields"]
    assert (field["name"], field["type"], field["min_rows"], [c["name"] for c in field["columns"]]) == \
        ("selected_platforms", "table", 1, ["item"])

    actor, inst = _deploy_and_start(session, imported.files)
    _complete(session, inst, actor, "select", {"selected_platforms": [{"item": "智联"}, {"item": "前程"}]})
    assert _open(session, inst) == ["publish", "publish"]
    _complete(session, inst, actor, "publish", {})
    _complete(session, inst, actor, "publish", {})
    session.refresh(inst)
    assert inst.status == InstanceStatus.COMPLETED


def test_a_data_object_drawn_as_one_thing_is_not_iterated():
    single = LIST.replace('isCollection="true"', 'isCollection="false"')
    [problem] = _import(single).problems
    assert problem.element_id == "publish" and "多实例" in problem.message


def test_a_list_nobody_fills_in_is_refused_at_the_activity_that_iterates_it():
    nobody = LIST.replace(_flow("f1", "start", "select"), _flow("f1", "start", "publish")).replace(
        _flow("f2", "select", "publish"), "").replace('<bpmn:task id="select" name="Select platforms">'
        '<bpmn:dataOutputAssociation id="out"><bpmn:targetRef>platforms_ref</bpmn:targetRef></bpmn:dataOutputAssociation>'
        '</bpmn:task>', "")
    [problem] = _import(nobody).problems
    assert problem.element_id == "publish" and "Selected platforms" in problem.message and "没有人填写" in problem.message
    assert "nobody" in problem.message_en


# -- a conditional event with nothing written: a person confirms it has come true ----------------------------

CONDITIONAL = _model("\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:intermediateCatchEvent id="wait" name="材料齐全">'
    '<bpmn:conditionalEventDefinition><bpmn:condition /></bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>',
    '<bpmn:endEvent id="end" />',
    _flow("f1", "start", "wait"), _flow("f2", "wait", "end"),
]), di='<bpmndi:BPMNShape id="wait_di" bpmnElement="wait"><dc:Bounds x="282" y="82" width="36" height="36" /></bpmndi:BPMNShape>')


def test_a_conditional_event_without_condition_becomes_a_person_s_confirmation(session):
    [problem] = _import(CONDITIONAL, manual=False).problems
    assert problem.element_id == "wait" and "条件" in problem.message
    imported = _import(CONDITIONAL)
    assert imported.problems == []
    tree, wait = _element(imported.files, "processes/imported.bpmn", "wait")
    assert etree.QName(wait).localname == "userTask" and wait.get("name") == "确认条件已满足：材料齐全"
    [bounds] = tree.findall(f".//{{{BPMNDI}}}BPMNShape[@bpmnElement='wait']/{{{DC}}}Bounds")
    assert [bounds.get(k) for k in ("x", "y", "width", "height")] == ["250", "60", "100", "80"]  # same centre
    actor, inst = _deploy_and_start(session, imported.files)
    _complete(session, inst, actor, "wait", {})
    session.refresh(inst)
    assert inst.status == InstanceStatus.COMPLETED

    # On a boundary nobody could be asked without redrawing: refused, saying what to do.
    boundary = _model("\n".join([
        '<bpmn:startEvent id="start" />', '<bpmn:userTask id="work" name="办理" />',
        '<bpmn:boundaryEvent id="changed" name="情况变化" attachedToRef="work">'
        '<bpmn:conditionalEventDefinition><bpmn:condition /></bpmn:conditionalEventDefinition></bpmn:boundaryEvent>',
        '<bpmn:endEvent id="end" /><bpmn:endEvent id="end_changed" />',
        _flow("f1", "start", "work"), _flow("f2", "work", "end"), _flow("f3", "changed", "end_changed"),
    ]))
    [problem] = _import(boundary).problems
    assert problem.element_id == "changed" and "表单" in problem.hint


ZEEBE_DECISION = _model("\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:businessRuleTask id="check" name="Check risks"><bpmn:extensionElements>'
    '<zeebe:ioMapping><zeebe:output source="= if result != null then result.level else [&#34;none&#34;]" target="riskLevels" />'
    '</zeebe:ioMapping><zeebe:calledDecision decisionId="risk_check" resultVariable="result" />'
    '</bpmn:extensionElements></bpmn:businessRuleTask>',
    '<bpmn:exclusiveGateway id="gw" name="Risk?" default="fine" />',
    '<bpmn:userTask id="reject" name="Reject" /><bpmn:userTask id="accept" name="Accept" />',
    '<bpmn:endEvent id="end_reject" /><bpmn:endEvent id="end_accept" />',
    _flow("f1", "start", "check"), _flow("f2", "check", "gw"),
    _flow("red", "gw", "reject", "red", '= some risk in riskLevels satisfies risk = "red"'),
    _flow("fine", "gw", "accept", "fine"), _flow("f3", "reject", "end_reject"), _flow("f4", "accept", "end_accept"),
])).replace('xmlns:camunda=', 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:camunda=')


def test_a_list_the_decision_gave_is_a_multiple_choice_with_the_words_its_mapping_names(session):
    imported = _import(ZEEBE_DECISION)
    assert imported.problems == []
    form = yaml.safe_load(imported.files["forms/imported/check.yaml"])
    assert form["fields"] == [{"name": "risk_levels", "label": "riskLevels", "type": "multiselect", "required": True,
                               "options": [{"value": "red", "label": "red"}, {"value": "none", "label": "none"}]}]
    actor, inst = _deploy_and_start(session, imported.files)
    _complete(session, inst, actor, "check", {"risk_levels": ["none"]})
    assert _open(session, inst) == ["accept"]  # no red risk: the default flow
