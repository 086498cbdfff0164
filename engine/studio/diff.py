"""What changed between two file sets of a procedure, in a designer's terms.

BPMN: elements added, removed and changed by id, compared on meaning (type, name, attributes,
conditions, scripts, properties, timers, lane membership), never on diagram layout. Forms: fields
added, removed, changed. DMN: decision-table rules (rows), inputs and outputs. Parameters:
``processes/<key>.yaml`` entries, ``variables`` one by one. Scenarios: a line diff.
"""
from __future__ import annotations

import difflib
import json

import yaml
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..definitions.deployment import get_definition
from ..org.orgs import Actor
from ..store.models import ProcessDefinition
from .access import require_designer
from .drafts import get_draft
from .workspace import file_kind, version_files

_DI_NAMESPACES = {"http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
                  "http://www.omg.org/spec/DD/20100524/DI"}
# Elements whose children with an id are elements of their own; everything else is content.
_CONTAINERS = {"definitions", "process", "subProcess", "transaction", "adHocSubProcess", "laneSet", "lane",
               "childLaneSet", "collaboration"}
# Attributes a designer knows by another name; those naming another element are shown with its name.
_ATTRIBUTES = {"sourceRef": "起点", "targetRef": "终点", "default": "默认出口", "attachedToRef": "附着于",
               "cancelActivity": "中断活动", "calledElement": "调用流程", "processRef": "参与的流程",
               "messageRef": "消息", "isExecutable": "可执行", "gatewayDirection": "网关方向"}
_REFERENCES = {"起点", "终点", "默认出口", "附着于"}
_FACETS = {"conditionExpression": "条件", "script": "脚本", "multiInstanceLoopCharacteristics": "多实例会签",
           "standardLoopCharacteristics": "循环", "documentation": "说明"}


def diff_files(old: dict[str, str], new: dict[str, str]) -> dict:
    """Return the differences from ``old`` to ``new``: BPMN elements, and per file the readable changes."""
    old_elements, new_elements = _elements(old), _elements(new)
    added = sorted(set(new_elements) - set(old_elements))
    removed = sorted(set(old_elements) - set(new_elements))
    details = {}
    for element_id in sorted(set(old_elements) & set(new_elements)):
        lines = _describe(old_elements[element_id], new_elements[element_id], old_elements, new_elements)
        if lines:
            details[element_id] = lines
    names = {i: (new_elements.get(i) or old_elements.get(i)).get("名称") for i in [*added, *removed, *details]}
    files = []
    for path in sorted(set(old) | set(new)):
        kind = file_kind(path) or "other"
        status = "added" if path not in old else "removed" if path not in new else "changed"
        if status == "changed" and old[path] == new[path]:
            continue
        changes = _file_changes(kind, old.get(path), new.get(path), path)
        if status != "changed" or changes:
            files.append({"path": path, "kind": kind, "status": status, "changes": changes})
    return {"elements": {"added": added, "removed": removed, "changed": sorted(details), "details": details,
                         "names": names}, "files": files}


def diff_draft(session: Session, *, draft_id: int, against: int | None, actor: Actor) -> dict:
    """Diff a draft against a deployed version of its process (its base version, else the latest)."""
    draft = get_draft(session, draft_id=draft_id, actor=actor)
    files = dict(draft.files or {})
    version = against or draft.base_version
    if version is None and not _deployed(session, draft.process_key):
        return {"against": None} | diff_files({}, files)  # a new process: everything is added
    version = get_definition(session, key=draft.process_key, version=version).version
    return {"against": version} | diff_files(version_files(session, key=draft.process_key, version=version), files)


def diff_versions(session: Session, *, key: str, version: int, against: int, actor: Actor | None = None) -> dict:
    """Diff one deployed version of a process against another (an actor must be a designer)."""
    if actor is not None:
        require_designer(actor)
    return {"against": against} | diff_files(version_files(session, key=key, version=against),
                                             version_files(session, key=key, version=version))


def _deployed(session: Session, key: str) -> bool:
    return session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key).limit(1)) is not None


# ---- BPMN ------------------------------------------------------------------------------------------

def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _parse(text: str):
    try:
        return etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True,
                                                                      remove_comments=True))
    except etree.XMLSyntaxError:
        return None


def _elements(files: dict[str, str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for path, text in sorted(files.items()):
        if file_kind(path) != "bpmn":
            continue
        root = _parse(text)
        if root is not None:
            _walk(root, out)
    return out


def _walk(container, out: dict) -> None:
    for child in container:
        if not isinstance(child.tag, str) or etree.QName(child).namespace in _DI_NAMESPACES:
            continue
        element_id = child.get("id")
        if element_id and _local(container.tag) in _CONTAINERS and _local(child.tag) not in _FACETS:
            out[element_id] = _signature(child)
        if _local(child.tag) in _CONTAINERS:
            _walk(child, out)


# Attributes whose BPMN default a modeler may write or leave out: both mean the same.
_DEFAULTS = {"cancelActivity": "true", "isInterrupting": "true", "isExecutable": "true", "isSequential": "false",
             "triggeredByEvent": "false", "isForCompensation": "false", "instantiate": "false",
             "parallelMultiple": "false", "isImmediate": "true"}


def _signature(element) -> dict:
    sig = {"类型": _local(element.tag), "名称": element.get("name")}
    for key, value in sorted(element.attrib.items()):
        name = _local(key)
        if name not in ("id", "name") and _DEFAULTS.get(name) != value:
            sig[_ATTRIBUTES.get(name, f"属性 {name}")] = value
    for child in element:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        if child.get("id") and _local(element.tag) in _CONTAINERS and tag not in _FACETS:
            continue  # an element of its own
        if tag in ("incoming", "outgoing"):
            continue  # the flows themselves carry source and target
        if tag == "flowNodeRef":
            sig.setdefault("泳道成员", []).append((child.text or "").strip())
        elif tag == "extensionElements":
            for prop in child.iter():
                if isinstance(prop.tag, str) and prop.get("name") is not None and prop.get("value") is not None:
                    sig[f"设置 {prop.get('name')}"] = prop.get("value")
                elif isinstance(prop.tag, str) and prop is not child and len(prop) == 0 and (prop.text or "").strip():
                    sig[f"设置 {_local(prop.tag)}"] = prop.text.strip()
        elif tag.endswith("EventDefinition"):
            sig[f"事件 {tag.removesuffix('EventDefinition')}"] = _canon(child)
        else:
            sig[_FACETS.get(tag, tag)] = _canon(child)
    if "泳道成员" in sig:
        sig["泳道成员"] = sorted(sig["泳道成员"])
    return sig


def _canon(element) -> str:
    """A layout- and id-independent text of an element's content."""
    attrs = " ".join(f"{_local(k)}={v}" for k, v in sorted(element.attrib.items()) if _local(k) != "id")
    text = (element.text or "").strip()
    inner = " ".join(_canon(c) for c in element if isinstance(c.tag, str))
    own = " ".join(p for p in (attrs, text) if p)
    return " ".join(p for p in (own, inner) if p) or "(空)"


def _describe(old: dict, new: dict, old_all: dict, new_all: dict) -> list[str]:
    lines = []
    for facet in sorted(set(old) | set(new), key=lambda k: (k != "类型", k != "名称", k)):
        before, after = old.get(facet), new.get(facet)
        if before != after:
            if facet in _REFERENCES:
                before, after = _named(before, old_all), _named(after, new_all)
            lines.append(f"{facet}：{_show(before)} → {_show(after)}")
    return lines


def _named(element_id: str | None, elements: dict) -> str | None:
    name = (elements.get(element_id) or {}).get("名称") if element_id else None
    return f"{element_id}（{name}）" if name else element_id


def _show(value) -> str:
    if value is None:
        return "（无）"
    if isinstance(value, list):
        return "、".join(value) or "（无）"
    return str(value) if len(str(value)) <= 200 else str(value)[:200] + "…"


# ---- files -----------------------------------------------------------------------------------------

def _file_changes(kind: str, old: str | None, new: str | None, path: str) -> list[dict]:
    if kind == "bpmn":
        before, after = _elements({path: old} if old else {}), _elements({path: new} if new else {})
        return _keyed(before, after, "element", lambda s: s.get("名称") or s.get("类型"))
    if kind == "form":
        return _form_changes(old, new)
    if kind == "dmn":
        return _dmn_changes(old, new)
    if kind == "parameters":
        return _parameter_changes(old, new)
    if old == new:
        return []
    diff = difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), "before", "after", lineterm="", n=1)
    return [{"what": "line", "status": "changed", "name": None, "before": None, "after": "\n".join(list(diff)[2:])}]


def _keyed(before: dict, after: dict, what: str, label) -> list[dict]:
    out = []
    for key in list(dict.fromkeys([*before, *after])):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        status = "added" if b is None else "removed" if a is None else "changed"
        out.append({"what": what, "status": status, "name": key, "label": label(a or b),
                    "before": _compact(b), "after": _compact(a)})
    return out


def _compact(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _yaml(text: str | None):
    if not text:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {"（YAML 格式错误）": text}
    return data if isinstance(data, dict) else {"（内容）": data}


def _form_changes(old: str | None, new: str | None) -> list[dict]:
    def fields(data: dict) -> dict:
        out = {}
        for item in data.get("fields") or []:
            if isinstance(item, dict) and item.get("name"):
                out[str(item["name"])] = {k: v for k, v in item.items() if k != "name"}
        return out

    before, after = _yaml(old), _yaml(new)
    changes = _keyed({k: v for k, v in before.items() if k != "fields"},
                     {k: v for k, v in after.items() if k != "fields"}, "attribute", lambda v: None)
    return changes + _keyed(fields(before), fields(after), "field",
                            lambda f: f.get("label") if isinstance(f, dict) else None)


def _parameter_changes(old: str | None, new: str | None) -> list[dict]:
    before, after = _yaml(old), _yaml(new)
    changes = _keyed({k: v for k, v in before.items() if k != "variables"},
                     {k: v for k, v in after.items() if k != "variables"}, "setting", lambda v: None)
    def variables(data: dict) -> dict:
        return data["variables"] if isinstance(data.get("variables"), dict) else {}

    return changes + _keyed(variables(before), variables(after), "variable", lambda v: None)


def _dmn_changes(old: str | None, new: str | None) -> list[dict]:
    before, after = _dmn(old), _dmn(new)
    out = []
    for what in ("decision", "input", "output", "rule"):
        out += _keyed(before[what], after[what], what, lambda v: v.get("label") if isinstance(v, dict) else None)
    return out


def _dmn(text: str | None) -> dict:
    out = {"decision": {}, "input": {}, "output": {}, "rule": {}}
    root = _parse(text) if text else None
    if root is None:
        return out
    for decision in root.iter("{*}decision"):
        out["decision"][decision.get("id")] = {"label": decision.get("name")}
        for element in decision.iter():
            tag = _local(element.tag)
            if tag == "input":
                expr = element.find(".//{*}text")
                out["input"][element.get("id")] = {"label": element.get("label"),
                                                   "expression": (expr.text or "").strip() if expr is not None else ""}
            elif tag == "output":
                out["output"][element.get("id")] = {"label": element.get("label"), "name": element.get("name")}
            elif tag == "rule":
                description = element.find("{*}description")
                out["rule"][element.get("id")] = {
                    "label": (description.text or "").strip() if description is not None else None,
                    "when": [_cell(c) for c in element.findall("{*}inputEntry")],
                    "then": [_cell(c) for c in element.findall("{*}outputEntry")]}
    return out


def _cell(entry) -> str:
    text = entry.find("{*}text")
    return (text.text or "").strip() if text is not None else ""
