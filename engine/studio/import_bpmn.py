"""Convert one BPMN file from another tool: the walk over its elements, flows, conditions, timers, loops and lanes."""
from __future__ import annotations

import re
from pathlib import PurePosixPath

from lxml import etree

from ..errors import Problem
from ..org.orgs import ROLES, role_for_lane
from ..spiff.parser import NS, element_lines
from . import import_structure as structure
from .import_activities import ActivityConversions
from .import_common import (BPMN, CAMUNDA, FOREIGN, ISO_TIME, KIND_ZH, NO_EFFECT, NO_EFFECT_ELEMENTS, NS_XSI, SPIFF,
                            Imported, ZEEBE, camunda_attr, parse_or_report, prefix, set_text,
                            with_spiff_namespace)
from .import_data import DataConversions
from .import_lanes import draw_new_lanes
from .imported_expressions import NotConvertible, to_python


class BpmnImport(ActivityConversions, DataConversions):
    """One BPMN file's conversion: processes, flows, conditions, timers, loops, lanes."""

    def __init__(self, path: str, text: str, out: Imported, given: dict[str, str], default_role: str | None,
                 manual_steps: bool):
        self.path, self.text, self.out, self.given, self.default_role = path, text, out, given, default_role
        self.manual_steps = manual_steps
        self.calls: dict[str, set[str]] = {}
        self.passed_through: set[str] = set()
        self.assignment_names: dict[str, dict[str, str]] = {}
        self.extra_fields: dict[str, list[dict]] = {}
        self.output_words: dict[str, list[str]] = {}  # field -> the words a converted step's output mapping names
        self.drawn_collections: list[tuple] = []  # (multi-instance activity, field, data object ids) to give a source
        self.file = path  # renamed once the process key is known
        self.lines: dict[str, int] = {}
        self.touched = False  # whether anything in the document changed

    # -- reporting ---------------------------------------------------------------------------

    def _label(self, el) -> tuple[str, str]:
        name = " ".join((el.get("name") or "").split())
        kind = etree.QName(el).localname
        zh = f"{KIND_ZH.get(kind, '元素')} '{name}'（{el.get('id')}）" if name else f"{KIND_ZH.get(kind, '元素')} {el.get('id')}"
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
        self.touched = True

    # -- the conversion ----------------------------------------------------------------------

    def run(self) -> None:
        tree = parse_or_report(self.text, self.path, self.out.problems)
        if tree is None:
            return
        self.tree, self.root = tree, with_spiff_namespace(tree)
        self.lines = element_lines(tree)
        processes = self._executable_processes()
        for proc in processes:
            structure.rename_process(self.root, proc, self.change)
        self.file = self._target_path(processes)
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
            for owner, name, refs in self.drawn_collections:
                self._list_source(owner, name, refs)
            self.drawn_collections = []
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
        if not self.touched:
            # Nothing to convert (a Pingan file, an export): the text stays as it was, byte for byte,
            # so deploying it again makes no new version.
            self.out.files[self.file] = self.text
            return
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
            if q.namespace in FOREIGN and q.localname in NO_EFFECT:
                del el.attrib[attr]
                self.change(el, f"去掉 {prefix(q)}:{q.localname}（在平安中不起作用）",
                            f"dropped {prefix(q)}:{q.localname} (no effect in Pingan)")
        if handler is not None:
            handler(el)

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
            set_text(el, converted)
            self.change(owner, f"条件 {text} 改写为 Python：{converted}", f"condition {text} rewritten as Python: {converted}")
        for attr in ("language", f"{{{NS_XSI}}}type"):
            if attr == "language":
                el.attrib.pop(attr, None)

    def _on_condition(self, el) -> None:  # conditional events
        if etree.QName(el.getparent()).localname != "conditionalEventDefinition" or el.getparent().getparent() is None:
            return  # the definition was taken off its event: a start a person makes now
        if not "".join(el.itertext()).strip():
            event = el.getparent().getparent()
            hint = "填写条件（Python 表达式，如 amount > 100） (write the condition as a Python expression, e.g. amount > 100)"
            if etree.QName(event).localname == "startEvent" and self.manual_steps:
                hint = ("填写条件，或删除它：流程已有由人发起的开始事件 (write the condition, or delete it: the process "
                        "already has a start event a person makes)")
            elif etree.QName(event).localname == "boundaryEvent" and self.manual_steps:
                hint = ("填写条件，或删除它，在任务表单里问办理人 (write the condition, or delete it and ask the person "
                        "on the task's form)")
            self.refuse(event, "条件事件的条件是空的，平安无法知道它何时触发",
                        "the conditional event's condition is empty, so Pingan cannot know when it fires", hint=hint)
            return
        self._on_conditionExpression(el)

    def _on_completionCondition(self, el) -> None:
        self._on_conditionExpression(el)

    def _on_loopCardinality(self, el) -> None:
        text = "".join(el.itertext()).strip()
        converted = self._expression(el.getparent().getparent(), text, "实例数", "cardinality") if text else None
        if converted is not None and converted != text:
            set_text(el, converted)

    def _on_timeDuration(self, el) -> None:
        self._timer(el)

    _on_timeDate = _on_timeCycle = _on_timeDuration

    def _timer(self, el) -> None:
        text = "".join(el.itertext()).strip()
        event = el.getparent().getparent()
        if not text:
            self._start_by_person(el.getparent(), "定时器没有时间", "its timer has no time")
            return  # otherwise the validator names the timer with no time
        if ISO_TIME.fullmatch(text):
            set_text(el, repr(text))
            self.change(event, f"定时器 {text} 写成 Python 字符串 '{text}'", f"timer {text} written as the Python string '{text}'")
            return
        match = re.fullmatch(r"=\s*(?:duration|date and time|cycle)?\s*\(?\s*\"([^\"]+)\"\s*\)?", text)
        if match and ISO_TIME.fullmatch(match.group(1)):
            set_text(el, repr(match.group(1)))
            self.change(event, f"定时器 {text} 写成 Python 字符串", f"timer {text} written as a Python string")
            return
        converted = self._expression(event, text, "定时器", "timer")
        if converted is not None and converted != text:
            set_text(el, converted)
            self.change(event, f"定时器 {text} 改写为 Python：{converted}", f"timer {text} rewritten as Python: {converted}")

    def _start_by_person(self, definition, why_zh: str, why_en: str) -> bool:
        """With manual steps, let a person start the case where a process's start event cannot fire by itself.

        Only a process's own start event, and only when it has no other start a person makes;
        True when the event definition was taken off.
        """
        event = definition.getparent()
        if not self.manual_steps or etree.QName(event).localname != "startEvent" or \
                etree.QName(event.getparent()).localname != "process":
            return False
        others = [s for s in event.getparent().iterfind("bpmn:startEvent", NS) if s is not event and not any(
            isinstance(c.tag, str) and etree.QName(c).localname.endswith("EventDefinition") for c in s)]
        if others:
            return False
        event.remove(definition)
        self.change(event, f"{why_zh}，它不会自己触发：改为普通开始事件，由办理人在平安里发起案件",
                    f"{why_en}, so it never fires by itself; made a none start event: a person starts the case in Pingan")
        return True

    def _on_signalEventDefinition(self, el) -> None:
        signal = next((s for s in self.root.iterfind("bpmn:signal", NS) if s.get("id") == el.get("signalRef")), None)
        name = (signal.get("name") if signal is not None else None) or el.get("signalRef") or ""
        self._start_by_person(el, f"由信号 '{name}' 启动（平安的信号不发起新案件）" if name else "由信号启动（平安的信号不发起新案件）",
                              f"started by the signal '{name}' (a Pingan signal starts no new case)" if name else
                              "started by a signal (a Pingan signal starts no new case)")

    def _on_standardLoopCharacteristics(self, el) -> None:
        """Let the person of a loop drawn without condition or maximum say after each round whether to go again.

        SpiffWorkflow evaluates loopCondition after each round on the merged data and runs another
        round while it holds, so a required yes/no field on the task's form is the condition.
        """
        owner = el.getparent()
        # testBefore: the condition is read before the first round, when nobody has answered yet.
        if el.get("loopMaximum") or el.find("bpmn:loopCondition", NS) is not None \
                or etree.QName(owner).localname != "userTask" or el.get("testBefore") == "true":
            return
        words = re.sub(r"[^a-z0-9]+", "_", (owner.get("name") or "").lower()).strip("_")
        name = f"{words}_again" if words and words[0].isalpha() and len(words) <= 40 else "again"
        taken = {f["name"] for fields in self.extra_fields.values() for f in fields}
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        etree.SubElement(el, f"{{{BPMN}}}loopCondition").text = name
        self.extra_fields.setdefault(owner.get("id"), []).append(
            {"name": name, "label": "是否需要再次办理", "type": "boolean", "required": True})
        self.change(owner, f"循环没有条件也没有最多次数：表单里加了“是否需要再次办理”（{name}），选“是”再办一次，选“否”结束循环",
                    f"the loop had neither a condition nor a maximum; its form asks whether to do it again ({name}): "
                    "yes runs another round, no ends the loop")

    def _on_multiInstanceLoopCharacteristics(self, el) -> None:
        owner = el.getparent()
        collection = camunda_attr(el, "collection")
        item = camunda_attr(el, "elementVariable")
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
            if self.manual_steps and el.find("bpmn:loopCardinality", NS) is None \
                    and el.find("bpmn:loopDataInputRef", NS) is None:
                self._collection_from_data_object(owner, el)
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
        added = []
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
            added.append((lane, role, tasks))
        if not added:
            return
        drawn = draw_new_lanes(self.root, proc, [lane for lane, _, _ in added])
        for lane, role, tasks in added:
            held = "、".join(t.get("id") for t in tasks)
            self.change(lane, f"新增泳道 {ROLES[role]}，放入 {held}（" + (drawn[0] if drawn else "文件没有这个流程的图，案件页自动排版")
                        + "）", f"added the lane {role} holding {', '.join(t.get('id') for t in tasks)} (" +
                        (drawn[1] if drawn else "the file has no diagram of this process; the case page lays it out") + ")")

    def _strip_foreign(self) -> None:
        """Remove the Camunda and Zeebe settings that were converted or have no effect."""
        for el in list(self.root.iter()):
            if not isinstance(el.tag, str):
                continue
            for attr in list(el.attrib):
                q = etree.QName(attr)
                if q.namespace in FOREIGN:
                    del el.attrib[attr]
                    self.touched = True
                    if el.get("id") and q.localname not in ("formKey", "formRef"):
                        self.change(el, f"去掉 {prefix(q)}:{q.localname}（平安没有对应的设置）",
                                    f"dropped {prefix(q)}:{q.localname} (Pingan has no such setting)")
            q = etree.QName(el)
            if q.namespace in FOREIGN and el.getparent() is not None:
                if q.localname in NO_EFFECT_ELEMENTS or q.localname in ("formData", "assignmentDefinition",
                                                                         "formDefinition", "userTaskForm", "calledDecision",
                                                                         "loopCharacteristics", "ioMapping", "script",
                                                                         "taskDefinition", "field", "connector",
                                                                         "taskListener", "inputOutput"):
                    parent = el.getparent()
                    parent.remove(el)
                    self.touched = True
                    if etree.QName(parent).localname == "extensionElements" and not len(parent) and parent.getparent() is not None:
                        parent.getparent().remove(parent)
