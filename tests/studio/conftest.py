"""Studio fixtures: the shipped library deployed into the test's transaction, designers and others."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.definitions import deployment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def library(session):
    """Deploy the shipped processes (with their forms) into the test's transaction."""
    deployment.deploy(session, paths=[*sorted((ROOT / "processes").glob("*.bpmn")),
                                       *sorted((ROOT / "processes").glob("*.dmn")),
                                       *sorted((ROOT / "processes").glob("*.yaml")), ROOT / "forms"])
    session.flush()


REVIEW_FORM = """title: 受理复核
fields:
  - {name: dispute_summary, label: 纠纷概要, type: text, readonly: true}
  - {name: review_ok, label: 复核同意受理审查, type: boolean, required: true}
"""


def add_review_step(bpmn: str) -> str:
    """Put a 复核 (review) user task between mediation's start and its acceptance review, with layout."""
    steps = [
        ('<bpmn:flowNodeRef>accept</bpmn:flowNodeRef>',
         '<bpmn:flowNodeRef>review</bpmn:flowNodeRef>\n        <bpmn:flowNodeRef>accept</bpmn:flowNodeRef>'),
        ('<bpmn:sequenceFlow id="f_start_accept" sourceRef="start" targetRef="accept" />',
         '<bpmn:sequenceFlow id="f_start_accept" sourceRef="start" targetRef="review" />\n'
         '    <bpmn:sequenceFlow id="f_review_accept" sourceRef="review" targetRef="accept" />'),
        ('<bpmn:userTask id="accept" name="受理审查">',
         '<bpmn:userTask id="review" name="受理复核">\n      <bpmn:incoming>f_start_accept</bpmn:incoming>\n'
         '      <bpmn:outgoing>f_review_accept</bpmn:outgoing>\n    </bpmn:userTask>\n'
         '    <bpmn:userTask id="accept" name="受理审查">'),
        ('<bpmn:incoming>f_start_accept</bpmn:incoming>\n      <bpmn:outgoing>f_accept',
         '<bpmn:incoming>f_review_accept</bpmn:incoming>\n      <bpmn:outgoing>f_accept'),
        ('<bpmndi:BPMNShape id="accept_di" bpmnElement="accept">',
         '<bpmndi:BPMNShape id="review_di" bpmnElement="review">\n        <dc:Bounds x="200" y="140" width="100" height="60" />\n'
         '      </bpmndi:BPMNShape>\n      <bpmndi:BPMNShape id="accept_di" bpmnElement="accept">'),
    ]
    for old, new in steps:
        assert bpmn.count(old) == 1, old
        bpmn = bpmn.replace(old, new)
    return bpmn
