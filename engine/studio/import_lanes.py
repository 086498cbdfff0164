"""Draw the lanes an import adds: lane shapes inside the pool, and a pool around a process drawn without one.

A user task's role is its lane, so the import puts tasks that name a role (or get the default
role) into new lanes. bpmn-js and the case diagram draw a lane only from its BPMNShape, so each new
lane gets one: stacked inside the participant's shape (splitting it when the pool had no lanes,
below the drawn lanes when it had some), and a participant is drawn around a process that had none.
"""
from __future__ import annotations

from lxml import etree

from ..spiff.parser import NS
from .import_structure import BPMNDI, DC, _bounds, _shape

BPMN = NS["bpmn"]
HEADER = 30        # the pool's and the lanes' name band on the left, as bpmn-js draws it
MARGIN = 40        # free space between a new pool's edge and the shapes inside
LANE_HEIGHT = 125  # a new lane below drawn lanes, when those give no height to copy


def draw_new_lanes(root, proc, lanes: list) -> tuple[str, str] | None:
    """Give each lane in ``lanes`` (just added to ``proc``) a shape; return how they were drawn, or None.

    None: the file has no diagram of this process (the case page lays out the whole process then).
    """
    plane = _plane(root, proc)
    if plane is None:
        return None
    participant, pool = _participant(root, proc), None
    if participant is not None:
        pool = _shape(root, participant.get("id"))
    new_ids = {lane.get("id") for lane in lanes}
    drawn_lanes = [s for lane in proc.iter(f"{{{BPMN}}}lane") if lane.get("id") not in new_ids
                   for s in [_shape(root, lane.get("id"))] if s is not None]
    made_pool = pool is None
    if made_pool:
        box = _around(root, proc, drawn_lanes)
        if box is None:
            return None
        if participant is None:
            participant = _add_participant(root, proc, plane)
        x, y, w, h = box
        pool = _new_shape(participant.get("id"), x - MARGIN - HEADER, y - MARGIN, w + 2 * MARGIN + HEADER,
                          h + 2 * MARGIN)
        plane.insert(0, pool)
    px, py, pw, ph = _bounds(pool)
    after = drawn_lanes[-1] if drawn_lanes else pool
    if drawn_lanes:
        # The pool's drawn lanes stay as they are: the new ones go below, the pool grows by their height.
        boxes = [_bounds(s) for s in drawn_lanes]
        lx = min(b[0] for b in boxes)  # nested lanes start further right: the new one spans them all
        lw = max(b[0] + b[2] for b in boxes) - lx
        height = min(b[3] for b in boxes) or LANE_HEIGHT
        for lane in lanes:
            shape = _new_shape(lane.get("id"), lx, py + ph, lw, height)
            after.addnext(shape)
            after, ph = shape, ph + height
        _set_bounds(pool, px, py, pw, ph)
        how = ("画在泳池下方，泳池加高；任务仍在原处，可在建模器里拖进泳道",
               "drawn below the pool's lanes, the pool made taller; the tasks stay where they are drawn")
    else:
        for lane, (top, height) in zip(_ordered(root, lanes), _split(root, _ordered(root, lanes), py, ph)):
            shape = _new_shape(lane.get("id"), px + HEADER, top, pw - HEADER, height)
            after.addnext(shape)
            after = shape
        how = ("把泳池按任务的位置分成泳道", "the pool split into lanes where their tasks are drawn")
    if made_pool:
        how = (f"围绕流程画了泳池 {participant.get('id')}，" + how[0],
               f"a pool {participant.get('id')} drawn around the process; " + how[1])
    return how


def _plane(root, proc):
    """Return the diagram plane that draws ``proc`` (directly or through its pool's collaboration)."""
    owners = {proc.get("id")}
    for collab in root.iterfind("bpmn:collaboration", NS):
        if any(p.get("processRef") == proc.get("id") for p in collab.iterfind("bpmn:participant", NS)):
            owners.add(collab.get("id"))
    for plane in root.iter(f"{{{BPMNDI}}}BPMNPlane"):
        if plane.get("bpmnElement") in owners:
            return plane
    return None


def _participant(root, proc):
    for participant in root.iter(f"{{{BPMN}}}participant"):
        if participant.get("processRef") == proc.get("id"):
            return participant
    return None


def _add_participant(root, proc, plane):
    """Add a participant for ``proc`` to the plane's collaboration (a new one when the plane draws the process)."""
    collab = next((c for c in root.iterfind("bpmn:collaboration", NS) if c.get("id") == plane.get("bpmnElement")), None)
    if collab is None:
        collab = etree.Element(f"{{{BPMN}}}collaboration", id=f"{proc.get('id')}_collaboration")
        first = next(el for el in root if isinstance(el.tag, str) and etree.QName(el).localname == "process")
        first.addprevious(collab)
        collab.tail = "\n  "
        plane.set("bpmnElement", collab.get("id"))
    participant = etree.Element(f"{{{BPMN}}}participant", id=f"{proc.get('id')}_participant",
                                name=proc.get("name") or proc.get("id"), processRef=proc.get("id"))
    flows = [c for c in collab if isinstance(c.tag, str) and etree.QName(c).localname != "documentation"]
    if flows:
        flows[0].addprevious(participant)  # participants come before message flows in the schema's order
    else:
        collab.append(participant)
    return participant


def _around(root, proc, extra: list) -> tuple[float, float, float, float] | None:
    """Return the box around every drawn element of ``proc`` (and ``extra`` shapes)."""
    ids = {el.get("id") for el in proc.iter() if isinstance(el.tag, str) and el.get("id")}
    boxes = [_bounds(s) for s in root.iter(f"{{{BPMNDI}}}BPMNShape") if s.get("bpmnElement") in ids]
    boxes += [_bounds(s) for s in extra]
    boxes = [b for b in boxes if b]
    if not boxes:
        return None
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return left, top, right - left, bottom - top


def _members(root, lane) -> list[tuple[float, float, float, float]]:
    refs = [(r.text or "").strip() for r in lane.iterfind("bpmn:flowNodeRef", NS)]
    return [b for b in (_bounds(_shape(root, ref)) for ref in refs) if b]


def _ordered(root, lanes: list) -> list:
    """Order lanes top to bottom by where their tasks are drawn (undrawn ones last)."""
    def centre(lane):
        boxes = _members(root, lane)
        return sum(b[1] + b[3] / 2 for b in boxes) / len(boxes) if boxes else float("inf")
    return sorted(lanes, key=centre)


def _split(root, lanes: list, top: float, height: float) -> list[tuple[float, float]]:
    """Cut the pool's height into one band per lane, between the tasks of neighbouring lanes where they allow."""
    count = len(lanes)
    cuts = [top + height * i / count for i in range(count + 1)]
    for i in range(1, count):
        above, below = _members(root, lanes[i - 1]), _members(root, lanes[i])
        if above and below:
            low = max(b[1] + b[3] for b in above)
            high = min(b[1] for b in below)
            if low < high:
                cuts[i] = (low + high) / 2
    if any(b - a < 60 for a, b in zip(cuts, cuts[1:])):
        cuts = [top + height * i / count for i in range(count + 1)]  # tasks interleave: equal bands
    return [(a, b - a) for a, b in zip(cuts, cuts[1:])]


def _new_shape(element_id: str, x: float, y: float, w: float, h: float):
    shape = etree.Element(f"{{{BPMNDI}}}BPMNShape", id=f"{element_id}_di", bpmnElement=element_id, isHorizontal="true")
    etree.SubElement(shape, f"{{{DC}}}Bounds", x=f"{x:g}", y=f"{y:g}", width=f"{w:g}", height=f"{h:g}")
    shape.tail = "\n      "
    return shape


def _set_bounds(shape, x: float, y: float, w: float, h: float) -> None:
    bounds = shape.find(f"{{{DC}}}Bounds")
    for key, value in (("x", x), ("y", y), ("width", w), ("height", h)):
        bounds.set(key, f"{value:g}")
