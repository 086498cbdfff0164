"""Write BPMN 2.0 files in SpiffWorkflow's spiff dialect, with diagram interchange, from a short description.

The process library in ``processes/`` was bootstrapped with this module (see ``build_library.py``):
a process is described as lanes, nodes placed on a grid (lane + column + row) and flows, and the
builder writes the semantic XML plus the BPMNDI shapes and edges bpmn-js needs to draw it —
lanes as horizontal bands of one pool, expanded layout for collapsed subprocesses on a plane of
their own (drill-down), orthogonal edges.

The ``.bpmn`` files are the source of truth. A designer edits them in the modeller and redeploys;
regenerating from the descriptions overwrites such edits, so do it only while the descriptions
are still the only place the process is changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

# Grid geometry (pixels). A column is wide enough for a task and its outgoing edge label.
COL_W, LANE_H, ROW_H, LANE_HEAD, X0 = 170, 150, 130, 30, 80
SIZES = {"task": (120, 80), "event": (36, 36), "gateway": (50, 50)}
TASK_KINDS = {"user", "script", "rule", "sub", "receive_task"}
EVENT_KINDS = {"start", "end", "timer_catch", "msg_catch", "boundary"}
GATEWAY_KINDS = {"xgw", "pgw", "igw", "egw"}


def _a(value: str) -> str:
    return quoteattr(value)


@dataclass
class Node:
    id: str
    kind: str
    name: str = ""
    lane: str | None = None
    col: float = 0
    row: float = 0
    props: dict = field(default_factory=dict)  # user task extension properties
    script: str | None = None
    decision: str | None = None
    timer: tuple[str, str] | None = None  # (timeDate|timeDuration|timeCycle, expression)
    message: str | None = None  # message id
    message_var: str | None = None
    attached: str | None = None
    interrupting: bool = True
    terminate: bool = False
    default: str | None = None  # default flow id of a gateway
    # {input, item, output, output_item, sequential}; SpiffWorkflow names the item variable by the
    # data item's id, so item names must be unique within a process.
    mi: dict | None = None
    pre: str | None = None
    post: str | None = None
    doc: str | None = None
    child: "Container | None" = None  # embedded subprocess content

    @property
    def size(self) -> tuple[int, int]:
        if self.kind in TASK_KINDS:
            return SIZES["task"]
        if self.kind in GATEWAY_KINDS:
            return SIZES["gateway"]
        return SIZES["event"]


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: str = ""
    condition: str | None = None
    waypoints: list[tuple[float, float]] | None = None  # explicit bends, if the automatic route is poor
    detour: str | None = None  # "below": pass under whatever lies between source and target


class Container:
    """Nodes and flows of a process or an embedded subprocess."""

    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self.flows: list[Flow] = []
        self._flow_ids: set[str] = set()

    def _add(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise ValueError(f"duplicate node id {node.id}")
        self.nodes[node.id] = node
        return node

    # -- nodes ------------------------------------------------------------------------------
    def start(self, id, name="", **kw):
        return self._add(Node(id, "start", name, **kw))

    def end(self, id, name="", **kw):
        return self._add(Node(id, "end", name, **kw))

    def user(self, id, name, **kw):
        return self._add(Node(id, "user", name, **kw))

    def script(self, id, name, script, **kw):
        return self._add(Node(id, "script", name, script=script.strip("\n"), **kw))

    def rule(self, id, name, decision, **kw):
        return self._add(Node(id, "rule", name, decision=decision, **kw))

    def xgw(self, id, name="", **kw):
        return self._add(Node(id, "xgw", name, **kw))

    def pgw(self, id, name="", **kw):
        return self._add(Node(id, "pgw", name, **kw))

    def egw(self, id, name="", **kw):
        return self._add(Node(id, "egw", name, **kw))

    def timer(self, id, name, kind, expression, **kw):
        return self._add(Node(id, "timer_catch", name, timer=(kind, expression), **kw))

    def receive(self, id, name, message, variable=None, **kw):
        return self._add(Node(id, "msg_catch", name, message=message, message_var=variable, **kw))

    def receive_task(self, id, name, message, variable=None, **kw):
        """A receive task: waits for a message and, unlike a catch event, can carry boundary timers."""
        return self._add(Node(id, "receive_task", name, message=message, message_var=variable, **kw))

    def boundary(self, id, name, attached, kind, expression, interrupting=True, **kw):
        return self._add(Node(id, "boundary", name, attached=attached, timer=(kind, expression),
                              interrupting=interrupting, **kw))

    def sub(self, id, name, **kw) -> Container:
        node = self._add(Node(id, "sub", name, child=Container(), **kw))
        return node.child

    # -- flows ------------------------------------------------------------------------------
    def flow(self, source, target, condition=None, name="", id=None, default=False, waypoints=None, detour=None):
        fid = id or f"f_{source}_{target}"
        n = 2
        while fid in self._flow_ids:
            fid, n = f"{id or f'f_{source}_{target}'}_{n}", n + 1
        self._flow_ids.add(fid)
        self.flows.append(Flow(fid, source, target, name, condition, waypoints, detour))
        if default:
            self.nodes[source].default = fid
        return fid

    def chain(self, *ids):
        for a, b in zip(ids, ids[1:]):
            self.flow(a, b)


class Process(Container):
    """A whole process: a pool with lanes."""

    def __init__(self, key: str, name: str, lanes: list[str], documentation: str = ""):
        super().__init__()
        self.key, self.name, self.lanes, self.documentation = key, name, lanes, documentation
        self.messages: dict[str, tuple[str, list[str]]] = {}  # id -> (name, correlation property names)
        self.lane_rows: dict[str, int] = {}

    def message(self, id, name, correlation: list[str] | None = None):
        self.messages[id] = (name, correlation or [])

    # -- layout -----------------------------------------------------------------------------
    def _layout(self):
        rows = {lane: 1 for lane in self.lanes}
        for n in self.nodes.values():
            if n.kind != "boundary":
                rows[n.lane] = max(rows[n.lane], int(n.row + 1.0001) if n.row == int(n.row) else int(n.row) + 1)
        rows = {lane: max(r, self.lane_rows.get(lane, 1)) for lane, r in rows.items()}
        tops, y = {}, 0
        for lane in self.lanes:
            tops[lane] = y
            y += LANE_H + (rows[lane] - 1) * ROW_H
        width = X0 + (max(n.col for n in self.nodes.values()) + 1) * COL_W + 40
        return tops, rows, width, y

    def bounds(self, container: Container, tops) -> dict[str, tuple[float, float, float, float]]:
        out = {}
        for n in container.nodes.values():
            if n.kind == "boundary":
                continue
            w, h = n.size
            cx = X0 + LANE_HEAD + n.col * COL_W + 60
            cy = (tops[n.lane] if tops else 0) + LANE_H / 2 + n.row * ROW_H
            out[n.id] = (cx - w / 2, cy - h / 2, w, h)
        for n in container.nodes.values():
            if n.kind == "boundary":
                hx, hy, hw, hh = out[n.attached]
                siblings = [b for b in container.nodes.values() if b.kind == "boundary" and b.attached == n.attached]
                i = siblings.index(n)
                bx = hx + hw * (i + 1) / (len(siblings) + 1) - 18
                out[n.id] = (bx, hy + hh - 18, 36, 36)
        return out

    # -- writing ----------------------------------------------------------------------------
    def to_xml(self) -> str:
        tops, rows, width, height = self._layout()
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"',
               '                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"',
               '                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"',
               '                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"',
               '                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"',
               f'                  id="{self.key}_definitions" targetNamespace="http://pingan.example/bpmn/{self.key}"',
               '                  exporter="pingan processes/tools/bpmn_builder.py" exporterVersion="1">']
        out.append(f'  <bpmn:collaboration id="{self.key}_collaboration">')
        out.append(f'    <bpmn:participant id="{self.key}_pool" name={_a(self.name)} processRef="{self.key}" />')
        out.append('  </bpmn:collaboration>')
        for mid, (mname, props) in self.messages.items():
            out.append(f'  <bpmn:message id="{mid}" name="{mname}" />')
            for prop in props:
                out.append(f'  <bpmn:correlationProperty id="{prop}" name="{prop}">')
                out.append(f'    <bpmn:correlationPropertyRetrievalExpression messageRef="{mid}">')
                out.append(f'      <bpmn:formalExpression>{prop}</bpmn:formalExpression>')
                out.append('    </bpmn:correlationPropertyRetrievalExpression>')
                out.append('  </bpmn:correlationProperty>')
        out.append(f'  <bpmn:process id="{self.key}" name={_a(self.name)} isExecutable="true">')
        if self.documentation:
            out.append(f'    <bpmn:documentation>{escape(self.documentation)}</bpmn:documentation>')
        out.append('    <bpmn:laneSet id="lanes">')
        for i, lane in enumerate(self.lanes):
            out.append(f'      <bpmn:lane id="lane_{i}" name={_a(lane)}>')
            for n in self.nodes.values():
                if n.lane == lane:
                    out.append(f'        <bpmn:flowNodeRef>{n.id}</bpmn:flowNodeRef>')
            out.append('      </bpmn:lane>')
        out.append('    </bpmn:laneSet>')
        out += _elements(self, "    ")
        out.append('  </bpmn:process>')
        out += self._diagram(tops, rows, width, height)
        out.append('</bpmn:definitions>')
        return "\n".join(out) + "\n"

    def _diagram(self, tops, rows, width, height) -> list[str]:
        out = [f'  <bpmndi:BPMNDiagram id="{self.key}_diagram">',
               f'    <bpmndi:BPMNPlane id="{self.key}_plane" bpmnElement="{self.key}_collaboration">',
               f'      <bpmndi:BPMNShape id="{self.key}_pool_di" bpmnElement="{self.key}_pool" isHorizontal="true">',
               f'        <dc:Bounds x="{X0 - 30}" y="0" width="{width}" height="{height}" />',
               '      </bpmndi:BPMNShape>']
        for i, lane in enumerate(self.lanes):
            h = LANE_H + (rows[lane] - 1) * ROW_H
            out.append(f'      <bpmndi:BPMNShape id="lane_{i}_di" bpmnElement="lane_{i}" isHorizontal="true">')
            out.append(f'        <dc:Bounds x="{X0}" y="{tops[lane]}" width="{width - 30}" height="{h}" />')
            out.append('      </bpmndi:BPMNShape>')
        out += _shapes(self, self.bounds(self, tops), "      ")
        out += ['    </bpmndi:BPMNPlane>', '  </bpmndi:BPMNDiagram>']
        for n in self.nodes.values():
            if n.kind == "sub":
                out += _sub_diagram(self, n)
        return out


def _elements(c: Container, ind: str) -> list[str]:
    out = []
    incoming = {n: [] for n in c.nodes}
    outgoing = {n: [] for n in c.nodes}
    for f in c.flows:
        outgoing[f.source].append(f.id)
        incoming[f.target].append(f.id)
    for n in c.nodes.values():
        out += _element(n, ind, incoming[n.id], outgoing[n.id])
    for f in c.flows:
        name = f" name={_a(f.name)}" if f.name else ""
        if f.condition:
            out.append(f'{ind}<bpmn:sequenceFlow id="{f.id}"{name} sourceRef="{f.source}" targetRef="{f.target}">')
            out.append(f'{ind}  <bpmn:conditionExpression>{escape(f.condition)}</bpmn:conditionExpression>')
            out.append(f'{ind}</bpmn:sequenceFlow>')
        else:
            out.append(f'{ind}<bpmn:sequenceFlow id="{f.id}"{name} sourceRef="{f.source}" targetRef="{f.target}" />')
    return out


_TAGS = {"start": "startEvent", "end": "endEvent", "user": "userTask", "script": "scriptTask",
         "rule": "businessRuleTask", "xgw": "exclusiveGateway", "pgw": "parallelGateway",
         "igw": "inclusiveGateway", "egw": "eventBasedGateway", "timer_catch": "intermediateCatchEvent",
         "msg_catch": "intermediateCatchEvent", "boundary": "boundaryEvent", "sub": "subProcess",
         "receive_task": "receiveTask"}


def _element(n: Node, ind: str, incoming: list[str], outgoing: list[str]) -> list[str]:
    tag = _TAGS[n.kind]
    attrs = f'id="{n.id}"' + (f" name={_a(n.name)}" if n.name else "")
    if n.default:
        attrs += f' default="{n.default}"'
    if n.kind == "receive_task":
        attrs += f' messageRef="{n.message}"'
    if n.kind == "boundary":
        attrs += f' cancelActivity="{"true" if n.interrupting else "false"}" attachedToRef="{n.attached}"'
    out = [f"{ind}<bpmn:{tag} {attrs}>"]
    i2 = ind + "  "
    if n.doc:
        out.append(f"{i2}<bpmn:documentation>{escape(n.doc)}</bpmn:documentation>")
    ext = []
    if n.props:
        ext.append(f"{i2}  <spiffworkflow:properties>")
        for k, v in n.props.items():
            ext.append(f'{i2}    <spiffworkflow:property name="{k}" value={_a(v)} />')
        ext.append(f"{i2}  </spiffworkflow:properties>")
    if n.kind == "receive_task" and n.message_var:
        ext.append(f"{i2}  <spiffworkflow:messageVariable>{n.message_var}</spiffworkflow:messageVariable>")
    if n.decision:
        ext.append(f"{i2}  <spiffworkflow:calledDecisionId>{n.decision}</spiffworkflow:calledDecisionId>")
    if n.pre:
        ext.append(f"{i2}  <spiffworkflow:preScript>{escape(n.pre)}</spiffworkflow:preScript>")
    if n.post:
        ext.append(f"{i2}  <spiffworkflow:postScript>{escape(n.post)}</spiffworkflow:postScript>")
    if ext:
        out += [f"{i2}<bpmn:extensionElements>", *ext, f"{i2}</bpmn:extensionElements>"]
    out += [f"{i2}<bpmn:incoming>{x}</bpmn:incoming>" for x in incoming]
    out += [f"{i2}<bpmn:outgoing>{x}</bpmn:outgoing>" for x in outgoing]
    if n.mi:
        seq = "true" if n.mi.get("sequential") else "false"
        out.append(f'{i2}<bpmn:multiInstanceLoopCharacteristics isSequential="{seq}">')
        out.append(f"{i2}  <bpmn:loopDataInputRef>{n.mi['input']}</bpmn:loopDataInputRef>")
        if n.mi.get("output"):
            out.append(f"{i2}  <bpmn:loopDataOutputRef>{n.mi['output']}</bpmn:loopDataOutputRef>")
        out.append(f'{i2}  <bpmn:inputDataItem id="{n.mi["item"]}" name="{n.mi["item"]}" />')
        if n.mi.get("output_item"):
            out.append(f'{i2}  <bpmn:outputDataItem id="{n.mi["output_item"]}" name="{n.mi["output_item"]}" />')
        out.append(f"{i2}</bpmn:multiInstanceLoopCharacteristics>")
    if n.kind == "script":
        out.append(f"{i2}<bpmn:script>{escape(n.script)}</bpmn:script>")
    if n.timer:
        kind, expr = n.timer
        out.append(f'{i2}<bpmn:timerEventDefinition id="{n.id}_timer">')
        out.append(f"{i2}  <bpmn:{kind}>{escape(expr)}</bpmn:{kind}>")
        out.append(f"{i2}</bpmn:timerEventDefinition>")
    if n.message and n.kind != "receive_task":
        if n.message_var:
            out.append(f'{i2}<bpmn:messageEventDefinition id="{n.id}_message" messageRef="{n.message}">')
            out.append(f"{i2}  <bpmn:extensionElements>")
            out.append(f"{i2}    <spiffworkflow:messageVariable>{n.message_var}</spiffworkflow:messageVariable>")
            out.append(f"{i2}  </bpmn:extensionElements>")
            out.append(f"{i2}</bpmn:messageEventDefinition>")
        else:
            out.append(f'{i2}<bpmn:messageEventDefinition id="{n.id}_message" messageRef="{n.message}" />')
    if n.terminate:
        out.append(f'{i2}<bpmn:terminateEventDefinition id="{n.id}_terminate" />')
    if n.child is not None:
        out += _elements(n.child, i2)
    out.append(f"{ind}</bpmn:{tag}>")
    return out


def _shapes(root: Process, bounds: dict, ind: str, container: Container | None = None) -> list[str]:
    c = container or root
    out = []
    for n in c.nodes.values():
        x, y, w, h = bounds[n.id]
        extra = ""
        if n.kind == "sub":
            extra = ' isExpanded="false"'
        if n.kind == "xgw":
            extra = ' isMarkerVisible="true"'
        out.append(f'{ind}<bpmndi:BPMNShape id="{n.id}_di" bpmnElement="{n.id}"{extra}>')
        out.append(f'{ind}  <dc:Bounds x="{x:g}" y="{y:g}" width="{w}" height="{h}" />')
        if n.kind in EVENT_KINDS | GATEWAY_KINDS and n.name:
            if n.kind in GATEWAY_KINDS:  # above-right: flows leave gateways downwards and upwards
                lx, ly, lw = x + w - 6, y - 22, 90
            else:
                lx, ly, lw = x + w / 2 - 45, y + h + 4, 90
            out.append(f'{ind}  <bpmndi:BPMNLabel><dc:Bounds x="{lx:g}" y="{ly:g}" width="{lw}" height="27" /></bpmndi:BPMNLabel>')
        out.append(f"{ind}</bpmndi:BPMNShape>")
    for f in c.flows:
        if f.detour == "below":
            (sx, sy, sw, sh), (tx, ty, tw, th) = bounds[f.source], bounds[f.target]
            low = max(sy + sh, ty + th) + 28
            pts = [(sx + sw / 2, sy + sh), (sx + sw / 2, low), (tx + tw / 2, low), (tx + tw / 2, ty + th)]
        else:
            pts = f.waypoints or _route(bounds[f.source], bounds[f.target], c.nodes[f.source], c.nodes[f.target])
        out.append(f'{ind}<bpmndi:BPMNEdge id="{f.id}_di" bpmnElement="{f.id}">')
        for px, py in pts:
            out.append(f'{ind}  <di:waypoint x="{px:g}" y="{py:g}" />')
        if f.name:
            mx, my = _label_point(pts)
            out.append(f'{ind}  <bpmndi:BPMNLabel><dc:Bounds x="{mx:g}" y="{my:g}" width="70" height="14" /></bpmndi:BPMNLabel>')
        out.append(f"{ind}</bpmndi:BPMNEdge>")
    return out


def _label_point(pts):
    (x1, y1), (x2, y2) = pts[0], pts[1]
    if len(pts) > 2 and abs(x2 - x1) < 1:  # leaves vertically first: label beside the vertical leg
        return x1 + 4, (y1 + y2) / 2 - 7
    return (x1 + x2) / 2 - 30 if abs(x2 - x1) > 80 else x1 + 4, y1 - 18


def _route(sb, tb, sn: Node, tn: Node) -> list[tuple[float, float]]:
    sx, sy, sw, sh = sb
    tx, ty, tw, th = tb
    scx, scy, tcx, tcy = sx + sw / 2, sy + sh / 2, tx + tw / 2, ty + th / 2
    if sn.kind == "boundary":  # leave downwards, then across
        start = (scx, sy + sh)
        if tx <= scx <= tx + tw and ty > sy:
            return [start, (scx, ty)]
        if tcy > sy + sh:
            return [start, (scx, tcy), (tx if tcx > scx else tx + tw, tcy)]
        return [start, (scx, sy + sh + 20), (tcx, sy + sh + 20), (tcx, ty + th)]
    if tx >= sx + sw - 1:  # forwards
        if abs(scy - tcy) < 1:
            return [(sx + sw, scy), (tx, tcy)]
        if sn.kind in GATEWAY_KINDS:  # leave the gateway from its top or bottom corner
            return [(scx, sy if tcy < scy else sy + sh), (scx, tcy), (tx, tcy)]
        if tn.kind in GATEWAY_KINDS:  # enter a joining gateway at its top or bottom corner
            return [(sx + sw, scy), (tcx, scy), (tcx, ty if scy < tcy else ty + th)]
        mx = (sx + sw + tx) / 2
        return [(sx + sw, scy), (mx, scy), (mx, tcy), (tx, tcy)]
    if abs(scx - tcx) < 1:  # straight up or down
        return [(scx, sy + sh), (tcx, ty)] if tcy > scy else [(scx, sy), (tcx, ty + th)]
    if abs(scy - tcy) < 1 and sx - (tx + tw) < COL_W:  # backwards to the next node along the row
        return [(sx, scy), (tx + tw, tcy)]
    # backwards: loop over the top of both shapes
    top = min(sy, ty) - 22
    return [(scx, sy), (scx, top), (tcx, top), (tcx, ty)]


def _sub_diagram(root: Process, n: Node) -> list[str]:
    c = n.child
    bounds = root.bounds(c, None)
    # lift everything into view: content rows may be negative
    min_y = min(b[1] for b in bounds.values())
    shift = 60 - min_y
    bounds = {k: (x, y + shift, w, h) for k, (x, y, w, h) in bounds.items()}
    out = [f'  <bpmndi:BPMNDiagram id="{n.id}_diagram">',
           f'    <bpmndi:BPMNPlane id="{n.id}_plane" bpmnElement="{n.id}">']
    out += _shapes(root, bounds, "      ", c)
    out += ['    </bpmndi:BPMNPlane>', '  </bpmndi:BPMNDiagram>']
    return out


def user_props(candidate_org=None, assignee=None, due=None, warn=None, form_key=None) -> dict:
    """Return the Pingan user-task properties that are set, in a stable order."""
    out = {}
    for key, value in (("candidateOrg", candidate_org), ("assignee", assignee), ("dueDate", due),
                       ("warnAt", warn), ("formKey", form_key)):
        if value:
            out[key] = value
    return out


@dataclass
class Decision:
    """One DMN decision table: inputs (label, expression), outputs (label, name) and rules."""

    id: str
    name: str
    inputs: list[tuple[str, str]]
    outputs: list[tuple[str, str]]
    rules: list[tuple[list[str], list[str], str]]  # (input entries, output entries, annotation)
    hit_policy: str = "FIRST"


def dmn_xml(key: str, name: str, decisions: list[Decision]) -> str:
    """Return a DMN 1.3 document with the given decision tables (no DRD layout: tables only)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"',
           f'             id="{key}_definitions" name={_a(name)} namespace="http://pingan.example/dmn/{key}"',
           '             exporter="pingan processes/tools/bpmn_builder.py" exporterVersion="1">']
    for d in decisions:
        out.append(f'  <decision id="{d.id}" name={_a(d.name)}>')
        out.append(f'    <decisionTable id="{d.id}_table" hitPolicy="{d.hit_policy}">')
        for i, (label, expr) in enumerate(d.inputs):
            out.append(f'      <input id="{d.id}_in{i}" label={_a(label)}>')
            out.append(f'        <inputExpression id="{d.id}_in{i}_expr"><text>{escape(expr)}</text></inputExpression>')
            out.append('      </input>')
        for i, (label, oname) in enumerate(d.outputs):
            out.append(f'      <output id="{d.id}_out{i}" label={_a(label)} name="{oname}" />')
        for r, (ins, outs, note) in enumerate(d.rules, 1):
            if len(ins) != len(d.inputs) or len(outs) != len(d.outputs):
                raise ValueError(f"{d.id} rule {r}: wrong number of entries")
            out.append(f'      <rule id="{d.id}_r{r}">')
            if note:
                out.append(f'        <description>{escape(note)}</description>')
            for i, text in enumerate(ins):
                out.append(f'        <inputEntry id="{d.id}_r{r}_i{i}"><text>{escape(text)}</text></inputEntry>')
            for i, text in enumerate(outs):
                out.append(f'        <outputEntry id="{d.id}_r{r}_o{i}"><text>{escape(text)}</text></outputEntry>')
            out.append('      </rule>')
        out += ['    </decisionTable>', '  </decision>']
    out.append('</definitions>')
    return "\n".join(out) + "\n"
