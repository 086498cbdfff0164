"""Give a BPMN file without diagram information a tidy left-to-right layout, so the viewer can draw it.

Hand-written process files often carry no ``bpmndi`` section. The case page still wants a picture:
nodes are placed in columns by their longest distance from a start event (loops ignored), lanes
become horizontal bands of one pool, and flows are drawn with right-angle bends.
"""
from __future__ import annotations

from collections import defaultdict

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"

_TASKS = {"task", "userTask", "scriptTask", "serviceTask", "businessRuleTask", "manualTask", "sendTask",
          "receiveTask", "subProcess", "callActivity", "transaction"}
_EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent"}
_GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
_SIZE = {"task": (110, 70), "event": (36, 36), "gateway": (50, 50)}
COL_W, ROW_H, LEFT, LANE_HEADER = 170, 110, 90, 30


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _kind(tag: str) -> str | None:
    local = etree.QName(tag).localname
    if local in _TASKS:
        return "task"
    if local in _EVENTS:
        return "event"
    if local in _GATEWAYS:
        return "gateway"
    return None


def element_names(text: str, *, process_id: str) -> dict[str, str]:
    """Return id → name of every named flow element of the process."""
    process = _process(etree.fromstring(text.encode()), process_id)
    if process is None:
        return {}
    return {el.get("id"): el.get("name") for el in process.iter() if el.get("id") and el.get("name")}


def _undrawn(root, process) -> set[str]:
    """Return the ids of the process's top-level steps that no diagram shape draws."""
    steps = {el.get("id") for el in process if _kind(el.tag) and el.get("id")}
    drawn = {el.get("bpmnElement") for el in root.iter(_q(BPMNDI, "BPMNShape"))}
    return steps - drawn


def _process(root, process_id: str):
    return next((p for p in root.iter(_q(BPMN, "process")) if p.get("id") == process_id), None)


def with_layout(text: str, *, process_id: str) -> str:
    """Return the BPMN text unchanged if its diagram draws every step, else with a generated one.

    A step added to a file by hand has no shape in the file's diagram, and a viewer would leave it
    out: the reader must see every step, so such a file gets a generated layout as a whole.
    """
    root = etree.fromstring(text.encode())
    process = _process(root, process_id)
    diagrams = root.findall(_q(BPMNDI, "BPMNDiagram"))
    if process is None or (diagrams and not _undrawn(root, process)):
        return text
    for diagram in diagrams:
        root.remove(diagram)
    nodes = {el.get("id"): el for el in process if _kind(el.tag) and el.get("id")}
    boundaries = [el for el in process if etree.QName(el.tag).localname == "boundaryEvent"]
    flows = [f for f in process if etree.QName(f.tag).localname == "sequenceFlow"]
    out_edges = defaultdict(list)
    for f in flows:
        out_edges[f.get("sourceRef")].append(f.get("targetRef"))
    attached = {b.get("id"): b.get("attachedToRef") for b in boundaries}
    # A boundary event's outgoing flows continue from its host's column.
    for b_id, host in attached.items():
        out_edges[host] += [t for t in out_edges.get(b_id, []) if t not in out_edges[host]]
    column = _columns(nodes, out_edges, flows)
    lane_of, lane_names = _lanes(process)
    lanes = lane_names or [("", "")]
    rows: dict[tuple[str, int], int] = defaultdict(int)
    slot: dict[str, tuple[int, int]] = {}
    for node_id in sorted(nodes, key=lambda n: (column[n], list(nodes).index(n))):
        lane = lane_of.get(node_id, lanes[0][0])
        key = (lane, column[node_id])
        slot[node_id] = (column[node_id], rows[key])
        rows[key] += 1
    lane_rows = {lane: max([r for (ln, _), r in rows.items() if ln == lane] or [1]) for lane, _ in lanes}
    lane_top, y = {}, 0
    for lane, _ in lanes:
        lane_top[lane] = y
        y += lane_rows[lane] * ROW_H + 20
    width = LEFT + (max(column.values(), default=0) + 1) * COL_W + 20
    bounds = {}
    for node_id, el in nodes.items():
        col, row = slot[node_id]
        w, h = _SIZE[_kind(el.tag)]
        cx = LEFT + col * COL_W + COL_W // 2
        cy = lane_top[lane_of.get(node_id, lanes[0][0])] + row * ROW_H + ROW_H // 2 + 10
        bounds[node_id] = (cx - w // 2, cy - h // 2, w, h)
    for b in boundaries:
        if b.get("attachedToRef") in bounds:
            hx, hy, hw, hh = bounds[b.get("attachedToRef")]
            bounds[b.get("id")] = (hx + hw - 30, hy + hh - 18, 36, 36)
    return _write(root, process_id, nodes, boundaries, flows, bounds, lanes, lane_top, lane_rows, width, y)


def _columns(nodes: dict, out_edges: dict, flows: list) -> dict[str, int]:
    """Longest-path columns over the flow graph with back edges (loops) removed."""
    incoming = {t for f in flows for t in [f.get("targetRef")]}
    starts = [n for n in nodes if n not in incoming] or list(nodes)[:1]
    back, state = set(), {}

    def visit(n):
        state[n] = 1
        for m in out_edges.get(n, []):
            if m not in nodes:
                continue
            if state.get(m) == 1:
                back.add((n, m))
            elif m not in state:
                visit(m)
        state[n] = 2

    for s in starts + list(nodes):
        if s not in state:
            visit(s)
    column = {n: 0 for n in nodes}
    changed, rounds = True, 0
    while changed and rounds < len(nodes) + 1:
        changed, rounds = False, rounds + 1
        for n in nodes:
            for m in out_edges.get(n, []):
                if m in nodes and (n, m) not in back and column[m] < column[n] + 1:
                    column[m], changed = column[n] + 1, True
    return column


def _lanes(process) -> tuple[dict[str, str], list[tuple[str, str]]]:
    lane_of, names = {}, []
    for lane in process.iter(_q(BPMN, "lane")):
        names.append((lane.get("id"), lane.get("name") or lane.get("id")))
        for ref in lane.iter(_q(BPMN, "flowNodeRef")):
            lane_of.setdefault((ref.text or "").strip(), lane.get("id"))
    return lane_of, names


def _write(root, process_id, nodes, boundaries, flows, bounds, lanes, lane_top, lane_rows, width, height) -> str:
    collab_id = f"collab_{process_id}"
    collab = etree.Element(_q(BPMN, "collaboration"), id=collab_id)
    etree.SubElement(collab, _q(BPMN, "participant"), id=f"pool_{process_id}",
                     name=_process(root, process_id).get("name") or process_id, processRef=process_id)
    root.insert(0, collab)
    diagram = etree.SubElement(root, _q(BPMNDI, "BPMNDiagram"), id=f"diagram_{process_id}", nsmap={"bpmndi": BPMNDI, "dc": DC, "di": DI})
    plane = etree.SubElement(diagram, _q(BPMNDI, "BPMNPlane"), id=f"plane_{process_id}", bpmnElement=collab_id)

    def shape(element_id, x, y, w, h, **attrs):
        s = etree.SubElement(plane, _q(BPMNDI, "BPMNShape"), id=f"{element_id}_di", bpmnElement=element_id, **attrs)
        etree.SubElement(s, _q(DC, "Bounds"), x=str(x), y=str(y), width=str(w), height=str(h))

    shape(f"pool_{process_id}", 0, 0, width, height, isHorizontal="true")
    for lane, _ in lanes:
        if lane:
            shape(lane, LANE_HEADER, lane_top[lane], width - LANE_HEADER, lane_rows[lane] * ROW_H + 20, isHorizontal="true")
    for node_id in nodes:
        shape(node_id, *bounds[node_id])
    for b in boundaries:
        if b.get("id") in bounds:
            shape(b.get("id"), *bounds[b.get("id")])
    for f in flows:
        src, dst = bounds.get(f.get("sourceRef")), bounds.get(f.get("targetRef"))
        if not src or not dst:
            continue
        edge = etree.SubElement(plane, _q(BPMNDI, "BPMNEdge"), id=f"{f.get('id')}_di", bpmnElement=f.get("id"))
        for x, y in _waypoints(src, dst):
            etree.SubElement(edge, _q(DI, "waypoint"), x=str(x), y=str(y))
    return etree.tostring(root, encoding="unicode")


def _waypoints(src, dst) -> list[tuple[int, int]]:
    sx, sy, sw, sh = src
    dx, dy, dw, dh = dst
    s_mid, d_mid = sy + sh // 2, dy + dh // 2
    if dx >= sx + sw:  # forward: leave right, enter left, bend halfway
        a, b = (sx + sw, s_mid), (dx, d_mid)
        if s_mid == d_mid:
            return [a, b]
        mid = (a[0] + b[0]) // 2
        return [a, (mid, s_mid), (mid, d_mid), b]
    # backward (a loop): leave from the bottom, run below both, come up into the target's bottom
    low = max(sy + sh, dy + dh) + 22
    return [(sx + sw // 2, sy + sh), (sx + sw // 2, low), (dx + dw // 2, low), (dx + dw // 2, dy + dh)]
