"""Versions of mediation as a designer would make them: a copy of the shipped files, edited as XML and YAML.

Shared by the migration tests (engine, API, CLI). Cases are started with the start data of the
mediation scenarios, so they are the cases the procedure's own tests play.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from lxml import etree

from engine.definitions.deployment import deploy
from engine.runtime import lifecycle
from tests.factories import only_task, open_tasks

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "scenarios" / "mediation"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def copy_mediation(target: Path) -> Path:
    """Copy mediation's process, decision, parameters and forms into a folder laid out like the repository."""
    (target / "processes").mkdir(parents=True)
    for f in (ROOT / "processes").glob("mediation*"):
        shutil.copy(f, target / "processes" / f.name)
    shutil.copytree(ROOT / "forms" / "mediation", target / "forms" / "mediation")
    return target


def deploy_version(session, repo: Path) -> int:
    """Deploy the folder; return the version it got."""
    (result,) = deploy(session, paths=[repo], actor="designer")
    return result.version


def _edit(repo: Path, change) -> None:
    path = repo / "processes" / "mediation.bpmn"
    tree = etree.parse(str(path))
    change(tree.getroot())
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")


def _by_id(root, ident: str):
    return root.xpath("//*[@id=$i]", i=ident)[0]


def add_review_step(repo: Path) -> None:
    """Put a user task ``review`` (负责人审核, dispatcher lane) between ``assign`` and the mediation session."""
    def change(root):
        flow = _by_id(root, "f_assign_m_merge")
        flow.set("targetRef", "review")
        for incoming in _by_id(root, "m_merge").findall(_q(BPMN, "incoming")):
            if incoming.text == "f_assign_m_merge":
                incoming.text = "f_review_m_merge"
        review = etree.Element(_q(BPMN, "userTask"), id="review", name="负责人审核")
        etree.SubElement(review, _q(BPMN, "incoming")).text = "f_assign_m_merge"
        etree.SubElement(review, _q(BPMN, "outgoing")).text = "f_review_m_merge"
        _by_id(root, "assign").addnext(review)
        flow.addnext(etree.Element(_q(BPMN, "sequenceFlow"), id="f_review_m_merge", sourceRef="review",
                                   targetRef="m_merge"))
        etree.SubElement(_by_id(root, "lane_0"), _q(BPMN, "flowNodeRef")).text = "review"
        shape = root.xpath("//di:BPMNShape[@bpmnElement='assign']", namespaces={"di": BPMNDI})[0]
        bounds = shape.find(_q(DC, "Bounds"))
        added = etree.Element(_q(BPMNDI, "BPMNShape"), id="review_di", bpmnElement="review")
        etree.SubElement(added, _q(DC, "Bounds"), x=str(float(bounds.get("x")) + 40), y=str(float(bounds.get("y")) + 90),
                         width=bounds.get("width"), height=bounds.get("height"))
        shape.addnext(added)
    _edit(repo, change)
    (repo / "forms" / "mediation" / "review.yaml").write_text(
        "title: 负责人审核\ntitle_en: Review\nfields:\n"
        "  - {name: dispute_summary, label: 纠纷概要, type: text, readonly: true}\n"
        "  - {name: review_opinion, label: 审核意见, type: textarea, required: true, max_length: 500}\n",
        encoding="utf-8")


def remove_leader_step(repo: Path) -> None:
    """Take out ``alert_leader`` (领导阅批): a high-risk dispute then alerts the police only."""
    gone = {"alert_leader", "f_split_alert_alert_leader", "f_alert_leader_join_alert"}

    def change(root):
        for ident in gone | {"lane_3"}:
            element = _by_id(root, ident)
            element.getparent().remove(element)
        for element in root.iter(_q(BPMNDI, "BPMNShape"), _q(BPMNDI, "BPMNEdge")):
            if element.get("bpmnElement") in gone | {"lane_3"}:
                element.getparent().remove(element)
        for element in list(root.iter(_q(BPMN, "incoming"), _q(BPMN, "outgoing"), _q(BPMN, "flowNodeRef"))):
            if element.text in gone:
                element.getparent().remove(element)
    _edit(repo, change)
    (repo / "forms" / "mediation" / "alert_leader.yaml").unlink()


def remove_follow_up_wait(repo: Path) -> None:
    """Take out the aftercare's ``follow_up_wait`` timer (回访时点): the follow-up visit is due at once."""
    gone = {"follow_up_wait", "f_follow_up_wait_follow_up"}

    def change(root):
        _by_id(root, "f_a_split_follow_up_wait").set("targetRef", "follow_up")
        for incoming in _by_id(root, "follow_up").findall(_q(BPMN, "incoming")):
            if incoming.text == "f_follow_up_wait_follow_up":
                incoming.text = "f_a_split_follow_up_wait"
        for ident in gone:
            element = _by_id(root, ident)
            element.getparent().remove(element)
        for element in list(root.iter(_q(BPMNDI, "BPMNShape"), _q(BPMNDI, "BPMNEdge"))):
            if element.get("bpmnElement") in gone:
                element.getparent().remove(element)
    _edit(repo, change)


def start_data(scenario: str) -> dict:
    return yaml.safe_load((SCENARIOS / f"{scenario}.yaml").read_text(encoding="utf-8"))["start"]["data"]


def start_at(session, actors, step: str, *, version: int):
    """Start a v``version`` mediation case and play it to ``step``.

    Steps: accept, assign, session (a boundary timer waits), alerts (police and leader in parallel),
    leader (the police have acted: the join waits for the leader), after_alerts (at assign, the leader's
    step done), aftercare (an agreement signed: the embedded subprocess waits for the court and two timers).
    """
    high = step in ("alerts", "leader", "after_alerts")
    data = start_data("high_risk_county_terminated" if high else "village_agreement_court_confirmed")
    case = lifecycle.start_instance(session, process_key="mediation", version=version,
                                  actor=actors("li.sl" if high else "wang.wg"), data=data)
    if step == "accept":
        return case
    lifecycle.complete_task(session, task_id=only_task(session, case.id, "accept").id, data={"accepted": True},
                          actor=actors("li.sl"))
    if step in ("assign", "alerts"):
        return case
    if high:
        police = next(t for t in open_tasks(session, case.id) if t.element_id == "alert_police")
        lifecycle.complete_task(session, task_id=police.id, actor=actors("zhou.ga"),
                              data={"police_measures": "已约谈双方，安排民警巡查。", "police_officer": "周承办"})
        if step == "leader":
            return case
        lifecycle.complete_task(session, task_id=only_task(session, case.id, "alert_leader").id, actor=actors("he.ld"),
                              data={"leader_instruction": "由县调委会牵头调处。"})
        only_task(session, case.id, "assign")
        return case
    lifecycle.complete_task(session, task_id=only_task(session, case.id, "assign").id, actor=actors("li.sl"),
                          data={"lead_mediator": "chen.tj", "selection": "调解委员会指定"})
    only_task(session, case.id, "session")
    if step == "session":
        return case
    lifecycle.complete_task(session, task_id=only_task(session, case.id, "session").id, actor=actors("chen.tj"), data={
        "session_date": "2026-03-05", "session_place": "东街社区调解室", "attendees": "张三、李四、调解员陈调解",
        "record": "双方同意由张三出资改道。", "outcome": "达成协议"})
    lifecycle.complete_task(session, task_id=only_task(session, case.id, "agreement").id, actor=actors("chen.tj"), data={
        "facts": "排水沟积水。", "responsibilities": "张某负主要责任。",
        "terms": [{"content": "排水沟改道", "obligor": "张三", "manner": "自行出资施工", "deadline": "2026-03-31"}],
        "signed_date": "2026-03-06", "all_parties_signed": True, "mediator_signed": True, "committee_sealed": True,
        "judicial_intent": "双方已申请", "court_case_no": "(2026)平0101民特12号"})
    assert open_tasks(session, case.id) == []
    return case

