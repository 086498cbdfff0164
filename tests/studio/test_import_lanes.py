"""The lanes an import adds are drawn: a shape for each, inside its pool, covering its tasks where it can.

The studio's modeler and the case page (bpmn-js) draw a lane only from its BPMNShape. Checked here
on small models of the three shapes a file comes in (a pool without lanes, a pool with lanes, no
pool at all), on every MIWG model that gets a new lane, and through the case diagram's layout.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.definitions import deployment
from engine.definitions.bpmn_layout import with_layout
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import InstanceStatus
from engine.studio.imports import convert_files
from engine.studio.workspace import workspace
from tests.factories import open_tasks

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
MIWG = Path("/work/shared/miwg")


def _model(process: str, di: str, *, collaboration: str = "", plane: str = "p") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:bpmndi="{BPMNDI}" xmlns:dc="{DC}"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  {collaboration}
  <bpmn:process id="p" name="Complaint" isExecutable="true">
{process}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="{plane}">
{di}
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _shape(element: str, x: int, y: int, w: int = 100, h: int = 80, extra: str = "") -> str:
    return f'<bpmndi:BPMNShape id="{element}_di" bpmnElement="{element}"{extra}><dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}" /></bpmndi:BPMNShape>'


# Registered by a mediator (top row), then handled by a handler (bottom row).
FLOW = "\n".join([
    '<bpmn:startEvent id="start" />',
    '<bpmn:userTask id="register" name="Register" camunda:candidateGroups="mediator" />',
    '<bpmn:userTask id="handle" name="Handle" camunda:candidateGroups="handler" />',
    '<bpmn:endEvent id="end" />',
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="register" />',
    '<bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="handle" />',
    '<bpmn:sequenceFlow id="f3" sourceRef="handle" targetRef="end" />',
])
SHAPES = "\n".join([_shape("start", 160, 122, 36, 36), _shape("register", 240, 100), _shape("handle", 400, 260),
                    _shape("end", 560, 282, 36, 36)])
POOL = '<bpmn:collaboration id="c"><bpmn:participant id="pool" name="Complaint" processRef="p" /></bpmn:collaboration>'


def _boxes(text: str) -> dict[str, tuple[float, float, float, float]]:
    root = etree.fromstring(text.encode())
    return {s.get("bpmnElement"): tuple(float(s.find(f"{{{DC}}}Bounds").get(k)) for k in ("x", "y", "width", "height"))
            for s in root.iter(f"{{{BPMNDI}}}BPMNShape")}


def _inside(inner, outer) -> bool:
    return (inner[0] >= outer[0] and inner[1] >= outer[1] and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


def _check_lanes(text: str) -> dict[str, list[str]]:
    """Assert every lane of a drawn process has a horizontal shape inside its pool; return pool -> lanes, top first."""
    root = etree.fromstring(text.encode())
    boxes = _boxes(text)
    horizontal = {s.get("bpmnElement") for s in root.iter(f"{{{BPMNDI}}}BPMNShape") if s.get("isHorizontal") == "true"}
    planes = {p.get("bpmnElement") for p in root.iter(f"{{{BPMNDI}}}BPMNPlane")}
    pools: dict[str, list[str]] = {}
    for proc in root.iter(f"{{{BPMN}}}process"):
        participant = next((p for p in root.iter(f"{{{BPMN}}}participant") if p.get("processRef") == proc.get("id")), None)
        drawn = participant is not None and participant.getparent().get("id") in planes or proc.get("id") in planes
        lanes = [lane.get("id") for lane in proc.iter(f"{{{BPMN}}}lane")]
        if not lanes or not drawn:
            continue
        assert participant is not None and participant.get("id") in boxes, proc.get("id")
        pool = boxes[participant.get("id")]
        for lane in lanes:
            assert lane in boxes and (lane in horizontal or "_lane_" not in lane), lane  # ours say isHorizontal
            assert _inside(boxes[lane], pool), (lane, boxes[lane], pool)
        pools[participant.get("id")] = sorted(lanes, key=lambda lane: boxes[lane][1])
    return pools


def test_a_pool_without_lanes_is_split_into_the_new_lanes_where_their_tasks_are_drawn():
    text = _model(FLOW, _shape("pool", 100, 60, 600, 320, ' isHorizontal="true"') + SHAPES, collaboration=POOL, plane="c")
    result = convert_files({"complaint.bpmn": text})
    assert result.problems == []
    out = result.files["processes/p.bpmn"]
    assert _check_lanes(out) == {"pool": ["p_lane_mediator", "p_lane_handler"]}
    boxes = _boxes(out)
    top, bottom = boxes["p_lane_mediator"], boxes["p_lane_handler"]
    # Stacked to cover the pool below its name band, cut between the two rows of tasks.
    assert (top[0], top[1], top[2]) == (130, 60, 570) and top[1] + top[3] == bottom[1]
    assert bottom[1] + bottom[3] == 380 and top[3] + bottom[3] == 320
    assert _inside(boxes["register"], top) and _inside(boxes["handle"], bottom)
    assert boxes["pool"] == (100, 60, 600, 320)  # the pool itself does not move
    assert any("新增泳道 调解员" in c and "分成泳道" in c for c in result.changes)
    assert with_layout(out, process_id="p") == out  # the case diagram draws it as it is


def test_a_new_lane_goes_below_the_drawn_lanes_and_the_pool_grows_by_its_height():
    lanes = ('<bpmn:laneSet id="ls"><bpmn:lane id="front" name="调解员"><bpmn:flowNodeRef>start</bpmn:flowNodeRef>'
             '<bpmn:flowNodeRef>register</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>')
    flow = lanes + FLOW.replace(' camunda:candidateGroups="mediator"', "")
    di = (_shape("pool", 100, 60, 600, 320, ' isHorizontal="true"') + _shape("front", 130, 60, 570, 320, ' isHorizontal="true"')
          + SHAPES)
    result = convert_files({"complaint.bpmn": _model(flow, di, collaboration=POOL, plane="c")})
    assert result.problems == []
    out = result.files["processes/p.bpmn"]
    assert _check_lanes(out) == {"pool": ["front", "p_lane_handler"]}
    boxes = _boxes(out)
    assert boxes["front"] == (130, 60, 570, 320) and boxes["p_lane_handler"] == (130, 380, 570, 320)
    assert boxes["pool"] == (100, 60, 600, 640)
    assert (boxes["register"], boxes["handle"]) == ((240, 100, 100, 80), (400, 260, 100, 80))  # nothing else moves
    assert any("p_lane_handler" in c and "泳池下方" in c for c in result.changes)
    assert with_layout(out, process_id="p") == out


def test_a_process_drawn_without_a_pool_gets_one_around_its_elements(session):
    result = convert_files({"complaint.bpmn": _model(FLOW, SHAPES)})
    assert result.problems == []
    out = result.files["processes/p.bpmn"]
    root = etree.fromstring(out.encode())
    [collab] = root.iterfind(f"{{{BPMN}}}collaboration")
    [participant] = collab
    assert participant.get("processRef") == "p" and root.find(f".//{{{BPMNDI}}}BPMNPlane").get("bpmnElement") == collab.get("id")
    assert _check_lanes(out) == {"p_participant": ["p_lane_mediator", "p_lane_handler"]}
    boxes = _boxes(out)
    assert all(_inside(boxes[n], boxes["p_participant"]) for n in ("start", "register", "handle", "end"))
    assert any("围绕流程画了泳池 p_participant" in c for c in result.changes)
    assert with_layout(out, process_id="p") == out
    # The pool changes nothing that runs: deployed, each role does its step.
    with workspace(result.files) as folder:
        deployment.deploy(session, paths=[folder], actor="designer")
    inst = lifecycle.start_instance(session, process_key="p", actor=actor_for(session, username="zhou.ga"))
    for username, element in (("sun.tj", "register"), ("zhou.ga", "handle")):
        [task] = open_tasks(session, inst.id)
        assert task.element_id == element
        lifecycle.complete_task(session, task_id=task.id, data={}, actor=actor_for(session, username=username))
    session.refresh(inst)
    assert inst.status == InstanceStatus.COMPLETED


def test_a_process_without_a_diagram_gets_no_shapes_and_the_case_page_lays_it_out():
    text = _model(FLOW, "").replace('<bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="p">\n\n'
                                    '  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>', "")
    result = convert_files({"complaint.bpmn": text})
    out = result.files["processes/p.bpmn"]
    assert "BPMNShape" not in out and "collaboration" not in out
    assert any("案件页自动排版" in c for c in result.changes)
    laid_out = _boxes(with_layout(out, process_id="p"))
    assert {"p_lane_mediator", "p_lane_handler"} <= set(laid_out)


@pytest.mark.skipif(not MIWG.exists(), reason="the MIWG models are not on this machine")
def test_every_lane_the_import_adds_to_a_miwg_model_is_drawn_inside_its_pool():
    added = 0
    for path in sorted([*(MIWG / "reference").glob("*.bpmn"), *(MIWG / "camunda-modeler").glob("*.bpmn")]):
        result = convert_files({path.name: path.read_text(encoding="utf-8")}, default_role="handler", manual_steps=True)
        added += sum("新增泳道" in c and "案件页自动排版" not in c for c in result.changes)
        for name, text in result.files.items():
            if name.endswith(".bpmn"):
                _check_lanes(text)
                for proc in etree.fromstring(text.encode()).iter(f"{{{BPMN}}}process"):
                    if proc.get("isExecutable") == "true":
                        with_layout(text, process_id=proc.get("id"))
    assert added >= 20  # 12 reference and 13 Camunda Modeler models; most get a lane for the default role
