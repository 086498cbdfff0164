"""Structural rewrites an import makes so SpiffWorkflow can run what BPMN allows implicitly.

BPMN lets a task fork by itself (several outgoing flows), and a sub-process start without a start
event; SpiffWorkflow wants a gateway and explicit start and end events. Each rewrite adds the
missing element with a shape beside the original, so the drawing still shows what runs.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from ..spiff.parser import NS

BPMN = NS["bpmn"]
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
_KEY = re.compile(r"[\w][\w\-]{0,99}")
_FLOW_NODES = ("task", "userTask", "scriptTask", "serviceTask", "businessRuleTask", "manualTask", "sendTask",
               "receiveTask", "callActivity", "subProcess", "startEvent", "endEvent", "intermediateCatchEvent",
               "intermediateThrowEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
               "eventBasedGateway", "complexGateway", "transaction", "adHocSubProcess")

Change = Callable[..., None]


def usable_key(process_id: str) -> str:
    """Return a process key Pingan's file layout takes, made from a BPMN process id."""
    if _KEY.fullmatch(process_id or ""):
        return process_id
    key = re.sub(r"[^\w\-]", "_", process_id or "")[:100].lstrip("-") or "process"
    return key


def rename_process(root, proc, change: Change) -> None:
    """Give a process an id Pingan can use as its key, following every reference to it."""
    old = proc.get("id")
    new = usable_key(old)
    if new == old:
        return
    proc.set("id", new)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("processRef", "calledElement", "bpmnElement"):
            if el.get(attr) == old:
                el.set(attr, new)
    change(proc, f"流程标识 {old} 改为 {new}（平安用它作流程标识和文件名）",
           f"process id {old} changed to {new} (Pingan uses it as the process key and file name)")


def _shape(root, element_id: str):
    for shape in root.iter(f"{{{BPMNDI}}}BPMNShape"):
        if shape.get("bpmnElement") == element_id:
            return shape
    return None


def _edge(root, element_id: str):
    for edge in root.iter(f"{{{BPMNDI}}}BPMNEdge"):
        if edge.get("bpmnElement") == element_id:
            return edge
    return None


def _bounds(shape) -> tuple[float, float, float, float] | None:
    b = shape.find(f"{{{DC}}}Bounds") if shape is not None else None
    if b is None:
        return None
    return tuple(float(b.get(k, 0)) for k in ("x", "y", "width", "height"))


def _add_shape(root, near, element_id: str, x: float, y: float, w: float, h: float) -> None:
    if near is None:
        return
    shape = etree.Element(f"{{{BPMNDI}}}BPMNShape", id=f"{element_id}_di", bpmnElement=element_id)
    etree.SubElement(shape, f"{{{DC}}}Bounds", x=f"{x:g}", y=f"{y:g}", width=f"{w:g}", height=f"{h:g}")
    near.addnext(shape)


def _add_edge(root, near, element_id: str, points: list[tuple[float, float]]) -> None:
    if near is None:
        return
    edge = etree.Element(f"{{{BPMNDI}}}BPMNEdge", id=f"{element_id}_di", bpmnElement=element_id)
    for x, y in points:
        etree.SubElement(edge, f"{{{DI}}}waypoint", x=f"{x:g}", y=f"{y:g}")
    near.addnext(edge)


def _flows(container) -> list:
    return list(container.iterfind("bpmn:sequenceFlow", NS))


def split_implicit_forks(root, container, change: Change) -> None:
    """Put a gateway after every activity or event that forks by itself (several outgoing flows)."""
    flows = _flows(container)
    for node in list(container):
        if not isinstance(node.tag, str):
            continue
        kind = etree.QName(node).localname
        if kind not in _FLOW_NODES or kind.endswith("Gateway"):
            continue
        outgoing = [f for f in flows if f.get("sourceRef") == node.get("id")]
        if len(outgoing) < 2:
            continue
        conditional = any(f.find("bpmn:conditionExpression", NS) is not None for f in outgoing)
        gateway_kind = "inclusiveGateway" if conditional else "parallelGateway"
        gid, fid = f"{node.get('id')}_split", f"{node.get('id')}_to_split"
        gateway = etree.Element(f"{{{BPMN}}}{gateway_kind}", id=gid)
        node.addnext(gateway)
        default = node.attrib.pop("default", None)
        if default and conditional:
            gateway.set("default", default)
        link = etree.Element(f"{{{BPMN}}}sequenceFlow", id=fid, sourceRef=node.get("id"), targetRef=gid)
        outgoing[0].addprevious(link)
        for el in node.iterfind("bpmn:outgoing", NS):
            node.remove(el)
        etree.SubElement(node, f"{{{BPMN}}}outgoing").text = fid
        etree.SubElement(gateway, f"{{{BPMN}}}incoming").text = fid
        for flow in outgoing:
            flow.set("sourceRef", gid)
            etree.SubElement(gateway, f"{{{BPMN}}}outgoing").text = flow.get("id")
        reorder(node)
        shape = _shape(root, node.get("id"))
        box = _bounds(shape)
        if box:
            x, y, w, h = box
            gx, gy, size = x + w + 10, y + h / 2 - 18, 36
            _add_shape(root, shape, gid, gx, gy, size, size)
            _add_edge(root, shape, fid, [(x + w, y + h / 2), (gx, y + h / 2)])
            for flow in outgoing:
                edge = _edge(root, flow.get("id"))
                first = edge.find(f"{{{DI}}}waypoint") if edge is not None else None
                if first is not None:
                    first.set("x", f"{gx + size:g}")
                    first.set("y", f"{y + h / 2:g}")
        what = ("包容网关（满足条件的连线都走）", "an inclusive gateway (every flow whose condition holds)") if conditional else \
            ("并行网关（所有连线同时走）", "a parallel gateway (all flows at once)")
        change(node, f"它有 {len(outgoing)} 条出口连线，在后面加了{what[0]} {gid}",
               f"it has {len(outgoing)} outgoing flows; added {what[1]} {gid} after it")


_ORDER = {"documentation": 0, "extensionElements": 1, "auditing": 1, "monitoring": 1, "categoryValueRef": 1,
          "incoming": 2, "outgoing": 3, "ioSpecification": 4, "property": 5, "dataInputAssociation": 6,
          "dataOutputAssociation": 7, "resourceRole": 8, "performer": 8, "humanPerformer": 8, "potentialOwner": 8,
          "standardLoopCharacteristics": 9, "multiInstanceLoopCharacteristics": 9}


def reorder(node) -> None:
    """Put a flow node's children back in the order the BPMN schema wants (incoming, outgoing, ..., script)."""
    children = [c for c in node if isinstance(c.tag, str)]
    ordered = sorted(children, key=lambda c: _ORDER.get(etree.QName(c).localname, 10))
    if ordered != children:
        for c in children:
            node.remove(c)
        for c in ordered:
            node.append(c)


def explicit_start_and_end(root, sub, change: Change) -> None:
    """Give a sub-process with flow nodes but no start event a start (and an end) event, as BPMN implies."""
    nodes = [n for n in sub if isinstance(n.tag, str) and etree.QName(n).localname in _FLOW_NODES]
    starts = [n for n in nodes if etree.QName(n).localname == "startEvent"]
    if starts or not nodes:
        return
    flows = _flows(sub)
    targets = {f.get("targetRef") for f in flows}
    sources = {f.get("sourceRef") for f in flows}
    boundary = {n.get("id") for n in nodes if etree.QName(n).localname == "boundaryEvent"}
    first = [n for n in nodes if n.get("id") not in targets and n.get("id") not in boundary]
    last = [n for n in nodes if n.get("id") not in sources and etree.QName(n).localname != "endEvent"]
    sid = f"{sub.get('id')}_start"
    start = etree.Element(f"{{{BPMN}}}startEvent", id=sid)
    nodes[0].addprevious(start)
    added = [sid]
    _connect(root, sub, start, first, before=True)
    if last and not any(etree.QName(n).localname == "endEvent" for n in nodes):
        eid = f"{sub.get('id')}_end"
        end = etree.Element(f"{{{BPMN}}}endEvent", id=eid)
        nodes[-1].addnext(end)
        added.append(eid)
        for node in last:
            _connect(root, sub, node, [end], before=False)
    change(sub, "子流程没有开始事件：加了开始事件" + ("和结束事件" if len(added) > 1 else "") + "，连到原来的第一个活动",
           "the sub-process had no start event; added a start" + (" and an end" if len(added) > 1 else "")
           + " event, linked to its first activities")


def _connect(root, sub, source, targets: list, *, before: bool) -> None:
    for target in targets:
        fid = f"{source.get('id')}_to_{target.get('id')}"
        etree.SubElement(sub, f"{{{BPMN}}}sequenceFlow", id=fid, sourceRef=source.get("id"), targetRef=target.get("id"))
        etree.SubElement(source, f"{{{BPMN}}}outgoing").text = fid
        reorder(source)
        incoming = etree.Element(f"{{{BPMN}}}incoming")
        incoming.text = fid
        target.insert(after_children(target), incoming)
        reorder(target)
        event, other = (source, target) if before else (target, source)
        other_shape = _shape(root, other.get("id"))
        box = _bounds(other_shape)
        if not box:
            continue
        x, y, w, h = box
        if _shape(root, event.get("id")) is None:
            ex = x - 56 if before else x + w + 20
            _add_shape(root, other_shape, event.get("id"), ex, y + h / 2 - 18, 36, 36)
        ebox = _bounds(_shape(root, event.get("id")))
        if ebox:
            points = [(ebox[0] + 36, ebox[1] + 18), (x, y + h / 2)] if before else [(x + w, y + h / 2), (ebox[0], ebox[1] + 18)]
            _add_edge(root, other_shape, fid, points)


def after_children(node) -> int:
    """Index where an <incoming> goes: after documentation/extensionElements and other incomings."""
    index = 0
    for i, child in enumerate(node):
        if isinstance(child.tag, str) and etree.QName(child).localname in ("documentation", "extensionElements", "incoming"):
            index = i + 1
    return index


PASS_THROUGH = ("# 导入时原图这里没有要执行的内容：这一步直接通过\n"
                "# (imported: nothing to run here in the original drawing, so the step passes straight through)\n")


def pass_through(el) -> None:
    """Make an element a script task that runs nothing: SpiffWorkflow would wait on a plain task forever."""
    el.tag = f"{{{BPMN}}}scriptTask"
    for attr in ("implementation", "operationRef", "messageRef", "instantiate", "triggeredByEvent", "scriptFormat"):
        el.attrib.pop(attr, None)
    for child in list(el):
        if isinstance(child.tag, str) and etree.QName(child).localname == "script":
            el.remove(child)
    etree.SubElement(el, f"{{{BPMN}}}script").text = PASS_THROUGH
    reorder(el)


def empty_sub_process_to_task(sub, change: Change) -> bool:
    """Import a sub-process with nothing drawn inside (collapsed, described only) as a plain task."""
    if any(isinstance(n.tag, str) and etree.QName(n).localname in _FLOW_NODES for n in sub):
        return False
    if sub.get("triggeredByEvent") == "true":
        return False
    for child in list(sub):
        if isinstance(child.tag, str) and etree.QName(child).localname in ("sequenceFlow", "laneSet", "textAnnotation",
                                                                            "association", "dataObject",
                                                                            "dataObjectReference"):
            sub.remove(child)
    pass_through(sub)
    change(sub, "子流程里什么也没画，导入为直接通过的脚本任务",
           "nothing is drawn inside the sub-process; imported as a script task that passes straight through")
    return True


def insert_user_task_before(root, container, node, incoming, task_id: str, name: str):
    """Put a new user task on the flow ``incoming`` just before ``node``, drawn above it; return the task.

    The task goes into the lane ``node`` is drawn in, so whoever acts there also makes this step.
    """
    task = etree.Element(f"{{{BPMN}}}userTask", id=task_id, name=name)
    link_id = f"{task_id}_to_{node.get('id')}"
    node.addprevious(task)
    incoming.set("targetRef", task_id)
    link = etree.Element(f"{{{BPMN}}}sequenceFlow", id=link_id, sourceRef=task_id, targetRef=node.get("id"))
    incoming.addnext(link)
    etree.SubElement(task, f"{{{BPMN}}}incoming").text = incoming.get("id")
    etree.SubElement(task, f"{{{BPMN}}}outgoing").text = link_id
    for ref in node.iterfind("bpmn:incoming", NS):
        if (ref.text or "").strip() == incoming.get("id"):
            ref.text = link_id
    for ref in root.iter(f"{{{BPMN}}}flowNodeRef"):
        if (ref.text or "").strip() == node.get("id"):
            etree.SubElement(ref.getparent(), f"{{{BPMN}}}flowNodeRef").text = task_id
            break
    shape = _shape(root, node.get("id"))
    box = _bounds(shape)
    if box:
        x, y, w, h = box
        tx, ty = x + w / 2 - 50, y - 110
        _add_shape(root, shape, task_id, tx, ty, 100, 80)
        _add_edge(root, shape, link_id, [(x + w / 2, ty + 80), (x + w / 2, y)])
        edge = _edge(root, incoming.get("id"))
        last = edge.findall(f"{{{DI}}}waypoint")[-1] if edge is not None and edge.findall(f"{{{DI}}}waypoint") else None
        if last is not None:
            last.set("x", f"{tx:g}")
            last.set("y", f"{ty + 40:g}")
    return task


def task_sized(root, node) -> None:
    """Draw an event that became a task at a task's size, around the same centre."""
    box = _bounds(_shape(root, node.get("id")))
    if box:
        x, y, w, h = box
        bounds = _shape(root, node.get("id")).find(f"{{{DC}}}Bounds")
        for key, value in (("x", x + w / 2 - 50), ("y", y + h / 2 - 40), ("width", 100), ("height", 80)):
            bounds.set(key, f"{value:g}")
