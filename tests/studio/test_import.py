"""Importing Camunda-style models: each Camunda setting becomes Pingan's, or is refused by element."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from lxml import etree

from engine.definitions import deployment
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.spiff.parser import NS
from engine.studio.imports import convert_files, import_files
from engine.studio.workspace import workspace
from tests.factories import open_tasks

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"

# A leave request as Camunda Modeler 5 writes it: forms, groups, users, due dates, JUEL, a data
# store, a text annotation and a group drawn beside the flow.
LEAVE = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="{CAMUNDA}"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.20.0">
  <bpmn:dataStore id="DataStore_hr" name="HR system" />
  <bpmn:process id="leave_request" name="请假申请" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="start" name="提交申请" camunda:formKey="embedded:app:forms/apply.html">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="days" label="天数" type="long">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          </camunda:formField>
          <camunda:formField id="leaveType" label="类型" type="enum">
            <camunda:value id="annual" name="年假" /><camunda:value id="sick" name="病假" />
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="approve" name="部门审批" camunda:formKey="embedded:app:forms/approve.html"
        camunda:candidateGroups="mediator" camunda:dueDate="${{deadline}}" camunda:followUpDate="2026-03-05T09:00:00+08:00"
        camunda:asyncBefore="true">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="approved" label="同意" type="boolean" />
        </camunda:formData>
        <camunda:inputOutput>
          <camunda:inputParameter name="deadline">2026-03-04T18:00:00+08:00</camunda:inputParameter>
          <camunda:outputParameter name="decidedBy">${{approved}}</camunda:outputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:dataOutputAssociation id="toStore"><bpmn:targetRef>StoreRef</bpmn:targetRef></bpmn:dataOutputAssociation>
    </bpmn:userTask>
    <bpmn:dataStoreReference id="StoreRef" name="HR" dataStoreRef="DataStore_hr" />
    <bpmn:exclusiveGateway id="gw" name="同意？">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>yes</bpmn:outgoing>
      <bpmn:outgoing>no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve" />
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="gw" />
    <bpmn:sequenceFlow id="yes" name="同意" sourceRef="gw" targetRef="record">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">${{approved &amp;&amp; days &lt;= 10}}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="no" name="不同意" sourceRef="gw" targetRef="end_no">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">${{!approved || days &gt; 10}}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:userTask id="record" name="登记" camunda:candidateUsers="zhou.ga">
      <bpmn:incoming>yes</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="record" targetRef="end_yes" />
    <bpmn:endEvent id="end_yes" name="已登记"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_no" name="未同意"><bpmn:incoming>no</bpmn:incoming></bpmn:endEvent>
    <bpmn:textAnnotation id="note"><bpmn:text>人事系统另行登记</bpmn:text></bpmn:textAnnotation>
    <bpmn:association id="a1" sourceRef="record" targetRef="note" />
    <bpmn:group id="grp" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="leave_request">
    <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="approve_di" bpmnElement="approve"><dc:Bounds x="180" y="78" width="100" height="80" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="gw_di" bpmnElement="gw"><dc:Bounds x="330" y="93" width="50" height="50" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="record_di" bpmnElement="record"><dc:Bounds x="430" y="78" width="100" height="80" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="end_yes_di" bpmnElement="end_yes"><dc:Bounds x="580" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="end_no_di" bpmnElement="end_no"><dc:Bounds x="337" y="200" width="36" height="36" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _props(tree, element_id: str) -> dict[str, str]:
    el = tree.find(f".//*[@id='{element_id}']")
    return {p.get("name"): p.get("value") for p in el.iterfind(".//spiffworkflow:property", NS)}


def test_camunda_settings_become_pingan_properties_forms_and_python(session):
    files, problems = import_files({"leave.bpmn": LEAVE})
    # The one thing left: who does 登记? It has a candidate user but no role (no lane, no default role).
    assert [(p.element_id, "泳道" in p.message) for p in problems] == [("record", True)], [str(p) for p in problems]
    tree = etree.fromstring(files["processes/leave_request.bpmn"].encode())
    # formKey embedded:app:forms/approve.html names the form "approve": the task's own id, so no formKey is needed.
    assert _props(tree, "approve") == {"dueDate": "deadline", "warnAt": "'2026-03-05T09:00:00+08:00'"}
    pre = tree.find(".//*[@id='approve']//spiffworkflow:preScript", NS).text
    post = tree.find(".//*[@id='approve']//spiffworkflow:postScript", NS).text
    assert pre == "deadline = '2026-03-04T18:00:00+08:00'" and post == "decided_by = approved"
    conditions = {f.get("id"): f.findtext("bpmn:conditionExpression", namespaces=NS)
                  for f in tree.iterfind(".//bpmn:sequenceFlow", NS)}
    assert conditions["yes"] == "approved and days_value <= 10"
    assert conditions["no"] == "not approved or days_value > 10"
    # candidateGroups="mediator" is a role: the task now sits in a lane of that role.
    lane = tree.find(".//bpmn:lane", NS)
    assert lane.get("name") == "调解员" and [r.text for r in lane] == ["approve"]
    assert CAMUNDA not in {etree.QName(a).namespace for el in tree.iter() for a in el.attrib}
    approve_form = yaml.safe_load(files["forms/leave_request/approve.yaml"])
    assert approve_form["fields"] == [{"name": "approved", "label": "同意", "type": "boolean"}]
    assert _props(tree, "record") == {"assignee": "'zhou.ga'"}
    start_form = yaml.safe_load(files["forms/leave_request/start.yaml"])
    assert start_form["fields"] == [
        {"name": "days_value", "label": "天数", "type": "integer", "required": True},  # days() is a helper
        {"name": "leave_type", "label": "类型", "type": "select",
         "options": [{"value": "annual", "label": "年假"}, {"value": "sick", "label": "病假"}]}]


def test_a_converted_model_deploys_and_runs_with_the_data_store_only_drawn(session):
    files, problems = import_files({"leave.bpmn": LEAVE}, default_role="handler")
    assert problems == []
    with workspace(files) as root:
        [result] = deployment.deploy(session, paths=[root], actor="designer")
    assert result.key == "leave_request" and result.created
    mediator = actor_for(session, username="chen.tj")
    inst = lifecycle.start_instance(session, process_key="leave_request", actor=mediator,
                                  data={"days_value": 3, "leave_type": "annual"})
    [task] = open_tasks(session, inst.id)
    assert (task.element_id, task.candidate_role, str(task.due_at)[:16]) == ("approve", "mediator", "2026-03-04 10:00")
    lifecycle.complete_task(session, task_id=task.id, data={"approved": True}, actor=mediator)
    [task] = open_tasks(session, inst.id)
    assert task.element_id == "record" and task.assignee.username == "zhou.ga"
    lifecycle.complete_task(session, task_id=task.id, data={}, actor=actor_for(session, username="zhou.ga"))
    session.refresh(inst)
    assert str(inst.status) == "completed"


def test_what_pingan_cannot_run_is_refused_by_element_or_becomes_a_person_s_step():
    java = LEAVE.replace('<bpmn:userTask id="record" name="登记" camunda:candidateUsers="zhou.ga">',
                         '<bpmn:serviceTask id="record" name="登记" camunda:class="com.example.Record">').replace(
        "</bpmn:userTask>\n    <bpmn:sequenceFlow id=\"f3\"", "</bpmn:serviceTask>\n    <bpmn:sequenceFlow id=\"f3\"")
    _, problems = import_files({"leave.bpmn": java}, default_role="handler")
    [problem] = problems
    assert problem.element_id == "record" and "com.example.Record" in problem.message and "Java" in problem.message
    assert "脚本任务" in problem.hint
    files, problems = import_files({"leave.bpmn": java}, default_role="handler", manual_steps=True)
    assert problems == []
    tree = etree.fromstring(files["processes/leave_request.bpmn"].encode())
    assert etree.QName(tree.find(".//*[@id='record']")).localname == "userTask"
    assert "forms/leave_request/record.yaml" in files


def test_an_assignee_read_from_a_field_asks_the_person_before_and_two_ways_to_pick_are_refused():
    chosen = LEAVE.replace('camunda:candidateUsers="zhou.ga"', 'camunda:assignee="${clerkName}"')
    files, problems = import_files({"leave.bpmn": chosen}, default_role="handler")
    assert problems == []
    tree = etree.fromstring(files["processes/leave_request.bpmn"].encode())
    assert _props(tree, "record") == {"assignee": "clerk_name"}
    fields = yaml.safe_load(files["forms/leave_request/approve.yaml"])["fields"]
    assert {"name": "clerk_name", "label": "clerk_name", "type": "person", "required": True} in fields
    both = LEAVE.replace('camunda:candidateUsers="zhou.ga"', 'camunda:assignee="demo" camunda:candidateUsers="zhou.ga"')
    _, problems = import_files({"leave.bpmn": both}, default_role="handler")
    assert [p.element_id for p in problems] == ["record"] and "候选人" in problems[0].message


def test_expressions_beyond_the_simple_ones_are_refused_at_their_flow():
    odd = LEAVE.replace("${approved &amp;&amp; days &lt;= 10}", "${execution.getVariable('approved')}")
    _, problems = import_files({"leave.bpmn": odd}, default_role="handler")
    refused = [p for p in problems if p.element_id == "yes"]
    assert refused and "execution" in refused[0].message and "同意" in refused[0].message


def test_groovy_scripts_and_listeners_are_refused_with_what_to_draw_instead():
    script = LEAVE.replace(
        '<bpmn:sequenceFlow id="f3" sourceRef="record" targetRef="end_yes" />',
        '<bpmn:sequenceFlow id="f3" sourceRef="record" targetRef="calc" />'
        '<bpmn:scriptTask id="calc" name="计算" scriptFormat="groovy"><bpmn:incoming>f3</bpmn:incoming>'
        '<bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>execution.setVariable("x", 1)</bpmn:script></bpmn:scriptTask>'
        '<bpmn:sequenceFlow id="f4" sourceRef="calc" targetRef="end_yes" />').replace(
        '<bpmn:endEvent id="end_yes" name="已登记"><bpmn:incoming>f3</bpmn:incoming>',
        '<bpmn:endEvent id="end_yes" name="已登记"><bpmn:incoming>f4</bpmn:incoming>')
    _, problems = import_files({"leave.bpmn": script}, default_role="handler")
    calc = [p for p in problems if p.element_id == "calc"]
    assert calc and "groovy" in calc[0].message and "Python" in calc[0].message


def test_a_model_with_only_non_executable_artefacts_beside_the_flow_validates_as_it_is():
    """A data store, a text annotation and a group drawn in a Pingan process do not block a deploy."""
    files, problems = import_files({"leave.bpmn": LEAVE}, default_role="handler")
    assert problems == []
    bpmn = files["processes/leave_request.bpmn"]
    assert "dataStoreReference" in bpmn and "textAnnotation" in bpmn  # still drawn
    with workspace(files) as root:
        [valid] = deployment.validate(deployment.collect_sources([root]))
    assert valid.parsed.key == "leave_request"


def test_an_implicit_fork_gets_a_drawn_parallel_gateway():
    fork = """<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="defs" targetNamespace="x">
  <bpmn:process id="fork" isExecutable="false">
    <bpmn:startEvent id="s"><bpmn:outgoing>a</bpmn:outgoing><bpmn:outgoing>b</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="t1" name="一"><bpmn:incoming>a</bpmn:incoming><bpmn:outgoing>c</bpmn:outgoing></bpmn:task>
    <bpmn:task id="t2" name="二"><bpmn:incoming>b</bpmn:incoming><bpmn:outgoing>d</bpmn:outgoing></bpmn:task>
    <bpmn:endEvent id="e1"><bpmn:incoming>c</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>d</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="t1" /><bpmn:sequenceFlow id="b" sourceRef="s" targetRef="t2" />
    <bpmn:sequenceFlow id="c" sourceRef="t1" targetRef="e1" /><bpmn:sequenceFlow id="d" sourceRef="t2" targetRef="e2" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="dd"><bpmndi:BPMNPlane id="pp" bpmnElement="fork">
    <bpmndi:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="10" y="10" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="a_di" bpmnElement="a"><di:waypoint x="46" y="28" /><di:waypoint x="100" y="28" /></bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>"""
    result = convert_files({"fork.bpmn": fork})
    assert result.problems == []
    tree = etree.fromstring(result.files["processes/fork.bpmn"].encode())
    gateway = tree.find(".//bpmn:parallelGateway", NS)
    assert gateway.get("id") == "s_split" and [o.text for o in gateway.iterfind("bpmn:outgoing", NS)] == ["a", "b"]
    shape = tree.find(".//bpmndi:BPMNShape[@bpmnElement='s_split']", {"bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"})
    assert shape is not None
    assert any("s_split" in c and "并行网关" in c for c in result.changes)
    assert tree.find(".//*[@id='fork']").get("isExecutable") == "true"
    assert etree.QName(tree.find(".//*[@id='t1']")).localname == "scriptTask"  # a plain task passes through


def test_the_cli_writes_the_converted_files_and_says_what_is_left(tmp_path):
    from web.cli import main

    source = tmp_path / "leave.bpmn"
    source.write_text(LEAVE, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import", str(source), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "[record]" in result.output and "登记" in result.output
    assert (out / "processes" / "leave_request.bpmn").is_file() and (out / "forms" / "leave_request" / "approve.yaml").is_file()
    again = CliRunner().invoke(main, ["import", str(source), "--out", str(out)])
    assert again.exit_code == 1 and "nothing written" in again.output
    ok = CliRunner().invoke(main, ["import", str(source), "--default-role", "handler"])
    assert ok.exit_code == 0, ok.output
    assert "ready to deploy" in ok.output and "processes/leave_request.bpmn" in ok.output


PINGAN_WITH_DRAWINGS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="x">
  <bpmn:dataStore id="store" name="台账系统" />
  <bpmn:process id="drawn" name="带图示的流程" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="调度员"><bpmn:flowNodeRef>s</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>u</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="u" name="登记">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:ioSpecification id="io"><bpmn:dataInput id="in1" name="申请书" /><bpmn:inputSet id="is"><bpmn:dataInputRefs>in1</bpmn:dataInputRefs></bpmn:inputSet><bpmn:outputSet id="os" /></bpmn:ioSpecification>
      <bpmn:dataInputAssociation id="dia"><bpmn:sourceRef>doc_ref</bpmn:sourceRef><bpmn:targetRef>in1</bpmn:targetRef></bpmn:dataInputAssociation>
      <bpmn:dataOutputAssociation id="doa"><bpmn:targetRef>store_ref</bpmn:targetRef></bpmn:dataOutputAssociation>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="u" /><bpmn:sequenceFlow id="f2" sourceRef="u" targetRef="e" />
    <bpmn:dataObject id="doc" name="申请书" /><bpmn:dataObjectReference id="doc_ref" dataObjectRef="doc" />
    <bpmn:dataStoreReference id="store_ref" dataStoreRef="store" />
    <bpmn:textAnnotation id="note"><bpmn:text>线下另有纸质台账</bpmn:text></bpmn:textAnnotation>
    <bpmn:association id="as" sourceRef="u" targetRef="note" />
    <bpmn:group id="g" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_data_objects_stores_annotations_and_groups_do_not_block_validation_or_a_run(session, tmp_path):
    """Drawn for the reader only: `pingan validate` and deploy ignore them, and a case runs past them."""
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "drawn.bpmn").write_text(PINGAN_WITH_DRAWINGS, encoding="utf-8")
    (tmp_path / "forms" / "drawn").mkdir(parents=True)
    (tmp_path / "forms" / "drawn" / "u.yaml").write_text("title: 登记\nfields:\n  - {name: note, label: 说明, type: text}\n",
                                                         encoding="utf-8")
    [result] = deployment.deploy(session, paths=[tmp_path], actor="designer")
    dispatcher = actor_for(session, username="zhang.dd")
    inst = lifecycle.start_instance(session, process_key="drawn", actor=dispatcher)
    [task] = open_tasks(session, inst.id)
    lifecycle.complete_task(session, task_id=task.id, data={"note": "已登记"}, actor=dispatcher)
    session.refresh(inst)
    assert (result.key, str(inst.status)) == ("drawn", "completed")


def _problems(bpmn: str) -> list:
    try:
        deployment.validate(deployment.SourceSet(bpmn={"p.bpmn": bpmn.encode()}))
    except deployment.DefinitionInvalid as exc:
        return exc.details
    return []


def test_validation_names_the_element_a_parser_error_is_about_in_designer_terms():
    plain = PINGAN_WITH_DRAWINGS.replace('<bpmn:userTask id="u" name="登记">', '<bpmn:task id="u" name="登记">').replace(
        "</bpmn:ioSpecification>", "</bpmn:ioSpecification>").replace("</bpmn:userTask>", "</bpmn:task>")
    [problem] = [p for p in _problems(plain) if p.element_id == "u"]
    assert "普通任务" in problem.message and "用户任务" in problem.message and problem.line
    no_start = PINGAN_WITH_DRAWINGS.replace(
        '<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>',
        '<bpmn:subProcess id="sp" name="内部处理"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>'
        '<bpmn:endEvent id="spe" /></bpmn:subProcess><bpmn:sequenceFlow id="f3" sourceRef="sp" targetRef="e" />'
        '<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>').replace(
        '<bpmn:flowNodeRef>e</bpmn:flowNodeRef>', '<bpmn:flowNodeRef>e</bpmn:flowNodeRef><bpmn:flowNodeRef>sp</bpmn:flowNodeRef>').replace(
        '<bpmn:sequenceFlow id="f2" sourceRef="u" targetRef="e" />', '<bpmn:sequenceFlow id="f2" sourceRef="u" targetRef="sp" />')
    [problem] = [p for p in _problems(no_start) if p.element_id != "u"]  # u's form is not given here
    assert problem.element_id == "sp" and "'内部处理'（sp）需要正好一个开始事件" in problem.message
    assert "object at 0x" not in problem.message + problem.message_en


@pytest.mark.parametrize(("text", "python"), [
    ("${x == 'a'}", "x == 'a'"),
    ("${amount > 100}", "amount > 100"),
    ("#{approved && !rejected}", "approved and not rejected"),
    ("${level eq 'high' || score ge 80}", "level == 'high' or score >= 80"),
    ("${applicant.age >= 18}", "applicant['age'] >= 18"),
    ("${creditScore < 600}", "credit_score < 600"),
    ('= status = "done"', 'status == "done"'),
    ('= some risk in riskLevels satisfies risk = "red"', 'any(risk == "red" for risk in risk_levels)'),
    ('= every r in rs satisfies r > 3', 'all(r > 3 for r in rs)'),
    ("true", "True"),
    ("amount > 3", "amount > 3"),
])
def test_simple_juel_and_feel_become_python(text, python):
    from engine.studio.imported_expressions import to_python

    assert to_python(text) == python


@pytest.mark.parametrize("text", ["${bean.check(x)}", "${a ? b : c}", "${execution.getVariable('x')}",
                                  "Hello ${name}", "${empty list}", '= some r in rs satisfies f(r)',
                                  "Invoice approved?"])
def test_other_expressions_are_refused_in_chinese_and_english(text):
    from engine.studio.imported_expressions import NotConvertible, to_python

    with pytest.raises(NotConvertible) as exc:
        to_python(text)
    assert exc.value.zh and exc.value.en and text in exc.value.zh


def test_pingan_s_own_files_go_through_the_import_unchanged():
    """Uploading an export (or the shipped library) must not rewrite it: a redeploy would make a new version."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in
             [*(root / "processes").glob("*.bpmn"), *(root / "processes").glob("*.dmn"),
              *(root / "processes").glob("*.yaml"), *(root / "forms").rglob("*.yaml")]}
    result = convert_files(files)
    assert result.problems == [] and result.changes == []
    assert result.files == files


def test_a_refusal_points_at_the_line_of_its_element_in_the_converted_file():
    java = LEAVE.replace('<bpmn:userTask id="record" name="登记" camunda:candidateUsers="zhou.ga">',
                         '<bpmn:serviceTask id="record" name="登记" camunda:class="com.example.Record">').replace(
        "</bpmn:userTask>\n    <bpmn:sequenceFlow id=\"f3\"", "</bpmn:serviceTask>\n    <bpmn:sequenceFlow id=\"f3\"")
    files, [problem] = import_files({"leave.bpmn": java}, default_role="handler")
    converted = files[problem.file].splitlines()
    assert 'id="record"' in converted[problem.line - 1]


def test_a_file_that_is_not_xml_is_reported_with_its_line_and_left_out():
    files, [problem] = import_files({"broken.bpmn": '<bpmn:definitions xmlns:bpmn="x">\n<oops>\n</bpmn:definitions>'})
    assert files == {} and problem.file == "broken.bpmn" and problem.line and "XML" in problem.message
