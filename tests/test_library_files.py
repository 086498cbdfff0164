"""The shipped processes are their files: every element a designer sees has its place on the diagram."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
DRAWN = ("task", "userTask", "scriptTask", "serviceTask", "businessRuleTask", "receiveTask", "sendTask", "manualTask",
         "callActivity", "subProcess", "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
         "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
         "sequenceFlow")


@pytest.mark.parametrize("path", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.stem)
def test_every_element_of_a_shipped_process_has_diagram_layout(path):
    tree = etree.parse(str(path))
    elements = {e.get("id") for kind in DRAWN for e in tree.iterfind(f".//bpmn:{kind}", NS)}
    drawn = {e.get("bpmnElement") for e in tree.iterfind(".//bpmndi:BPMNShape", NS)} | \
            {e.get("bpmnElement") for e in tree.iterfind(".//bpmndi:BPMNEdge", NS)}
    assert elements and not elements - drawn, sorted(elements - drawn)


def test_no_generator_writes_the_shipped_processes():
    assert not list((ROOT / "processes").rglob("build_*.py")), "the .bpmn files are the source, edited in a modeler"
