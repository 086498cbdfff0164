"""Bring models from Camunda Modeler, bpmn.io and other tools: convert what Pingan has, refuse the rest by element.

What the import changes is listed in ``Imported.changes`` and in docs/designer-guide.md
("导入其他工具的模型"); every refusal is a Problem naming the element (id and name), the reason,
and what to draw instead.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import yaml
from lxml import etree

from ..errors import DefinitionInvalid, Problem
from ..orgs import ROLES, role_for_lane
from ..scripting import HELPER_NAMES
from ..spiff.parser import NS, element_lines, parse_xml
from . import import_structure as structure
from .import_structure import after_children
from .imported_expressions import NotConvertible, snake, to_python
from .workspace import LAYOUT_HELP, file_kind

BPMN = NS["bpmn"]
SPIFF = NS["spiffworkflow"]
CAMUNDA = ("http://camunda.org/schema/1.0/bpmn", "http://activiti.org/bpmn", "http://flowable.org/bpmn")
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
_FOREIGN = (*CAMUNDA, ZEEBE)

# Attributes that only steer Camunda's job executor, history or tasklist: no effect in Pingan.
_NO_EFFECT = {"async", "asyncBefore", "asyncAfter", "exclusive", "jobPriority", "taskPriority", "priority",
              "historyTimeToLive", "versionTag", "isStartableInTasklist", "candidateStarterGroups",
              "candidateStarterUsers", "diagramRelationId", "modelerTemplate", "modelerTemplateVersion",
              "modelerTemplateIcon", "errorCodeVariable", "errorMessageVariable", "calledElementBinding",
              "calledElementVersion", "calledElementVersionTag", "calledElementTenantId", "decisionRefBinding",
              "decisionRefVersion", "decisionRefVersionTag", "decisionRefTenantId", "mapDecisionResult",
              "variableName", "variableEvents", "initiator", "formHandlerClass", "caseRef", "caseBinding"}
_NO_EFFECT_ELEMENTS = {"failedJobRetryTimeCycle", "properties", "in", "out", "potentialStarter", "calledElement",
                       "versionTag", "header", "taskHeaders", "subscription", "executionListener"}
_IMPLEMENTATIONS = {
    "class": ("调用 Java 类", "calls the Java class"),
    "expression": ("调用 Java 表达式", "calls the Java expression"),
    "delegateExpression": ("调用 Java 委托", "calls the Java delegate"),
    "type": ("是外部任务", "is an external task"),
    "topic": ("是外部任务", "is an external task"),
}
_ABSTRACT_IMPLEMENTATION = {None, "", "##WebService", "##unspecified", "##Unspecified", "webService", "Other",
                            "unspecified"}
_FORM_TYPES = {"string": "text", "long": "integer", "integer": "integer", "double": "number", "boolean": "boolean",
               "date": "date", "enum": "select", "textfield": "text", "textarea": "textarea", "number": "number",
               "checkbox": "boolean", "select": "select", "radio": "select", "datetime": "datetime",
               "checklist": "multiselect", "taglist": "multiselect"}
# Names an assignment expression may read without any form providing them (helpers of the sandbox).
_ALWAYS_THERE = HELPER_NAMES | set(dir(builtins))
_ISO_TIME = re.compile(r"(R\d*/)?P[0-9YMWDTHS.,]+(/.*)?|\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?")


@dataclass
class Imported:
    """The converted files, every refusal, and a line per change the import made."""

    files: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def import_files(files: dict[str, str], *, default_role: str | None = None,
                 manual_steps: bool = False) -> tuple[dict[str, str], list[Problem]]:
    """Convert uploaded files to Pingan's layout and settings; return them with every problem left.

    The problems are the import's refusals followed by what ``pingan validate`` still finds in
    the converted files: an empty list means the result may be deployed as it is.
    ``default_role``: the role (key or Chinese name) that acts on user tasks drawn outside any
    lane or in a lane that names no Pingan role. ``manual_steps``: import a step Pingan cannot
    run (Java code, an external job, a script in another language) as a user task that a person
    does and confirms, instead of refusing it.
    """
    result = convert_files(files, default_role=default_role, manual_steps=manual_steps)
    return result.files, result.problems


def convert_files(files: dict[str, str], *, default_role: str | None = None, manual_steps: bool = False) -> Imported:
    """Convert a set of files (path -> text) and validate the result; see import_files."""
    from .validation import validate_files

    if default_role is not None and default_role not in ROLES:
        default_role = role_for_lane(default_role)
        if default_role is None:
            raise DefinitionInvalid("默认角色不是平安的角色", message_en="the default role is not a Pingan role",
                                    details=[Problem("可用角色：" + "、".join(f"{v}({k})" for k, v in ROLES.items()),
                                                     "roles: " + ", ".join(ROLES))])
    out = Imported(files={})
    calls = _call_graph(files)
    for path, text in sorted(files.items()):
        if path.lower().endswith(".bpmn"):
            job = _BpmnImport(path, text, out, files, default_role, manual_steps)
            job.calls = calls
            job.run()
        elif path.lower().endswith(".dmn"):
            stem = re.sub(r"[^\w\-]", "_", PurePosixPath(path).stem)[:100] or "decision"
            out.files.setdefault(f"processes/{stem}.dmn", text)
    for path, text in sorted(files.items()):
        if path.lower().endswith((".yaml", ".yml")):
            pure = PurePosixPath(path)
            target = path if pure.parts[0] in ("forms", "processes", "tests") else f"processes/{pure.name}"
            if file_kind(target) is None:
                out.problems.append(Problem(f"文件 {path} 放不进平安的目录结构（{LAYOUT_HELP}），未导入",
                                            f"{path} does not fit Pingan's layout and was not imported", file=path))
                continue
            out.files[target] = text
    # The import's own refusal of an element says more than the validator's about the same element.
    refused = {(p.file, p.element_id) for p in out.problems}
    if any(p.endswith(".bpmn") for p in out.files):
        for problem in validate_files(out.files):
            if (problem.file, problem.element_id) not in refused:
                out.problems.append(_located(problem, out.files))
    return out


def _call_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """Map each process id in the BPMN files to the processes its call activities call."""
    calls: dict[str, set[str]] = {}
    for path, text in files.items():
        if not path.lower().endswith(".bpmn"):
            continue
        try:
            root = parse_xml(text.encode("utf-8"), PurePosixPath(path).name).getroot()
        except DefinitionInvalid:
            continue
        for proc in root.iterfind("bpmn:process", NS):
            calls[proc.get("id")] = {c.get("calledElement") for c in proc.iter(f"{{{BPMN}}}callActivity")} | {
                z.get("processId") for z in proc.iter(f"{{{ZEEBE}}}calledElement")}
    return calls


def _located(problem: Problem, files: dict[str, str]) -> Problem:
    """Give a form problem that names only its form key ("leave/start 的字段 ...") the form's file."""
    if problem.file or problem.element_id:
        return problem
    match = re.match(r"([\w\-]+/[\w\-]+)\b", problem.message)
    path = f"forms/{match.group(1)}.yaml" if match else None
    if path in files:
        problem.file = path
    return problem


class _BpmnImport:
    """One BPMN file's conversion."""

    def __init__(self, path: str, text: str, out: Imported, given: dict[str, str], default_role: str | None,
                 manual_steps: bool):
        self.path, self.text, self.out, self.given, self.default_role = path, text, out, given, default_role
        self.manual_steps = manual_steps
        self.calls: dict[str, set[str]] = {}
        self.passed_through: set[str] = set()
        self.assignment_names: dict[str, dict[str, str]] = {}
        self.extra_fields: dict[str, list[dict]] = {}
        self.file = path  # renamed once the process key is known
        self.lines: dict[str, int] = {}

    # -- reporting ---------------------------------------------------------------------------

    def _label(self, el) -> tuple[str, str]:
        name = " ".join((el.get("name") or "").split())
        kind = etree.QName(el).localname
        zh = f"{_KIND_ZH.get(kind, '元素')} '{name}'（{el.get('id')}）" if name else f"{_KIND_ZH.get(kind, '元素')} {el.get('id')}"
        en = f"{kind} '{name}' ({el.get('id')})" if name else f"{kind} {el.get('id')}"
        return zh, en

    def refuse(self, el, zh: str, en: str, hint: str | None = None) -> None:
        owner = el
        while owner is not None and not owner.get("id"):
            owner = owner.getparent()
        label_zh, label_en = self._label(owner)
        self.out.problems.append(Problem(f"{label_zh}：{zh}", f"{label_en}: {en}", file=self.file,
                                         line=owner.sourceline, element_id=owner.get("id"), hint=hint))

    def change(self, el, zh: str, en: str) -> None:
        label_zh, label_en = self._label(el)
        self.out.changes.append(f"{self.file}: {label_zh}：{zh} ({label_en}: {en})")

    # -- the conversion ----------------------------------------------------------------------

    def run(self) -> None:
        try:
            tree = parse_xml(self.text.encode("utf-8"), PurePosixPath(self.path).name)
        except DefinitionInvalid as exc:
            self.out.problems.extend(Problem(p.message, p.message_en, file=self.path, line=p.line,
                                             element_id=p.element_id) for p in exc.details)
            self.out.files[self.path] = self.text
            return
        self.tree, self.root = tree, _with_spiff_namespace(tree)
        self.lines = element_lines(tree)
        processes = self._executable_processes()
        for proc in processes:
            structure.rename_process(self.root, proc, self.change)
        self.file = self._target_path(processes)
        self.added_spiff = False
        for proc in processes:
            self.process_key = proc.get("id")
            for el in list(proc.iter()):
                if isinstance(el.tag, str) and el.getparent() is not None:
                    self._element(el)
            subs = [s for s in proc.iter(f"{{{BPMN}}}subProcess", f"{{{BPMN}}}transaction")]
            for sub in reversed(subs):  # innermost first: an emptied inner one makes no outer one empty
                if structure.empty_sub_process_to_task(sub, self.change):
                    self.passed_through.add(sub.get("id"))
                else:
                    structure.explicit_start_and_end(self.root, sub, self.change)
            for container in [proc, *(s for s in subs if etree.QName(s).localname in ("subProcess", "transaction"))]:
                structure.split_implicit_forks(self.root, container, self.change)
                for gateway in list(container.iterfind("bpmn:exclusiveGateway", NS)):
                    self._decision(container, gateway)
                self._assignment_fields(container)
            self._lanes(proc)
            for task in proc.iter(f"{{{BPMN}}}userTask"):
                for key in self._callers(processes, proc.get("id")):
                    self._form(task, key)
            start = next((e for e in proc.iterfind(f"{{{BPMN}}}startEvent")), None)
            if start is not None:
                self._start_form(start)
        self._strip_foreign()
        xml = etree.tostring(self.tree, xml_declaration=True, encoding="UTF-8").decode("utf-8")
        self.out.files[self.file] = xml if xml.endswith("\n") else xml + "\n"

    def _executable_processes(self) -> list:
        procs = list(self.root.iterfind(f"{{{BPMN}}}process"))
        marked = [p for p in procs if (p.get("isExecutable") or "").lower() == "true"]
        if marked:
            return marked + [p for p in procs if p.get("isExecutable") is None and self._has_flow(p)]
        chosen = []
        for proc in procs:
            if self._has_flow(proc):
                if proc.get("isExecutable") != "true":
                    proc.set("isExecutable", "true")
                    self.change(proc, "标为可执行（原文件没有可执行的流程）", "marked executable (the file had no executable process)")
                chosen.append(proc)
            elif proc.get("isExecutable") != "false":
                # An empty pool (a partner drawn as a black box) has nothing to run.
                proc.set("isExecutable", "false")
                self.change(proc, "空的泳池，标为不可执行", "empty pool, marked not executable")
        return chosen

    @staticmethod
    def _has_flow(proc) -> bool:
        return any(etree.QName(el).localname.endswith(("Event", "Task", "task", "Activity", "Process", "Gateway"))
                   for el in proc if isinstance(el.tag, str))

    def _target_path(self, processes: list) -> str:
        stem = PurePosixPath(self.path).stem
        if len(processes) == 1:
            stem = processes[0].get("id")
        stem = re.sub(r"[^\w\-]", "_", stem)[:100] or "imported"
        target = f"processes/{stem}.bpmn"
        n = 2
        while target in self.out.files:
            target, n = f"processes/{stem}_{n}.bpmn", n + 1
        return target

    def _element(self, el) -> None:
        kind = etree.QName(el).localname
        handler = getattr(self, f"_on_{kind}", None)
        for attr in list(el.attrib):
            q = etree.QName(attr)
            if q.namespace in _FOREIGN and q.localname in _NO_EFFECT:
                del el.attrib[attr]
                self.change(el, f"去掉 {_prefix(q)}:{q.localname}（在平安中不起作用）",
                            f"dropped {_prefix(q)}:{q.localname} (no effect in Pingan)")
        if handler is not None:
            handler(el)

    # Activities ------------------------------------------------------------------------------

    def _implementation(self, el) -> bool:
        """Refuse a Java, external-task or connector implementation; True when one was found."""
        for attr, (zh, en) in _IMPLEMENTATIONS.items():
            for ns in CAMUNDA:
                value = el.get(f"{{{ns}}}{attr}")
                if value and self.manual_steps:
                    self._to_manual_step(el, f"{zh} '{value}'", f"{en} '{value}'")
                    return True
                if value:
                    self.refuse(el, f"{zh} '{value}'，平安不运行 Java 代码或外部作业", f"{en} '{value}', and Pingan runs no "
                                "Java code or external workers", hint="改画为脚本任务（Python）或用户任务，或导入时选“改为人工办理” "
                                "(draw a script task (Python) or a user task instead, or import with manual steps)")
                    return True
        for ext in el.iterfind("bpmn:extensionElements/*", NS):
            q = etree.QName(ext)
            if q.namespace in CAMUNDA and q.localname == "connector" or q.namespace == ZEEBE and q.localname == "taskDefinition":
                what = ext.get("type") or "".join(ext.itertext()).strip()[:60] or q.localname
                if self.manual_steps:
                    self._to_manual_step(el, f"由外部作业或连接器 '{what}' 执行", f"run by the external job or connector '{what}'")
                    return True
                self.refuse(el, f"由外部作业或连接器 '{what}' 执行，平安没有作业执行器",
                            f"is run by the external job or connector '{what}'; Pingan has no job workers",
                            hint="改画为脚本任务（Python）或用户任务，或导入时选“改为人工办理” (draw a script task (Python) "
                            "or a user task instead, or import with manual steps)")
                return True
        return False

    def _to_manual_step(self, el, was_zh: str, was_en: str) -> None:
        """Make a step Pingan cannot run a user task: a person does it, enters what it produced, and confirms."""
        outputs = [o.get("target") for o in el.iterfind(f"bpmn:extensionElements/{{{ZEEBE}}}ioMapping/{{{ZEEBE}}}output", NS)]
        outputs += [o.get("name") for ns in CAMUNDA
                    for o in el.iterfind(f"bpmn:extensionElements/{{{ns}}}inputOutput/{{{ns}}}outputParameter", NS)]
        for name in filter(None, outputs):
            self.extra_fields.setdefault(el.get("id"), []).append(
                {"name": snake(name), "label": name, "type": "text", "required": True})
        self.change(el, f"平安不能自动执行（原为{was_zh}），导入为用户任务：由办理人完成后在平安里确认",
                    f"Pingan cannot run it ({was_en}); imported as a user task a person does and confirms")
        el.tag = f"{{{BPMN}}}userTask"
        for attr in list(el.attrib):
            q = etree.QName(attr)
            if q.namespace in _FOREIGN or attr in ("implementation", "operationRef", "messageRef", "scriptFormat"):
                del el.attrib[attr]
        for child in list(el):
            if isinstance(child.tag, str) and etree.QName(child).localname == "script":
                el.remove(child)
        ext = el.find("bpmn:extensionElements", NS)
        for child in list(ext) if ext is not None else []:
            if etree.QName(child).namespace in _FOREIGN:
                ext.remove(child)

    def _abstract_to_task(self, el, why_zh: str, why_en: str) -> None:
        self.change(el, f"{why_zh}，导入为直接通过的脚本任务（脚本只有说明，不做任何事）",
                    f"{why_en}; imported as a script task that passes straight through (its script is a comment)")
        structure.pass_through(el)
        self.passed_through.add(el.get("id"))

    def _on_task(self, el) -> None:
        self._abstract_to_task(el, "普通任务（平安不会自动完成普通任务）", "plain task (Pingan never completes a plain task by itself)")

    def _on_serviceTask(self, el) -> None:
        if self._implementation(el):
            return
        if el.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS) is None \
                and el.get("implementation") in _ABSTRACT_IMPLEMENTATION and el.get("operationRef") is None:
            self._abstract_to_task(el, "服务任务没有实现", "service task without implementation")

    def _on_sendTask(self, el) -> None:
        if self._implementation(el):
            return
        if not el.get("messageRef"):
            self._abstract_to_task(el, "发送任务没有指定消息", "send task without a message")

    def _on_receiveTask(self, el) -> None:
        if not el.get("messageRef"):
            self.refuse(el, "接收任务没有指定消息，平安无法知道它等什么", "the receive task names no message, so Pingan "
                        "cannot know what it waits for", hint="给它指定消息（messageRef），或改画为用户任务 (give it a "
                        "message or draw a user task)")

    def _on_manualTask(self, el) -> None:
        self.change(el, "手工任务导入为用户任务（由办理人在平安里确认完成）",
                    "manual task imported as a user task (the person confirms it in Pingan)")
        el.tag = f"{{{BPMN}}}userTask"

    def _on_businessRuleTask(self, el) -> None:
        if self._implementation(el):
            return
        decision = next((el.get(f"{{{ns}}}decisionRef") for ns in CAMUNDA if el.get(f"{{{ns}}}decisionRef")), None)
        zeebe = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}calledDecision", NS)
        result_var = next((el.get(f"{{{ns}}}resultVariable") for ns in CAMUNDA if el.get(f"{{{ns}}}resultVariable")), None)
        if zeebe is not None:
            decision, result_var = zeebe.get("decisionId"), zeebe.get("resultVariable")
        if result_var:
            self.refuse(el, f"把决策结果放进变量 '{result_var}'；平安把决策表的输出列直接写进案件数据",
                        f"puts the decision result into '{result_var}'; Pingan writes the decision table's output "
                        "columns straight into the case data",
                        hint="去掉结果变量，在后面的条件里直接用输出列名 (drop the result variable and use the output "
                        "column names in the conditions that follow)")
        for ns in CAMUNDA:
            el.attrib.pop(f"{{{ns}}}decisionRef", None)
            el.attrib.pop(f"{{{ns}}}resultVariable", None)
        if decision:
            self._extension(el, "calledDecisionId").text = decision
            self.change(el, f"决策引用改为 spiffworkflow:calledDecisionId = {decision}",
                        f"decision reference converted to spiffworkflow:calledDecisionId = {decision}")
        elif el.find("bpmn:extensionElements/spiffworkflow:calledDecisionId", NS) is None:
            self._abstract_to_task(el, "业务规则任务没有指定决策表", "business rule task without a decision")

    def _on_scriptTask(self, el) -> None:
        fmt = (el.get("scriptFormat") or "python").strip().lower()
        script = el.find("bpmn:script", NS)
        result_var = next((el.get(f"{{{ns}}}resultVariable") for ns in CAMUNDA if el.get(f"{{{ns}}}resultVariable")), None)
        zeebe = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}script", NS)
        if zeebe is not None:
            fmt, result_var = "feel", zeebe.get("resultVariable")
            code = zeebe.get("expression") or ""
        else:
            code = "".join(script.itertext()) if script is not None else ""
        if any(el.get(f"{{{ns}}}resource") for ns in CAMUNDA):
            self.refuse(el, "脚本放在外部文件里，平安只运行写在流程图里的 Python 脚本",
                        "keeps its script in an outside resource; Pingan runs Python written in the diagram")
            return
        if fmt in ("python", "py", "jython", "python3"):
            if result_var:
                self.refuse(el, "脚本用 resultVariable 返回值；平安的脚本直接给变量赋值",
                            "returns its value through resultVariable; a Pingan script assigns the variable itself",
                            hint=f"写成 {result_var} = ... (write {result_var} = ...)")
            el.attrib.pop("scriptFormat", None)
            return
        if result_var and fmt in ("juel", "feel", "groovy", "javascript", "js"):
            try:
                python = to_python(code if fmt != "feel" or code.startswith("=") else "=" + code)
            except NotConvertible as exc:
                self.refuse(el, f"{fmt} 脚本无法转换：{exc.zh}", f"the {fmt} script cannot be converted: {exc.en}")
                return
            self._set_script(el, f"{result_var} = {python}")
            self.change(el, f"{fmt} 表达式脚本改写为 Python：{result_var} = {python}",
                        f"{fmt} expression script rewritten as Python: {result_var} = {python}")
            return
        if self.manual_steps:
            self._to_manual_step(el, f" {fmt} 脚本", f"a {fmt} script")
            return
        self.refuse(el, f"脚本语言是 {fmt}；平安只运行 Python 脚本", f"the script is {fmt}; Pingan runs Python scripts only",
                    hint="把脚本改写为 Python (rewrite the script in Python)")

    def _set_script(self, el, code: str) -> None:
        for ns in CAMUNDA:
            el.attrib.pop(f"{{{ns}}}resultVariable", None)
        el.attrib.pop("scriptFormat", None)
        ext = el.find("bpmn:extensionElements", NS)
        if ext is not None:
            for z in ext.findall(f"{{{ZEEBE}}}script"):
                ext.remove(z)
        script = el.find("bpmn:script", NS)
        if script is None:
            script = etree.SubElement(el, f"{{{BPMN}}}script")
        script.text = code

    def _on_callActivity(self, el) -> None:
        zeebe = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}calledElement", NS)
        if zeebe is not None and zeebe.get("processId") and not el.get("calledElement"):
            el.set("calledElement", zeebe.get("processId"))
        called = el.get("calledElement") or ""
        if called.startswith(("${", "#{", "=")):
            self.refuse(el, f"被调用的流程由表达式 '{called}' 决定；平安在部署时就要知道调用哪个流程",
                        f"chooses the called process by the expression '{called}'; Pingan must know it when deploying",
                        hint="填写被调用流程的标识 (give the called process id)")

    def _on_userTask(self, el) -> None:
        props: dict[str, str] = {}
        get = lambda attr: next((el.get(f"{{{ns}}}{attr}") for ns in CAMUNDA if el.get(f"{{{ns}}}{attr}")), None)  # noqa: E731
        assignment = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}assignmentDefinition", NS)
        assignee, users, groups = get("assignee"), get("candidateUsers"), get("candidateGroups")
        if assignment is not None:
            assignee = assignee or assignment.get("assignee")
            users = users or assignment.get("candidateUsers")
            groups = groups or assignment.get("candidateGroups")
        if assignee:
            props["assignee"] = self._expression(el, assignee, "办理人", "assignee", literal_ok=True)
        if users:
            names = [u.strip() for u in users.split(",") if u.strip()]
            if len(names) == 1 and not assignee:
                props["assignee"] = self._expression(el, names[0], "候选人", "candidate user", literal_ok=True)
            elif assignee:
                self.refuse(el, f"同时指定了办理人（{assignee}）和候选人（{users}）；平安的任务只按一种方式分派",
                            f"names both an assignee ({assignee}) and candidate users ({users}); a Pingan task is "
                            "assigned one way", hint="只保留办理人，或改用泳道（角色）加候选组织 (keep the assignee, or use "
                            "a role lane with candidateOrg)")
            else:
                self.refuse(el, f"候选人有多位（{users}）；平安的任务交给一个办理人或一个角色的待签收池",
                            f"has several candidate users ({users}); a Pingan task goes to one person or to a role's pool",
                            hint="把任务画进以角色命名的泳道，需要时加候选组织 candidateOrg (put the task in a lane named "
                            "after the role, with candidateOrg if needed)")
        if groups:
            self._groups(el, [g.strip() for g in groups.split(",") if g.strip()])
        for camunda_attr, prop, zh in (("dueDate", "dueDate", "办理期限"), ("followUpDate", "warnAt", "提醒时间")):
            value = get(camunda_attr)
            if value:
                props[prop] = self._expression(el, value, zh, camunda_attr, literal_ok=True)
        if get("formKey") or get("formRef"):
            props["formKey"] = _form_slug(get("formKey") or get("formRef"))
        definition = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}formDefinition", NS)
        if definition is not None and (definition.get("formKey") or definition.get("formId")):
            props["formKey"] = _form_slug(definition.get("formKey") or definition.get("formId"))
        if props.get("formKey") == el.get("id"):
            del props["formKey"]
        props = {k: v for k, v in props.items() if v is not None}
        for attr in ("assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate", "formKey", "formRef"):
            for ns in CAMUNDA:
                el.attrib.pop(f"{{{ns}}}{attr}", None)
        if props:
            self.assignment_names[el.get("id")] = {k: v for k, v in props.items() if k in ("assignee", "dueDate", "warnAt")}
            self._properties(el, props)
            self.change(el, "办理设置改为平安属性：" + "，".join(f"{k}={v}" for k, v in props.items()),
                        "assignment settings converted to Pingan properties: " + ", ".join(f"{k}={v}" for k, v in props.items()))
        for listener in el.iterfind("bpmn:extensionElements/*", NS):
            q = etree.QName(listener)
            if q.namespace in _FOREIGN and q.localname in ("taskListener", "executionListener"):
                self.refuse(el, f"有 {q.localname}（监听器代码），平安不运行监听器",
                            f"has a {q.localname} (listener code); Pingan runs no listeners",
                            hint="把监听器做的事画成脚本任务 (draw what the listener does as a script task)")

    def _groups(self, el, groups: list[str]) -> None:
        roles = {role_for_lane(g) for g in groups}
        if len(groups) == 1 and None not in roles:
            el.set("pinganImportRole", roles.pop())
            return
        lane = self._lane_of(el)
        if lane is not None and role_for_lane(lane.get("name")):
            self.change(el, f"候选组 {','.join(groups)} 不是平安角色，由所在泳道 '{lane.get('name')}' 决定角色",
                        f"candidate groups {','.join(groups)} are not Pingan roles; the lane '{lane.get('name')}' "
                        "decides the role")
            return
        if self.default_role:
            self.change(el, f"候选组 {','.join(groups)} 不是平安角色，按默认角色 {ROLES[self.default_role]} 办理",
                        f"candidate groups {','.join(groups)} are not Pingan roles; the default role "
                        f"{self.default_role} acts")
            return
        self.refuse(el, f"候选组 '{','.join(groups)}' 不是平安的角色", f"the candidate groups '{','.join(groups)}' are "
                    "not Pingan roles", hint="把任务画进以角色命名的泳道（" + "、".join(ROLES.values()) + "），或导入时指定默认角色 "
                    "(put the task in a lane named after a role, or give a default role when importing)")

    # Flows, events, loops ---------------------------------------------------------------------

    def _decision(self, container, gateway) -> None:
        """Let the person before an exclusive gateway drawn without conditions make its choice.

        A descriptive model says "Approved?" with flows "Yes" and "No" and no conditions; to run it,
        the user task just before the gateway gets a choice field, and each flow's condition is
        that choice. Without a user task right before it, the validator refuses the gateway.
        """
        flows = [f for f in container.iterfind("bpmn:sequenceFlow", NS)]
        outgoing = [f for f in flows if f.get("sourceRef") == gateway.get("id")]
        incoming = [f for f in flows if f.get("targetRef") == gateway.get("id")]
        plain = [f for f in outgoing if f.get("id") != gateway.get("default")]
        conditions = [c for f in plain for c in f.iterfind("bpmn:conditionExpression", NS)]
        if len(outgoing) < 2 or len(incoming) != 1:
            return
        bare = [f for f in plain if f.find("bpmn:conditionExpression", NS) is None]
        if conditions and len(bare) == 1 and not gateway.get("default"):
            # One flow without a condition beside conditioned ones: in BPMN terms, "otherwise".
            gateway.set("default", bare[0].get("id"))
            self.change(gateway, f"唯一没有条件的出口连线 {bare[0].get('id')} 设为默认连线（其余条件都不满足时走它）",
                        f"the one outgoing flow without a condition, {bare[0].get('id')}, is now the default "
                        "(taken when no condition holds)")
            plain = [f for f in plain if f is not bare[0]]
        if conditions:
            if len(conditions) == len(plain) and etree.QName(gateway).localname == "exclusiveGateway":
                self._fields_for_conditions(container, gateway, incoming[0], conditions)
            return
        before = self._person_before(container, incoming[0])
        if before is None:
            return
        by_id = {n.get("id"): n for n in container if isinstance(n.tag, str)}
        labels = []
        for flow in outgoing:
            target = by_id.get(flow.get("targetRef"))
            label = " ".join((flow.get("name") or (target.get("name") if target is not None else "") or flow.get("id")).split())
            labels.append(label)
        if len(set(labels)) != len(labels):
            return
        name = self._choice_name(gateway)
        for flow, label in zip(outgoing, labels):
            if flow.get("id") == gateway.get("default"):
                continue
            cond = etree.Element(f"{{{BPMN}}}conditionExpression")
            cond.text = f"{name} == {label!r}"
            flow.insert(after_children(flow), cond)
        gname = " ".join((gateway.get("name") or "").split()) or "选择"
        self.extra_fields.setdefault(before.get("id"), []).append(
            {"name": name, "label": gname, "type": "select", "required": True,
             "options": [{"value": label, "label": label} for label in labels]})
        self.change(gateway, f"出口连线没有条件：在前面的用户任务 {before.get('id')} 的表单里加了选择字段 {name}"
                    f"（{' / '.join(labels)}），各连线的条件是这个选择",
                    f"its outgoing flows had no conditions; added the choice field {name} ({' / '.join(labels)}) to "
                    f"the form of the user task {before.get('id')} before it, and each flow's condition is that choice")

    def _person_before(self, container, incoming, *, dry: bool = False):
        """Return the user task right before a gateway (a plain task becomes one with manual steps)."""
        by_id = {n.get("id"): n for n in container if isinstance(n.tag, str)}
        before = by_id.get(incoming.get("sourceRef"))
        seen = set()
        # Through a chain of decisions ("Payment accepted?" then "Retry?") back to who decides.
        while before is not None and etree.QName(before).localname == "exclusiveGateway" and before.get("id") not in seen:
            seen.add(before.get("id"))
            into = [f for f in container.iterfind("bpmn:sequenceFlow", NS) if f.get("targetRef") == before.get("id")]
            before = by_id.get(into[0].get("sourceRef")) if len(into) == 1 else None
        if before is None:
            return None
        kind = etree.QName(before).localname
        if before.get("id") in self.passed_through and self.manual_steps:
            if dry:
                return before
            for child in list(before):
                if isinstance(child.tag, str) and etree.QName(child).localname == "script":
                    before.remove(child)
            self.passed_through.discard(before.get("id"))
            self.change(before, "改为用户任务：由办理人在这里做出后面网关的选择",
                        "made a user task: the person here makes the choice of the gateway after it")
            before.tag = f"{{{BPMN}}}userTask"
            return before
        return before if kind == "userTask" else None

    def _assignment_fields(self, container) -> None:
        """Ask the person before a task for who does it (or by when), when its assignment reads a field nothing fills.

        Camunda's invoice example assigns ``${approver}``, chosen on the task before: here that
        task's form gets a person field ``approver``. Without a user task before it, the task is refused.
        """
        kinds = {"assignee": ("person", "办理人"), "dueDate": ("datetime", "办理期限"), "warnAt": ("datetime", "提醒时间")}
        flows = list(container.iterfind("bpmn:sequenceFlow", NS))
        for task in container.iterfind("bpmn:userTask", NS):
            for prop, code in self.assignment_names.get(task.get("id"), {}).items():
                try:
                    names = {n.id for n in ast.walk(ast.parse(code, mode="eval")) if isinstance(n, ast.Name)}
                except SyntaxError:
                    continue
                missing = sorted(names - self._provided(container) - _ALWAYS_THERE)
                if not missing:
                    continue
                before = self._nearest_person_upstream(container, task)
                if before is None:
                    self.refuse(task, f"{kinds[prop][1]}表达式读取的字段 {', '.join(missing)} 没有任何表单或脚本提供",
                                f"the {prop} expression reads {', '.join(missing)}, which no form or script provides",
                                hint="在前面的表单里加这个字段，或改为固定值 (add the field to a form before it, or use a "
                                "fixed value)")
                    continue
                for name in missing:
                    self.extra_fields.setdefault(before.get("id"), []).append(
                        {"name": name, "label": name, "type": kinds[prop][0], "required": True})
                self.change(task, f"{kinds[prop][1]}读取的 {', '.join(missing)} 加到前面用户任务 {before.get('id')} 的表单里",
                            f"the {prop} reads {', '.join(missing)}: added to the form of the user task {before.get('id')} "
                            "before it")

    def _nearest_person_upstream(self, container, task):
        """Return the closest user task a case passes before ``task`` (first drawn wins a tie), or None."""
        flows = list(container.iterfind("bpmn:sequenceFlow", NS))
        by_id = {n.get("id"): n for n in container if isinstance(n.tag, str)}
        order = {n.get("id"): i for i, n in enumerate(container) if isinstance(n.tag, str)}
        frontier, seen = [task.get("id")], {task.get("id")}
        while frontier:
            sources = sorted({f.get("sourceRef") for f in flows if f.get("targetRef") in frontier} - seen,
                             key=lambda i: order.get(i, 0))
            people = [by_id[i] for i in sources if i in by_id and etree.QName(by_id[i]).localname == "userTask"]
            if people:
                return people[0]
            seen.update(sources)
            frontier = sources
        return None

    def _fields_for_conditions(self, container, gateway, incoming, conditions) -> None:
        """Ask the person before a gateway for the fields its conditions read that nothing else provides."""
        wanted: dict[str, dict] = {}
        for cond in conditions:
            for name, spec in _condition_fields("".join(cond.itertext())).items():
                merged = wanted.setdefault(name, spec)
                if merged is not spec and spec.get("options"):
                    merged.setdefault("options", [])
                    merged["options"] += [o for o in spec["options"] if o not in merged["options"]]
        provided = self._provided(container)
        source = self._person_before(container, incoming, dry=True)
        own = {f["name"]: f for f in self.extra_fields.get(source.get("id"), [])} if source is not None else {}
        for name in set(wanted) & set(own):
            own[name].update(wanted.pop(name))  # the condition says what kind of answer it is
        missing = {n: f for n, f in wanted.items() if n not in provided}
        if not missing:
            return
        before = self._person_before(container, incoming)
        if before is None:
            return
        fields = self.extra_fields.setdefault(before.get("id"), [])
        for name, spec in sorted(missing.items()):
            fields.append({"name": name, "label": name, **spec, "required": True})
        self.change(gateway, f"条件读取的字段 {', '.join(sorted(missing))} 没有来源：加到前面用户任务 {before.get('id')} 的表单里",
                    f"the fields {', '.join(sorted(missing))} its conditions read had no source; added them to the form "
                    f"of the user task {before.get('id')} before it")

    def _provided(self, container) -> set[str]:
        """Names some form, script, decision or loop of the file already gives the case data."""
        root = container
        while root.getparent() is not None:
            root = root.getparent()
        names = {f["name"] for fields in self.extra_fields.values() for f in fields}
        for task in root.iter(f"{{{BPMN}}}userTask", f"{{{BPMN}}}startEvent"):
            names |= {f["name"] for f in self._fields(task, report=False)}
        for el in root.iter(f"{{{BPMN}}}script", f"{{{SPIFF}}}preScript", f"{{{SPIFF}}}postScript"):
            names |= _assigned("".join(el.itertext()))
        for el in root.iter(f"{{{BPMN}}}inputDataItem", f"{{{BPMN}}}outputDataItem"):
            names.add(el.get("name") or "")
        for path, text in self.given.items():
            if path.startswith("forms/"):
                try:
                    names |= {f.get("name") for f in (yaml.safe_load(text) or {}).get("fields") or [] if isinstance(f, dict)}
                except (yaml.YAMLError, AttributeError):
                    pass
            if path.endswith(".dmn"):
                names |= set(re.findall(r'<(?:\w+:)?output\b[^>]*\bname="([^"]+)"', text))
        return names

    def _choice_name(self, gateway) -> str:
        words = re.sub(r"[^a-z0-9]+", "_", (gateway.get("name") or "").lower()).strip("_")
        base = words if words and words[0].isalpha() and len(words) <= 40 else "choice"
        taken = {f["name"] for fields in self.extra_fields.values() for f in fields}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        return name

    def _on_conditionExpression(self, el) -> None:
        owner = el.getparent()
        text = "".join(el.itertext()).strip()
        language = (el.get("language") or "").lower()
        if not text:
            owner.remove(el)
            self.change(owner, "去掉空的条件", "removed an empty condition")
            return
        if language and not any(word in language for word in ("python", "xpath", "juel", "feel", "java.sun", "el")):
            self.refuse(owner, f"条件用 {language} 书写；平安的条件是 Python 表达式",
                        f"the condition is written in {language}; Pingan conditions are Python expressions")
            return
        converted = self._expression(owner, text, "条件", "condition")
        if converted is not None and converted != text:
            _set_text(el, converted)
            self.change(owner, f"条件 {text} 改写为 Python：{converted}", f"condition {text} rewritten as Python: {converted}")
        for attr in ("language", f"{{{NS_XSI}}}type"):
            if attr == "language":
                el.attrib.pop(attr, None)

    def _on_condition(self, el) -> None:  # conditional events
        if etree.QName(el.getparent()).localname == "conditionalEventDefinition":
            self._on_conditionExpression(el)

    def _on_completionCondition(self, el) -> None:
        self._on_conditionExpression(el)

    def _on_loopCardinality(self, el) -> None:
        text = "".join(el.itertext()).strip()
        converted = self._expression(el.getparent().getparent(), text, "实例数", "cardinality") if text else None
        if converted is not None and converted != text:
            _set_text(el, converted)

    def _on_timeDuration(self, el) -> None:
        self._timer(el)

    _on_timeDate = _on_timeCycle = _on_timeDuration

    def _timer(self, el) -> None:
        text = "".join(el.itertext()).strip()
        event = el.getparent().getparent()
        if not text:
            return  # the validator names the timer with no time
        if _ISO_TIME.fullmatch(text):
            _set_text(el, repr(text))
            self.change(event, f"定时器 {text} 写成 Python 字符串 '{text}'", f"timer {text} written as the Python string '{text}'")
            return
        match = re.fullmatch(r"=\s*(?:duration|date and time|cycle)?\s*\(?\s*\"([^\"]+)\"\s*\)?", text)
        if match and _ISO_TIME.fullmatch(match.group(1)):
            _set_text(el, repr(match.group(1)))
            self.change(event, f"定时器 {text} 写成 Python 字符串", f"timer {text} written as a Python string")
            return
        converted = self._expression(event, text, "定时器", "timer")
        if converted is not None and converted != text:
            _set_text(el, converted)
            self.change(event, f"定时器 {text} 改写为 Python：{converted}", f"timer {text} rewritten as Python: {converted}")

    def _on_multiInstanceLoopCharacteristics(self, el) -> None:
        owner = el.getparent()
        collection = next((el.get(f"{{{ns}}}collection") for ns in CAMUNDA if el.get(f"{{{ns}}}collection")), None)
        item = next((el.get(f"{{{ns}}}elementVariable") for ns in CAMUNDA if el.get(f"{{{ns}}}elementVariable")), None)
        output = output_item = None
        zeebe = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}loopCharacteristics", NS)
        if zeebe is not None:
            collection = collection or zeebe.get("inputCollection")
            item = item or zeebe.get("inputElement")
            output, output_item = zeebe.get("outputCollection"), zeebe.get("outputElement")
        for ns in CAMUNDA:
            el.attrib.pop(f"{{{ns}}}collection", None)
            el.attrib.pop(f"{{{ns}}}elementVariable", None)
        if not collection:
            return
        name = self._expression(owner, collection, "多实例集合", "collection")
        if name is None:
            return
        if not name.isidentifier():
            self.refuse(owner, f"多实例集合 '{collection}' 不是一个字段名", f"the multi-instance collection '{collection}' "
                        "is not a field name", hint="先用脚本任务把集合放进一个字段 (put the collection in a field "
                        "with a script task first)")
            return
        etree.SubElement(el, f"{{{BPMN}}}loopDataInputRef").text = name
        parts = [("inputDataItem", item)]
        if output:
            out_ref = etree.SubElement(el, f"{{{BPMN}}}loopDataOutputRef")
            out_ref.text = self._expression(owner, output, "多实例输出集合", "output collection") or output
            parts.append(("outputDataItem", output_item))
        for tag, value in parts:
            if value:
                value = value.lstrip("=").strip()
                etree.SubElement(el, f"{{{BPMN}}}{tag}", id=f"{owner.get('id')}_{value}", name=value)
        order = ["documentation", "extensionElements", "loopCardinality", "loopDataInputRef", "loopDataOutputRef",
                 "inputDataItem", "outputDataItem", "complexBehaviorDefinition", "completionCondition"]
        children = sorted((c for c in el if isinstance(c.tag, str)),
                          key=lambda c: order.index(etree.QName(c).localname) if etree.QName(c).localname in order else 9)
        for c in children:
            el.remove(c)
            el.append(c)
        self.change(owner, f"多实例改为遍历字段 {name}" + (f"，每项为 {item}" if item else ""),
                    f"multi-instance now iterates the field {name}" + (f", each item as {item}" if item else ""))

    def _on_inputOutput(self, el) -> None:
        owner = el.getparent().getparent()
        pre, post = [], []
        for param in el:
            if not isinstance(param.tag, str):
                continue
            kind = etree.QName(param).localname
            target = pre if kind == "inputParameter" else post
            value = self._parameter(owner, param)
            if value is None:
                continue
            name = snake(param.get("name") or "")
            if not name.isidentifier():
                self.refuse(owner, f"参数名 '{name}' 不能作为字段名", f"the parameter name '{name}' cannot be a field name")
                continue
            target.append(f"{name} = {value}")
        el.getparent().remove(el)
        for tag, lines in (("preScript", pre), ("postScript", post)):
            if lines:
                existing = owner.find(f"bpmn:extensionElements/spiffworkflow:{tag}", NS)
                node = existing if existing is not None else self._extension(owner, tag)
                node.text = "\n".join(filter(None, [(node.text or "").strip(), *lines]))
                self.change(owner, f"输入输出参数改写为 {tag}：" + "; ".join(lines),
                            f"input/output parameters rewritten as {tag}: " + "; ".join(lines))

    def _parameter(self, owner, param) -> str | None:
        children = [c for c in param if isinstance(c.tag, str)]
        if not children:
            text = (param.text or "").strip()
            return self._expression(owner, text, f"参数 {param.get('name')}", f"parameter {param.get('name')}",
                                    literal_ok=True) if text else "None"
        child = children[0]
        kind = etree.QName(child).localname
        if kind == "list":
            items = [self._parameter(owner, c) for c in child if isinstance(c.tag, str)]
            return None if None in items else "[" + ", ".join(items) + "]"
        if kind == "map":
            entries = [(e.get("key"), self._parameter(owner, e)) for e in child if isinstance(e.tag, str)]
            return None if any(v is None for _, v in entries) else "{" + ", ".join(f"{k!r}: {v}" for k, v in entries) + "}"
        if kind == "value":
            text = (child.text or "").strip()
            return self._expression(owner, text, "参数", "parameter", literal_ok=True) if text else "None"
        self.refuse(owner, f"参数 {param.get('name')} 用 {kind}（脚本）取值，平安不转换", f"parameter {param.get('name')} "
                    f"takes its value from a {kind}, which Pingan does not convert",
                    hint="把计算写成 Python 脚本任务 (write the computation as a Python script task)")
        return None

    def _on_executionListener(self, el) -> None:
        owner = el.getparent().getparent()
        self.refuse(owner, "有执行监听器（executionListener），平安不运行监听器",
                    "has an execution listener; Pingan runs no listeners",
                    hint="把监听器做的事画成脚本任务 (draw what the listener does as a script task)")

    def _on_messageEventDefinition(self, el) -> None:
        event = el.getparent()
        name = snake(" ".join((event.get("name") or "").split())) or snake(event.get("id"))
        if el.get("messageRef"):
            message = next((m for m in self.root.iterfind("bpmn:message", NS) if m.get("id") == el.get("messageRef")), None)
            if message is not None and not message.get("name"):
                message.set("name", name)
                self.change(event, f"消息 {message.get('id')} 没有名字：按事件命名为 '{name}'",
                            f"the message {message.get('id')} had no name; named '{name}' after the event")
            return
        message_id = f"{event.get('id')}_message"
        message = etree.Element(f"{{{BPMN}}}message", id=message_id, name=name)
        first_process = self.root.find("bpmn:process", NS)
        if first_process is not None:
            first_process.addprevious(message)
        else:
            self.root.append(message)
        el.set("messageRef", message_id)
        self.change(event, f"消息事件没有指定消息：新建消息 '{name}'（由其他系统通过接口投递）",
                    f"the message event named no message; added the message '{name}' (delivered by other systems "
                    "through the API)")

    def _on_formData(self, el) -> None:
        pass  # read by _form and _start_form

    # Helpers ---------------------------------------------------------------------------------

    def _expression(self, owner, text: str, what_zh: str, what_en: str, *, literal_ok: bool = False) -> str | None:
        try:
            return to_python(text, literal_ok=literal_ok)
        except NotConvertible as exc:
            self.refuse(owner, f"{what_zh}：{exc.zh}", f"{what_en}: {exc.en}")
            return None

    def _extension(self, el, tag: str):
        ext = el.find("bpmn:extensionElements", NS)
        if ext is None:
            ext = etree.Element(f"{{{BPMN}}}extensionElements")
            docs = [i for i, c in enumerate(el) if isinstance(c.tag, str) and etree.QName(c).localname == "documentation"]
            el.insert(docs[-1] + 1 if docs else 0, ext)
        self.added_spiff = True
        return etree.SubElement(ext, f"{{{SPIFF}}}{tag}")

    def _properties(self, el, props: dict[str, str]) -> None:
        existing = el.find("bpmn:extensionElements/spiffworkflow:properties", NS)
        holder = existing if existing is not None else self._extension(el, "properties")
        have = {p.get("name") for p in holder}
        for name, value in props.items():
            if name not in have:
                etree.SubElement(holder, f"{{{SPIFF}}}property", name=name, value=value)

    def _lane_of(self, el):
        for ref in self.root.iter(f"{{{BPMN}}}flowNodeRef"):
            if (ref.text or "").strip() == el.get("id") and not ref.getparent().findall(".//bpmn:lane", NS):
                return ref.getparent()
        return None

    def _lanes(self, proc) -> None:
        """Give every user task a lane that names a Pingan role (the role is who acts)."""
        wanted: dict[str, list] = {}  # role -> tasks without a role lane
        renames: dict[int, tuple] = {}
        for task in proc.iter(f"{{{BPMN}}}userTask"):
            role = task.attrib.pop("pinganImportRole", None)
            lane = self._lane_of(task)
            lane_role = role_for_lane(lane.get("name")) if lane is not None else None
            if role and lane_role and role != lane_role:
                self.refuse(task, f"候选组是 {ROLES[role]}，却画在泳道 '{lane.get('name')}'（{ROLES[lane_role]}）里",
                            f"its candidate group is {role}, but it is drawn in the lane '{lane.get('name')}' ({lane_role})",
                            hint="把任务移到对应角色的泳道 (move the task into the lane of its role)")
                continue
            if lane_role:
                continue
            role = role or self.default_role
            if role is None:
                continue  # the validator asks for a lane, naming the task
            if lane is not None:
                renames.setdefault(id(lane), (lane, set()))[1].add(role)
            else:
                wanted.setdefault(role, []).append(task)
        for lane, roles in renames.values():
            if len(roles) > 1:
                self.refuse(lane, "泳道里的任务属于不同的角色：" + "、".join(ROLES[r] for r in sorted(roles)),
                            "the tasks in this lane belong to different roles: " + ", ".join(sorted(roles)),
                            hint="按角色分成几条泳道 (split it into one lane per role)")
                continue
            role = roles.pop()
            old = " ".join((lane.get("name") or "").split())
            lane.set("name", f"{old}（{ROLES[role]}）" if old else ROLES[role])
            self.change(lane, f"泳道改名为 '{lane.get('name')}'，由{ROLES[role]}办理",
                        f"lane renamed '{lane.get('name')}', so the role {role} acts")
        for role, tasks in sorted(wanted.items()):
            lane_set = proc.find("bpmn:laneSet", NS)
            if lane_set is None:
                lane_set = etree.Element(f"{{{BPMN}}}laneSet", id=f"{proc.get('id')}_lanes")
                docs = [i for i, c in enumerate(proc) if isinstance(c.tag, str)
                        and etree.QName(c).localname in ("documentation", "extensionElements")]
                proc.insert(docs[-1] + 1 if docs else 0, lane_set)
            lane = etree.SubElement(lane_set, f"{{{BPMN}}}lane", id=f"{proc.get('id')}_lane_{role}", name=ROLES[role])
            for task in tasks:
                etree.SubElement(lane, f"{{{BPMN}}}flowNodeRef").text = task.get("id")
            self.change(lane, f"新增泳道 {ROLES[role]}，放入 " + "、".join(t.get("id") for t in tasks) +
                        "（泳道没有图形，请在建模器里画出）", f"added the lane {role} holding " +
                        ", ".join(t.get("id") for t in tasks) + " (not drawn yet: draw it in the modeler)")

    def _callers(self, processes: list, key: str) -> list[str]:
        """Return ``key`` and every imported process that calls it: each looks for its forms under its own key."""
        calls = dict(self.calls)
        for p in processes:
            calls[p.get("id")] = calls.get(p.get("id"), set()) | {c.get("calledElement") for c in
                                                                  p.iter(f"{{{BPMN}}}callActivity")}
        found, todo = [key], [key]
        while todo:
            called = todo.pop()
            for caller, targets in sorted(calls.items()):
                if called in targets and caller not in found:
                    found.append(caller)
                    todo.append(caller)
        return found

    def _form(self, task, process_key: str) -> None:
        prop = task.find("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property[@name='formKey']", NS)
        slug = prop.get("value") if prop is not None else task.get("id")
        key = slug if "/" in slug else f"{process_key}/{slug}"
        path = f"forms/{key}.yaml"
        if path in self.given or path in self.out.files:
            return
        fields = self._fields(task) + self.extra_fields.get(task.get("id"), [])
        self.out.files[path] = _form_yaml(" ".join((task.get("name") or task.get("id")).split()), fields)
        self.change(task, f"生成表单 {path}（{len(fields)} 个字段）", f"generated the form {path} ({len(fields)} fields)")

    def _start_form(self, start) -> None:
        path = f"forms/{self.process_key}/start.yaml"
        fields = self._fields(start)
        if not fields or path in self.given or path in self.out.files:
            return
        self.out.files[path] = _form_yaml(" ".join((start.get("name") or "发起").split()), fields)
        self.change(start, f"生成发起表单 {path}", f"generated the start form {path}")

    def _fields(self, el, *, report: bool = True) -> list[dict]:
        """Return the form fields drawn with the element (Camunda formData, Camunda 8 form JSON)."""
        fields: list[dict] = []
        for ns in CAMUNDA:
            for f in el.iterfind(f"bpmn:extensionElements/{{{ns}}}formData/{{{ns}}}formField", NS):
                fields.append(self._camunda_field(el, f, ns, report))
        definition = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}formDefinition", NS)
        key = definition.get("formKey") if definition is not None else None
        if key and key.startswith("camunda-forms:bpmn:"):
            embedded = next((f for f in self.root.iter(f"{{{ZEEBE}}}userTaskForm")
                             if f.get("id") == key.rsplit(":", 1)[-1]), None)
            if embedded is not None:
                fields += self._zeebe_fields(el, embedded.text or "", report)
        return [f for f in fields if f]

    def _camunda_field(self, el, f, ns, report: bool = True) -> dict:
        kind = _FORM_TYPES.get((f.get("type") or "string").lower())
        name = snake(f.get("id") or "")
        if not kind or not name.isidentifier():
            if report:
                self.refuse(el, f"表单字段 '{name}' 的类型 '{f.get('type')}' 平安没有", f"form field '{name}' has the type "
                            f"'{f.get('type')}', which Pingan does not have")
            return {}
        field_ = {"name": name, "label": f.get("label") or name, "type": kind}
        if any(c.get("name") == "required" for c in f.iterfind(f"{{{ns}}}validation/{{{ns}}}constraint")):
            field_["required"] = True
        options = [{"value": v.get("id"), "label": v.get("name") or v.get("id")} for v in f.iterfind(f"{{{ns}}}value")]
        if options:
            field_["options"] = options
        return field_

    def _zeebe_fields(self, el, text: str, report: bool = True) -> list[dict]:
        try:
            components = json.loads(text).get("components", [])
        except (ValueError, AttributeError):
            if report:
                self.refuse(el, "表单 JSON 无法读取", "the form JSON cannot be read")
            return []
        out = []
        for c in components:
            kind = _FORM_TYPES.get(c.get("type", ""))
            if not c.get("key") or not kind:
                continue  # text blocks, images, buttons: nothing to fill in
            field_ = {"name": snake(c["key"]), "label": c.get("label") or c["key"], "type": kind}
            if (c.get("validate") or {}).get("required"):
                field_["required"] = True
            if c.get("disabled") or c.get("readonly"):
                field_["readonly"] = True
            if c.get("values"):
                field_["options"] = [{"value": v.get("value"), "label": v.get("label") or v.get("value")} for v in c["values"]]
            if kind == "select" and "options" not in field_:
                field_["type"] = "text"
            out.append(field_)
        return out

    def _strip_foreign(self) -> None:
        """Remove the Camunda and Zeebe settings that were converted or have no effect."""
        for el in list(self.root.iter()):
            if not isinstance(el.tag, str):
                continue
            for attr in list(el.attrib):
                q = etree.QName(attr)
                if q.namespace in _FOREIGN:
                    del el.attrib[attr]
                    if el.get("id") and q.localname not in ("formKey", "formRef"):
                        self.change(el, f"去掉 {_prefix(q)}:{q.localname}（平安没有对应的设置）",
                                    f"dropped {_prefix(q)}:{q.localname} (Pingan has no such setting)")
            q = etree.QName(el)
            if q.namespace in _FOREIGN and el.getparent() is not None:
                if q.localname in _NO_EFFECT_ELEMENTS or q.localname in ("formData", "assignmentDefinition",
                                                                         "formDefinition", "userTaskForm", "calledDecision",
                                                                         "loopCharacteristics", "ioMapping", "script",
                                                                         "taskDefinition", "field", "connector",
                                                                         "taskListener", "inputOutput"):
                    parent = el.getparent()
                    parent.remove(el)
                    if etree.QName(parent).localname == "extensionElements" and not len(parent) and parent.getparent() is not None:
                        parent.getparent().remove(parent)


NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

_KIND_ZH = {"userTask": "用户任务", "serviceTask": "服务任务", "sendTask": "发送任务", "receiveTask": "接收任务",
            "scriptTask": "脚本任务", "businessRuleTask": "业务规则任务", "manualTask": "手工任务", "task": "任务",
            "callActivity": "调用活动", "subProcess": "子流程", "sequenceFlow": "连线", "startEvent": "开始事件",
            "endEvent": "结束事件", "boundaryEvent": "边界事件", "intermediateCatchEvent": "中间事件",
            "intermediateThrowEvent": "中间事件", "exclusiveGateway": "排他网关", "lane": "泳道", "process": "流程"}


def _assigned(code: str) -> set[str]:
    try:
        tree = ast.parse(code or "")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _condition_fields(code: str) -> dict[str, dict]:
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
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in compared \
                and node.id not in ("True", "False", "None"):
            found.setdefault(node.id, {"type": "boolean"})
    return found


def _with_spiff_namespace(tree):
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


def _prefix(q: etree.QName) -> str:
    return "zeebe" if q.namespace == ZEEBE else "camunda"


def _set_text(el, text: str) -> None:
    for child in list(el):
        el.remove(child)
    el.text = text


def _form_slug(value: str) -> str:
    """Turn a Camunda form key (``embedded:app:forms/approve.html``, ``app:approve.jsf``) into a form name."""
    last = re.split(r"[:/]", value.strip())[-1]
    stem = last.rsplit(".", 1)[0] if "." in last else last
    slug = re.sub(r"\W+", "_", stem).strip("_")
    return slug or "form"


def _form_yaml(title: str, fields: list[dict]) -> str:
    head = "# 由导入生成：请补全字段、标签和校验 (generated by the import: complete the fields, labels and checks)\n"
    return head + yaml.safe_dump({"title": title, "fields": fields}, allow_unicode=True, sort_keys=False)


def read_model_files(paths) -> dict[str, str]:
    """Read BPMN, DMN and YAML files (or folders of them) into the path -> text dict the import takes."""
    from pathlib import Path

    files: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        found = [(p, p.relative_to(path).as_posix()) for p in sorted(path.rglob("*")) if p.is_file()] \
            if path.is_dir() else [(path, path.name)]
        for file, name in found:
            if file.suffix.lower() in (".bpmn", ".dmn", ".yaml", ".yml") and not any(
                    part.startswith(".") for part in PurePosixPath(name).parts):
                try:
                    files[name] = file.read_text(encoding="utf-8-sig")
                except UnicodeDecodeError:
                    raise DefinitionInvalid(f"文件 {file} 不是 UTF-8 编码", message_en=f"{file} is not UTF-8 encoded",
                                            details=[Problem("文件不是 UTF-8 编码", "not UTF-8 encoded", file=name)]) from None
    if not any(name.lower().endswith(".bpmn") for name in files):
        raise DefinitionInvalid("没有找到 BPMN 文件", message_en="no BPMN file given")
    return files
