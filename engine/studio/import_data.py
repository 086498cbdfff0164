"""The import's conversions of data: who decides a gateway, which fields a form needs, the generated forms."""
from __future__ import annotations

import ast
import json
import re

import yaml
from lxml import etree

from ..spiff.parser import NS
from . import import_structure as structure
from .import_common import (ALWAYS_THERE, BPMN, CAMUNDA, FORM_TYPES, SPIFF, ZEEBE, assigned, condition_fields,
                            form_yaml)
from .import_structure import after_children
from .imported_expressions import snake


class DataConversions:
    """Find where each value a condition or an assignment reads comes from, and write the forms; mixed into BpmnImport."""


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
        by_id = {n.get("id"): n for n in container if isinstance(n.tag, str)}
        labels = []
        for flow in outgoing:
            target = by_id.get(flow.get("targetRef"))
            label = " ".join((flow.get("name") or (target.get("name") if target is not None else "") or flow.get("id")).split())
            labels.append(label)
        if len(set(labels)) != len(labels):
            return
        before = self._person_before(container, incoming[0])
        if before is None and self.manual_steps:
            before = self._chooser_before(container, gateway, incoming[0])
        if before is None:
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

    def _collection_from_data_object(self, owner, loop) -> None:
        """Iterate the data object a multi-instance activity is drawn reading, when it names no collection itself."""
        by_id = {e.get("id"): e for e in self.root.iter() if isinstance(e.tag, str) and e.get("id")}
        for association in owner.iterfind("bpmn:dataInputAssociation", NS):
            for source in association.iterfind("bpmn:sourceRef", NS):
                ref = by_id.get((source.text or "").strip())
                if ref is None or etree.QName(ref).localname not in ("dataObjectReference", "dataObject"):
                    continue
                data_object = by_id.get(ref.get("dataObjectRef")) if ref.get("dataObjectRef") else ref
                target = by_id.get(association.findtext("bpmn:targetRef", namespaces=NS) or "")
                if "true" not in (ref.get("isCollection"), data_object.get("isCollection") if data_object is not None
                                  else None, target.get("isCollection") if target is not None else None):
                    continue  # drawn as one thing, not a list to work through
                label = " ".join((ref.get("name") or (data_object.get("name") if data_object is not None else "")
                                  or "").split())
                name = snake(label)
                if not name.isidentifier():
                    continue
                ids = {ref.get("id")} | ({data_object.get("id")} if data_object is not None else set())
                ids |= {r.get("id") for r in self.root.iter(f"{{{BPMN}}}dataObjectReference")
                        if data_object is not None and r.get("dataObjectRef") == data_object.get("id")}
                etree.SubElement(loop, f"{{{BPMN}}}loopDataInputRef").text = name
                etree.SubElement(loop, f"{{{BPMN}}}inputDataItem", id=f"{owner.get('id')}_{name}_item", name=f"{name}_item")
                self.drawn_collections.append((owner, (name, label), ids))
                self.change(owner, f"多实例没有实例数也没有集合：遍历它读取的数据对象 '{label}'（字段 {name}，每项为 {name}_item）",
                            f"the multi-instance had neither a cardinality nor a collection; it iterates the data object "
                            f"'{label}' it reads (the field {name}, each item as {name}_item)")
                return

    def _list_source(self, owner, field: tuple[str, str], refs: set[str]) -> None:
        """Ask a person for the list a multi-instance activity iterates: who writes the data object, or who comes before."""
        name, label = field
        container = owner.getparent()
        if name in self._provided(container):
            return
        writers = [el for el in container if isinstance(el.tag, str) and any(
            (t.text or "").strip() in refs for t in el.iterfind("bpmn:dataOutputAssociation/bpmn:targetRef", NS))]
        person = next((w for w in writers if etree.QName(w).localname == "userTask"), None)
        if person is None:
            passed = next((w for w in writers if w.get("id") in self.passed_through), None)
            person = self._make_person_step(passed, f"由办理人填写数据对象 '{label}'（后面的多实例活动逐项办理）",
                                            f"a person fills in the data object '{label}' (the multi-instance activity "
                                            "after it works through each item)") if passed is not None else None
        if person is None:
            person = self._nearest_person_upstream(container, owner)
        if person is None:
            self.refuse(owner, f"遍历数据对象 '{label}'，但前面没有人填写它，也没有脚本给出它",
                        f"iterates the data object '{label}', but nobody before it fills it in and no script sets it",
                        hint=f"在前面的用户任务表单里加列表字段 {name}，或填写实例数 (add a list field {name} to a form "
                        "before it, or give a cardinality)")
            return
        self.extra_fields.setdefault(person.get("id"), []).append(
            {"name": name, "label": label, "type": "table", "required": True, "min_rows": 1,
             "columns": [{"name": "item", "label": f"{label}（每行一项）", "type": "text", "required": True}]})
        self.change(owner, f"它遍历的 '{label}' 由用户任务 {person.get('id')} 的表单填写（表格字段 {name}，每行一项）",
                    f"the '{label}' it iterates is filled in on the form of the user task {person.get('id')} "
                    f"(the table field {name}, a row per item)")

    def _make_person_step(self, el, why_zh: str, why_en: str):
        """Make a step that passes straight through a user task (only with manual steps); return it, or None."""
        if not self.manual_steps or el.get("id") not in self.passed_through:
            return None
        for child in list(el):
            if isinstance(child.tag, str) and etree.QName(child).localname == "script":
                el.remove(child)
        self.passed_through.discard(el.get("id"))
        self.change(el, f"改为用户任务：{why_zh}", f"made a user task: {why_en}")
        el.tag = f"{{{BPMN}}}userTask"
        return el

    def _chooser_before(self, container, gateway, incoming):
        """Draw a user task before a gateway nobody decides (it follows a fork, an event, a call): its person chooses."""
        gname = " ".join((gateway.get("name") or "").split())
        task = structure.insert_user_task_before(self.root, container, gateway, incoming, f"{gateway.get('id')}_choose",
                                                 f"选择：{gname}" if gname else "选择走哪条路")
        self.change(gateway, f"网关前没有人做选择（前面是 {incoming.get('sourceRef')}）：加了用户任务 {task.get('id')}"
                    f"“{task.get('name')}”，由办理人选择走哪条连线",
                    f"nobody made the choice before the gateway (it follows {incoming.get('sourceRef')}); added the user "
                    f"task {task.get('id')} where a person chooses the flow")
        return task

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
            return self._make_person_step(before, "由办理人在这里做出后面网关的选择",
                                          "the person here makes the choice of the gateway after it")
        return before if kind == "userTask" else None

    def _assignment_fields(self, container) -> None:
        """Ask the person before a task for who does it (or by when), when its assignment reads a field nothing fills.

        Camunda's invoice example assigns ``${approver}``, chosen on the task before: here that
        task's form gets a person field ``approver``. Without a user task before it, the task is refused.
        """
        kinds = {"assignee": ("person", "办理人"), "dueDate": ("datetime", "办理期限"), "warnAt": ("datetime", "提醒时间")}
        for task in container.iterfind("bpmn:userTask", NS):
            for prop, code in self.assignment_names.get(task.get("id"), {}).items():
                try:
                    names = {n.id for n in ast.walk(ast.parse(code, mode="eval")) if isinstance(n, ast.Name)}
                except SyntaxError:
                    continue
                missing = sorted(names - self._provided(container) - ALWAYS_THERE)
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
            for name, spec in condition_fields("".join(cond.itertext())).items():
                merged = wanted.setdefault(name, spec)
                if merged is not spec and spec.get("options"):
                    merged.setdefault("options", [])
                    merged["options"] += [o for o in spec["options"] if o not in merged["options"]]
        provided = self._provided(container)
        source = self._person_before(container, incoming, dry=True)
        own = {f["name"]: f for f in self.extra_fields.get(source.get("id"), [])} if source is not None else {}
        for name in set(wanted) & set(own):
            own[name].update(wanted.pop(name))  # the condition says what kind of answer it is
            if own[name].get("options") is not None:
                own[name]["options"] += [{"value": w, "label": w} for w in self.output_words.get(name, [])
                                         if {"value": w, "label": w} not in own[name]["options"]]
        missing = {n: f for n, f in wanted.items() if n not in provided}
        if not missing:
            return
        before = self._person_before(container, incoming)
        if before is None:
            return
        fields = self.extra_fields.setdefault(before.get("id"), [])
        for name, spec in sorted(missing.items()):
            fields.append({"name": name, "label": name, **spec, "required": spec.get("required", True)})
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
            names |= assigned("".join(el.itertext()))
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
        self.out.files[path] = form_yaml(" ".join((task.get("name") or task.get("id")).split()), fields)
        self.change(task, f"生成表单 {path}（{len(fields)} 个字段）", f"generated the form {path} ({len(fields)} fields)")

    def _start_form(self, start) -> None:
        path = f"forms/{self.process_key}/start.yaml"
        fields = self._fields(start)
        if not fields or path in self.given or path in self.out.files:
            return
        self.out.files[path] = form_yaml(" ".join((start.get("name") or "发起").split()), fields)
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
        kind = FORM_TYPES.get((f.get("type") or "string").lower())
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
            kind = FORM_TYPES.get(c.get("type", ""))
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
