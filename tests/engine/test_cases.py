"""The case view model: masking, labelled data, timeline labels, diagram marks and generated layouts."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from engine.cases import case_file, personal_data
from engine.definitions.bpmn_layout import element_names, with_layout
from engine.runtime import lifecycle
from tests.conftest import REPO
from tests.factories import only_task, start_review

DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"


def test_mask_keeps_ends_of_long_values():
    assert personal_data.mask("13812345678") == "138****5678"
    assert personal_data.mask("110101199003071234") == "110***********1234"
    assert personal_data.mask("abc") == "***" and personal_data.mask(None) == ""


def test_layout_is_generated_only_when_missing():
    text = (REPO / "processes" / "review.bpmn").read_text(encoding="utf-8")
    laid = etree.fromstring(with_layout(text, process_id="review").encode())
    shapes = {s.get("bpmnElement") for s in laid.iter(f"{DI}BPMNShape")}
    assert {"start", "register", "classify", "gw_level", "approve", "lane_dispatcher", "pool_review"} <= shapes
    edges = {e.get("bpmnElement") for e in laid.iter(f"{DI}BPMNEdge")}
    assert {"f1", "f_high", "f_no"} <= edges
    again = with_layout(with_layout(text, process_id="review"), process_id="review")
    assert again.count("BPMNDiagram") == 2, "a file with a diagram is returned unchanged"
    assert element_names(text, process_id="review")["end_approved"] == "同意"


def test_case_view_labels_data_timeline_and_marks(session, actors):
    dispatcher = actors("zhang.dd")
    instance = start_review(session, dispatcher, subject="修缮围墙", amount=20000)
    view = case_file.case_view(session, instance_id=instance.id, actor=dispatcher)
    labels = {d.name: d.label for d in view.data}
    assert labels["subject"] == "事项" and labels["amount"] == "金额（元）"
    assert [e.label for e in view.timeline] == ["发起案件", "办理"]
    assert view.marks.completed == ["register"] and view.marks.current == ["approve"]
    assert [t.title for t in view.tasks] == ["领导审批"] and view.tasks[0].due_at is not None
    approve = only_task(session, instance.id, "approve")
    assert case_file.returnable_steps(session, task=approve) == [("register", "登记")]
    perms = case_file.task_permissions(session, task=approve, actor=actors("he.ld"))
    assert perms.complete and perms.claim and perms.send_back and not perms.urge
    assert case_file.task_permissions(session, task=approve, actor=actors("zheng.dc")).urge
    lifecycle.complete_task(session, task_id=approve.id, data={"approved": True}, actor=actors("he.ld"))
    view = case_file.case_view(session, instance_id=instance.id, actor=dispatcher)
    assert view.timeline[-1].label == "办结" and view.timeline[-1].detail == "同意"


def test_a_step_added_by_hand_without_layout_still_appears_on_the_diagram():
    # Issue 13, item 6: the file's own diagram does not draw the new step, so the layout is generated.
    shipped = (Path(__file__).resolve().parents[2] / "processes" / "grid_event.bpmn").read_text(encoding="utf-8")
    assert with_layout(shipped, process_id="grid_event") == shipped, "a fully drawn file is left as it is"
    added = shipped.replace('<bpmn:userTask id="handle"', '<bpmn:userTask id="review_extra" name="复核" />\n'
                                                          '    <bpmn:userTask id="handle"', 1)
    laid = etree.fromstring(with_layout(added, process_id="grid_event").encode())
    shapes = {s.get("bpmnElement") for s in laid.iter(f"{DI}BPMNShape")}
    assert {"review_extra", "handle", "accept"} <= shapes
    assert len(list(laid.iter(f"{DI}BPMNDiagram"))) == 1
