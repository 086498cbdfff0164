"""What the import's modules share: the namespaces of other tools, what has no effect in Pingan, small helpers."""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import yaml
from lxml import etree

from ..definitions.scripting import HELPER_NAMES
from ..errors import DefinitionInvalid, Problem
from ..spiff.parser import NS, parse_xml

BPMN = NS["bpmn"]
SPIFF = NS["spiffworkflow"]
CAMUNDA = ("http://camunda.org/schema/1.0/bpmn", "http://activiti.org/bpmn", "http://flowable.org/bpmn")
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
FOREIGN = (*CAMUNDA, ZEEBE)

# Attributes that only steer Camunda's job executor, history or tasklist: no effect in Pingan.
NO_EFFECT = {"async", "asyncBefore", "asyncAfter", "exclusive", "jobPriority", "taskPriority", "priority",
              "historyTimeToLive", "versionTag", "isStartableInTasklist", "candidateStarterGroups",
              "candidateStarterUsers", "diagramRelationId", "modelerTemplate", "modelerTemplateVersion",
              "modelerTemplateIcon", "errorCodeVariable", "errorMessageVariable", "calledElementBinding",
              "calledElementVersion", "calledElementVersionTag", "calledElementTenantId", "decisionRefBinding",
              "decisionRefVersion", "decisionRefVersionTag", "decisionRefTenantId",
              "variableName", "variableEvents", "initiator", "formHandlerClass", "caseRef", "caseBinding"}
NO_EFFECT_ELEMENTS = {"failedJobRetryTimeCycle", "properties", "in", "out", "potentialStarter", "calledElement",
                       "versionTag", "header", "taskHeaders", "subscription", "executionListener"}
IMPLEMENTATIONS = {
    "class": ("调用 Java 类", "calls the Java class"),
    "expression": ("调用 Java 表达式", "calls the Java expression"),
    "delegateExpression": ("调用 Java 委托", "calls the Java delegate"),
    "type": ("是外部任务", "is an external task"),
    "topic": ("是外部任务", "is an external task"),
}
ABSTRACT_IMPLEMENTATION = {None, "", "##WebService", "##unspecified", "##Unspecified", "webService", "Other",
                            "unspecified"}
FORM_TYPES = {"string": "text", "long": "integer", "integer": "integer", "double": "number", "boolean": "boolean",
               "date": "date", "enum": "select", "textfield": "text", "textarea": "textarea", "number": "number",
               "checkbox": "boolean", "select": "select", "radio": "select", "datetime": "datetime",
               "checklist": "multiselect", "taglist": "multiselect"}
# Names an assignment expression may read without any form providing them (helpers of the sandbox).
ALWAYS_THERE = HELPER_NAMES | set(dir(builtins))
ISO_TIME = re.compile(r"(R\d*/)?P[0-9YMWDTHS.,]+(/.*)?|\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?")

NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

KIND_ZH = {"userTask": "用户任务", "serviceTask": "服务任务", "sendTask": "发送任务", "receiveTask": "接收任务",
            "scriptTask": "脚本任务", "businessRuleTask": "业务规则任务", "manualTask": "手工任务", "task": "任务",
            "callActivity": "调用活动", "subProcess": "子流程", "sequenceFlow": "连线", "startEvent": "开始事件",
            "endEvent": "结束事件", "boundaryEvent": "边界事件", "intermediateCatchEvent": "中间事件",
            "intermediateThrowEvent": "中间事件", "exclusiveGateway": "排他网关", "lane": "泳道", "process": "流程"}


def assigned(code: str) -> set[str]:
    try:
        tree = ast.parse(code or "")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def condition_fields(code: str) -> dict[str, dict]:
    """Guess the form field each name a condition reads should be: choice, yes/no, number or text."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return {}
    found: dict[str, dict] = {}
    compared: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name):
            name = node.left.id
            compared.add(name)
            values = [c.value for c in node.comparators if isinstance(c, ast.Constant)]
            if values and all(isinstance(v, bool) for v in values):
                found[name] = {"type": "boolean"}
            elif values and all(isinstance(v, str) for v in values):
                spec = found.setdefault(name, {"type": "select", "options": []})
                spec.setdefault("options", [])
                spec["options"] += [{"value": v, "label": v} for v in values if {"value": v, "label": v} not in spec["options"]]
            elif values and all(isinstance(v, (int, float)) for v in values):
                found[name] = {"type": "number"}
            else:
                found.setdefault(name, {"type": "text"})
    # ``any(risk == 'red' for risk in risk_levels)``: the list is the field, its item only a loop variable.
    skipped = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    for comp in (n for n in ast.walk(tree) if isinstance(n, ast.comprehension)):
        if not isinstance(comp.target, ast.Name) or not isinstance(comp.iter, ast.Name):
            continue
        skipped.add(comp.target.id)
        item = found.pop(comp.target.id, None)
        if item and item.get("options"):
            spec = found.setdefault(comp.iter.id, {"type": "multiselect", "options": []})
            spec["options"] = spec.get("options", []) + [o for o in item["options"] if o not in spec.get("options", [])]
        else:
            found.setdefault(comp.iter.id, {"type": "text"})
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in compared \
                and node.id not in skipped and node.id not in ("True", "False", "None"):
            found.setdefault(node.id, {"type": "boolean"})
    return found


@dataclass
class Imported:
    """The converted files, every refusal, and a line per change the import made."""

    files: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    # Each converted decision: its hit policy and its outputs as (name in the tool, name in Pingan).
    decisions: dict[str, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)


def parse_or_report(text: str, path: str, problems: list):
    """Return the file's XML tree, or None with its problems (each with its line) added to ``problems``.

    A file that is not XML Pingan reads is reported and left out of the import's result.
    """
    try:
        return parse_xml(text.encode("utf-8"), PurePosixPath(path).name)
    except DefinitionInvalid as exc:
        problems.extend(Problem(p.message, p.message_en, file=path, line=p.line, element_id=p.element_id)
                        for p in exc.details)
        return None


def with_spiff_namespace(tree):
    """Declare the spiffworkflow prefix on the root, so converted settings read as Pingan's own files do."""
    root = tree.getroot()
    if root.nsmap.get("spiffworkflow") == SPIFF:
        return root
    nsmap = dict(root.nsmap)
    nsmap["spiffworkflow"] = SPIFF
    new = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=nsmap)
    new.text = root.text
    for child in list(root):
        new.append(child)
    tree._setroot(new)
    return new


def prefix(q: etree.QName) -> str:
    return "zeebe" if q.namespace == ZEEBE else "camunda"


def set_text(el, text: str) -> None:
    for child in list(el):
        el.remove(child)
    el.text = text


def form_slug(value: str) -> str:
    """Turn a Camunda form key (``embedded:app:forms/approve.html``, ``app:approve.jsf``) into a form name."""
    last = re.split(r"[:/]", value.strip())[-1]
    stem = last.rsplit(".", 1)[0] if "." in last else last
    slug = re.sub(r"\W+", "_", stem).strip("_")
    return slug or "form"


def form_yaml(title: str, fields: list[dict]) -> str:
    head = "# 由导入生成：请补全字段、标签和校验 (generated by the import: complete the fields, labels and checks)\n"
    return head + yaml.safe_dump({"title": title, "fields": fields}, allow_unicode=True, sort_keys=False)


def camunda_attr(el, name: str) -> str | None:
    """Return a Camunda (or Activiti, Flowable) attribute of an element, whichever namespace it is written in."""
    return next((el.get(f"{{{ns}}}{name}") for ns in CAMUNDA if el.get(f"{{{ns}}}{name}")), None)
