"""Change a procedure without touching code: deploy an edited mediation BPMN with an added review step.

A designer adds "调解协议审查" (a dispatcher checks the agreement before the follow-up starts) in the
modeller, adds its form, and deploys. New cases take the new step; a case already running keeps
the version it started with and finishes without it.
"""
from __future__ import annotations

import shutil
from datetime import timedelta

from lxml import etree

from engine.definitions.deployment import deploy
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import Instance
from tests.scenario_player import PROCESSES, ROOT, Player, process_files

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}

REVIEW_FORM = """title: 调解协议审查
fields:
  - {name: facts, label: 纠纷的主要事实和争议事项, type: textarea, readonly: true}
  - {name: agreement_reviewed, label: 协议内容合法、表述清楚, type: boolean, required: true}
  - {name: agreement_review_note, label: 审查意见, type: textarea, max_length: 500}
"""

START = {
    "source": "当事人申请", "dispute_type": "邻里纠纷", "dispute_summary": "宅基地滴水纠纷",
    "description": "屋檐滴水落入邻家院内。", "amount": 1000, "people_count": 2, "violence_risk": False,
    "parties": [{"name": "甲", "role": "申请人"}, {"name": "乙", "role": "被申请人"}],
    "township": "chengguan", "village": "dongjie",
}
AGREEMENT = {
    "facts": "屋檐滴水落入邻家院内。", "responsibilities": "甲负主要责任。",
    "terms": [{"content": "加装檐沟", "obligor": "甲", "manner": "自行施工", "deadline": "2026-03-31"}],
    "signed_date": "2026-03-03", "all_parties_signed": True, "mediator_signed": True, "committee_sealed": True,
    "judicial_intent": "不申请",
}
STEPS = [
    {"task": "accept", "as": "li.sl", "data": {"accepted": True}},
    {"task": "assign", "as": "li.sl", "data": {"lead_mediator": "chen.tj", "selection": "调解委员会指定"}},
]
AGREE = [
    {"task": "session", "as": "chen.tj", "data": {
        "session_date": "2026-03-03", "session_place": "东街社区", "attendees": "甲、乙", "record": "同意加装檐沟。",
        "outcome": "达成协议"}},
    {"task": "agreement", "as": "chen.tj", "data": AGREEMENT},
]


def add_review_step(repo) -> None:
    """Do in XML what the designer does in the modeller: put a user task between two steps."""
    path = repo / "processes" / "mediation.bpmn"
    tree = etree.parse(str(path))
    process = tree.find("bpmn:process", NS)
    flow = process.find("bpmn:sequenceFlow[@id='f_gw_effective_aftercare']", NS)
    flow.set("targetRef", "agreement_review")
    task = etree.SubElement(process, f"{{{BPMN}}}userTask", id="agreement_review", name="调解协议审查")
    ext = etree.SubElement(etree.SubElement(task, f"{{{BPMN}}}extensionElements"),
                           f"{{{NS['spiffworkflow']}}}properties")
    etree.SubElement(ext, f"{{{NS['spiffworkflow']}}}property", name="candidateOrg", value="mediation_org")
    etree.SubElement(task, f"{{{BPMN}}}incoming").text = "f_gw_effective_aftercare"
    etree.SubElement(task, f"{{{BPMN}}}outgoing").text = "f_review_aftercare"
    etree.SubElement(process, f"{{{BPMN}}}sequenceFlow", id="f_review_aftercare",
                     sourceRef="agreement_review", targetRef="aftercare")
    aftercare = process.find("bpmn:subProcess[@id='aftercare']", NS)
    aftercare.find("bpmn:incoming", NS).text = "f_review_aftercare"
    lane = process.find("bpmn:laneSet/bpmn:lane[@name='调度员']", NS)
    etree.SubElement(lane, f"{{{BPMN}}}flowNodeRef").text = "agreement_review"
    plane = tree.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    shape = etree.SubElement(plane, f"{{{NS['bpmndi']}}}BPMNShape", id="agreement_review_di", bpmnElement="agreement_review")
    etree.SubElement(shape, f"{{{NS['dc']}}}Bounds", x="3300", y="35", width="120", height="80")
    edge = etree.SubElement(plane, f"{{{NS['bpmndi']}}}BPMNEdge", id="f_review_aftercare_di", bpmnElement="f_review_aftercare")
    for x, y in (("3420", "75"), ("3500", "75")):
        etree.SubElement(edge, f"{{{NS['di']}}}waypoint", x=x, y=y)
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    (repo / "forms" / "mediation" / "agreement_review.yaml").write_text(REVIEW_FORM, encoding="utf-8")


def test_new_cases_take_the_added_step_running_ones_keep_their_version(services, frozen, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(PROCESSES, repo / "processes", ignore=shutil.ignore_patterns("tools", "__pycache__"))
    shutil.copytree(ROOT / "forms", repo / "forms")
    add_review_step(repo)

    player = Player(services, frozen, restore=True)
    try:
        player.deploy("mediation")
        s = player.session
        old = lifecycle.start_instance(s, process_key="mediation", data=START, actor=actor_for(s, username="li.sl"))
        player.instance_id = old_id = old.id
        for step in STEPS:
            player.run_step(step)
        player.checkpoint()

        results = deploy(player.session, paths=[repo / "processes" / p.name for p in process_files("mediation")],
                         actor="designer")
        (result,) = results
        assert result.created and result.key == "mediation"
        player.checkpoint()

        s = player.session
        new = lifecycle.start_instance(s, process_key="mediation", data=START, actor=actor_for(s, username="li.sl"))
        player.instance_id = new_id = new.id
        for step in STEPS + AGREE:
            player.run_step(step)
            player.checkpoint()
        player.check({"tasks": ["agreement_review"]})
        player.run_step({"task": "agreement_review", "as": "li.sl", "data": {"agreement_reviewed": True}})
        player.checkpoint()
        player.check({"tasks": [], "data": {"agreement_reviewed": True}})

        player.instance_id = old_id
        for step in AGREE:
            player.run_step(step)
            player.checkpoint()
        player.check({"tasks": [], "status": "running"})  # straight on to the follow-up wait: no review step
        player.move_clock(timedelta(days=16))
        player.run_step({"task": "follow_up", "as": "chen.tj", "data": {
            "visit_date": "2026-03-18", "visit_method": "电话回访", "performance": "已履行", "satisfaction": "满意"}})
        player.run_step({"task": "close", "as": "li.sl", "data": {"archive_no": "TJ-OLD"}})
        player.check({"status": "completed", "end": "end_closed"})

        s = player.session
        old_case, new_case = s.get(Instance, old_id), s.get(Instance, new_id)
        assert new_case.definition.version == old_case.definition.version + 1
        assert "agreement_reviewed" not in old_case.data
        assert "agreement_review" in new_case.definition.spec["meta"]["user_tasks"]
        assert "agreement_review" not in old_case.definition.spec["meta"]["user_tasks"]
    finally:
        player.close()


def test_redeploying_the_unchanged_library_makes_no_new_version(services, frozen):
    player = Player(services, frozen, restore=False)
    try:
        first = deploy(player.session, paths=process_files("mediation"))
        again = deploy(player.session, paths=process_files("mediation"))
        assert [r.version for r in again] == [r.version for r in first]
        assert [r.created for r in again] == [False]
    finally:
        player.close()
