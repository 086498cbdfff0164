"""The import's conversions of activities: tasks, their implementations, assignment, parameters, messages."""
from __future__ import annotations

import re

from lxml import etree

from ..org.orgs import ROLES, role_for_lane
from ..spiff.parser import NS
from . import import_structure as structure
from .import_common import (ABSTRACT_IMPLEMENTATION, BPMN, CAMUNDA, FOREIGN, IMPLEMENTATIONS, ZEEBE, camunda_attr,
                            form_slug)
from .imported_expressions import NotConvertible, snake, to_python


class ActivityConversions:
    """Convert (or refuse) each kind of activity; mixed into BpmnImport, which holds the document and the report."""


    def _implementation(self, el) -> bool:
        """Refuse a Java, external-task or connector implementation; True when one was found."""
        for attr, (zh, en) in IMPLEMENTATIONS.items():
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

    def _to_manual_step(self, el, was_zh: str, was_en: str, *, fallback_output: str | None = None) -> None:
        """Make a step Pingan cannot run a user task: a person does it, enters what it produced, and confirms.

        ``fallback_output``: the variable the step produced when it maps no outputs (a decision's result variable).
        """
        outputs = [o.get("target") for o in el.iterfind(f"bpmn:extensionElements/{{{ZEEBE}}}ioMapping/{{{ZEEBE}}}output", NS)]
        outputs += [o.get("name") for ns in CAMUNDA
                    for o in el.iterfind(f"bpmn:extensionElements/{{{ns}}}inputOutput/{{{ns}}}outputParameter", NS)]
        if not any(outputs) and fallback_output:
            outputs = [fallback_output]
        for o in el.iterfind(f"bpmn:extensionElements/{{{ZEEBE}}}ioMapping/{{{ZEEBE}}}output", NS):
            # `= if result != null then result.riskLevel else ["green"]`: "green" is one of the answers.
            words = re.findall(r'"([^"\\]{1,60})"', o.get("source") or "")
            if o.get("target") and words:
                self.output_words[snake(o.get("target"))] = words
        for name in filter(None, outputs):
            self.extra_fields.setdefault(el.get("id"), []).append(
                {"name": snake(name), "label": name, "type": "text", "required": True})
        self.change(el, f"平安不能自动执行（原为{was_zh}），导入为用户任务：由办理人完成后在平安里确认",
                    f"Pingan cannot run it ({was_en}); imported as a user task a person does and confirms")
        el.tag = f"{{{BPMN}}}userTask"
        for attr in list(el.attrib):
            q = etree.QName(attr)
            if q.namespace in FOREIGN or attr in ("implementation", "operationRef", "messageRef", "scriptFormat",
                                                  "calledElement"):
                del el.attrib[attr]
        for child in list(el):
            if isinstance(child.tag, str) and etree.QName(child).localname == "script":
                el.remove(child)
        ext = el.find("bpmn:extensionElements", NS)
        for child in list(ext) if ext is not None else []:
            if etree.QName(child).namespace in FOREIGN:
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
                and el.get("implementation") in ABSTRACT_IMPLEMENTATION and el.get("operationRef") is None:
            self._abstract_to_task(el, "服务任务没有实现", "service task without implementation")

    def _on_sendTask(self, el) -> None:
        if self._implementation(el):
            return
        if not el.get("messageRef"):
            self._abstract_to_task(el, "发送任务没有指定消息", "send task without a message")

    def _on_receiveTask(self, el) -> None:
        self._give_message(el, el)

    def _on_manualTask(self, el) -> None:
        self.change(el, "手工任务导入为用户任务（由办理人在平安里确认完成）",
                    "manual task imported as a user task (the person confirms it in Pingan)")
        el.tag = f"{{{BPMN}}}userTask"

    def _on_businessRuleTask(self, el) -> None:
        if self._implementation(el):
            return
        decision = camunda_attr(el, "decisionRef")
        zeebe = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}calledDecision", NS)
        result_var = camunda_attr(el, "resultVariable")
        if zeebe is not None:
            decision, result_var = zeebe.get("decisionId"), zeebe.get("resultVariable")
        if decision and self.manual_steps and not self._decision_supplied(decision):
            self._to_manual_step(el, f"按决策表 '{decision}' 判断，它不在导入的文件里",
                                 f"decides by the decision table '{decision}', which is not among the imported files",
                                 fallback_output=result_var)
            return
        mapping = "zeebe" if zeebe is not None else (camunda_attr(el, "mapDecisionResult") or "resultList")
        if result_var and self._result_variable(el, decision, result_var, mapping):
            result_var = None
        if result_var:
            self.refuse(el, f"把决策结果放进变量 '{result_var}'；平安把决策表的输出列直接写进案件数据",
                        f"puts the decision result into '{result_var}'; Pingan writes the decision table's output "
                        "columns straight into the case data",
                        hint="去掉结果变量，在后面的条件里直接用输出列名 (drop the result variable and use the output "
                        "column names in the conditions that follow)")
        for ns in CAMUNDA:
            el.attrib.pop(f"{{{ns}}}decisionRef", None)
            el.attrib.pop(f"{{{ns}}}resultVariable", None)
            el.attrib.pop(f"{{{ns}}}mapDecisionResult", None)  # how the result variable is filled: converted or refused
        if decision:
            self._extension(el, "calledDecisionId").text = decision
            self.change(el, f"决策引用改为 spiffworkflow:calledDecisionId = {decision}",
                        f"decision reference converted to spiffworkflow:calledDecisionId = {decision}")
        elif el.find("bpmn:extensionElements/spiffworkflow:calledDecisionId", NS) is None:
            self._abstract_to_task(el, "业务规则任务没有指定决策表", "business rule task without a decision")

    def _result_variable(self, el, decision: str | None, result_var: str, mapping: str) -> bool:
        """Set a decision's result variable as Camunda would, from the output columns of the imported table.

        Camunda's ``singleEntry`` (and Camunda 8's result of a one-output table) is the value of the
        one output; ``singleResult`` (Camunda 8: several outputs) a map of the outputs by their names
        in the tool. Both are ``None`` when no rule matches. A list of results is not converted.
        """
        policy, outputs = self.out.decisions.get(decision or "", ("", []))
        if not outputs or policy == "COLLECT" or any(not python for _, python in outputs):
            return False
        if mapping in ("singleEntry", "zeebe") and len(outputs) == 1:
            value = outputs[0][1]
        elif mapping == "singleResult" or mapping == "zeebe":
            value = "{" + ", ".join(f"{original!r}: {python}" for original, python in outputs) + "}"
        else:
            return False
        name = snake(result_var)
        unset = "\n".join(f"{python} = None" for _, python in outputs)
        for tag, line in (("preScript", unset), ("postScript", f"{name} = {value}")):
            existing = el.find(f"bpmn:extensionElements/spiffworkflow:{tag}", NS)
            node = existing if existing is not None else self._extension(el, tag)
            node.text = "\n".join(filter(None, [(node.text or "").strip(), line]))
        self.change(el, f"决策结果变量 {result_var}（{mapping}）改写为 postScript：{name} = {value}（没有规则命中时为 None）",
                    f"the decision result variable {result_var} ({mapping}) rewritten as the postScript "
                    f"{name} = {value} (None when no rule matches)")
        return True

    def _decision_supplied(self, decision: str) -> bool:
        pattern = re.compile(r"<(?:\w+:)?decision\b[^>]*\bid=[\"']" + re.escape(decision) + r"[\"']")
        return any(pattern.search(text) for path, text in self.given.items() if path.lower().endswith(".dmn"))

    def _on_scriptTask(self, el) -> None:
        fmt = (el.get("scriptFormat") or "python").strip().lower()
        script = el.find("bpmn:script", NS)
        result_var = camunda_attr(el, "resultVariable")
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
        if called and self.manual_steps and not called.startswith(("${", "#{", "=")) and not self._process_supplied(called):
            name = " ".join((el.get("name") or "").split()) or called
            self._to_manual_step(el, f"调用流程 '{called}'，它不在导入的文件里", f"calls the process '{called}', which is not "
                                 "among the imported files")
            el.set("name", f"在外部办理 {name} 后确认")
            return
        if called.startswith(("${", "#{", "=")):
            self.refuse(el, f"被调用的流程由表达式 '{called}' 决定；平安在部署时就要知道调用哪个流程",
                        f"chooses the called process by the expression '{called}'; Pingan must know it when deploying",
                        hint="填写被调用流程的标识 (give the called process id)")

    def _process_supplied(self, process_id: str) -> bool:
        """Tell whether some imported file draws the process a call activity calls."""
        return process_id in self.calls or process_id in {structure.usable_key(p) for p in self.calls}

    def _on_userTask(self, el) -> None:
        props: dict[str, str] = {}
        def get(attr):
            return camunda_attr(el, attr)
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
        for name, prop, zh in (("dueDate", "dueDate", "办理期限"), ("followUpDate", "warnAt", "提醒时间")):
            value = get(name)
            if value:
                props[prop] = self._expression(el, value, zh, name, literal_ok=True)
        if get("formKey") or get("formRef"):
            props["formKey"] = form_slug(get("formKey") or get("formRef"))
        definition = el.find(f"bpmn:extensionElements/{{{ZEEBE}}}formDefinition", NS)
        if definition is not None and (definition.get("formKey") or definition.get("formId")):
            props["formKey"] = form_slug(definition.get("formKey") or definition.get("formId"))
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
            if q.namespace in FOREIGN and q.localname in ("taskListener", "executionListener"):
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
        self._give_message(el, el.getparent())

    def _on_conditionalEventDefinition(self, el) -> None:
        condition = el.find("bpmn:condition", NS)
        if (condition is None or not "".join(condition.itertext()).strip()) and self._start_by_person(
                el, "条件开始事件没有条件", "the conditional start event has no condition"):
            return
        event = el.getparent()
        if (condition is None or not "".join(condition.itertext()).strip()) and self.manual_steps \
                and etree.QName(event).localname == "intermediateCatchEvent":
            # Nothing says when it holds: the person who can see it confirms it has come true.
            name = " ".join((event.get("name") or "").split())
            event.remove(el)
            event.tag = f"{{{BPMN}}}userTask"
            event.attrib.pop("parallelMultiple", None)
            event.set("name", f"确认条件已满足：{name}" if name else "确认条件已满足")
            structure.task_sized(self.root, event)
            self.change(event, "条件中间事件没有条件，平安无法知道它何时成立：导入为用户任务，由办理人确认条件已满足后继续",
                        "the conditional catch event has no condition, so Pingan cannot know when it holds; imported as "
                        "a user task where a person confirms the condition has come true")
            return
        if condition is None:
            self.refuse(el.getparent(), "条件事件没有条件，平安无法知道它何时触发", "the conditional event has no condition, "
                        "so Pingan cannot know when it fires", hint="填写条件（Python 表达式，如 amount > 100） (write the "
                        "condition as a Python expression, e.g. amount > 100)")

    def _give_message(self, holder, owner) -> None:
        """Name the message a receive task or message event waits for or sends, so Pingan can deliver it by name."""
        name = snake(" ".join((owner.get("name") or "").split())) or snake(owner.get("id"))
        if holder.get("messageRef"):
            message = next((m for m in self.root.iterfind("bpmn:message", NS) if m.get("id") == holder.get("messageRef")),
                           None)
            if message is not None and not message.get("name"):
                message.set("name", name)
                self.change(owner, f"消息 {message.get('id')} 没有名字：按它命名为 '{name}'",
                            f"the message {message.get('id')} had no name; named '{name}' after it")
            return
        message_id = f"{owner.get('id')}_message"
        message = etree.Element(f"{{{BPMN}}}message", id=message_id, name=name)
        first_process = self.root.find("bpmn:process", NS)
        if first_process is not None:
            first_process.addprevious(message)
        else:
            self.root.append(message)
        holder.set("messageRef", message_id)
        self.change(owner, f"没有指定消息：新建消息 '{name}'（由其他系统通过接口投递）",
                    f"named no message; added the message '{name}' (delivered by other systems through the API)")

    def _on_formData(self, el) -> None:
        pass  # read by _form and _start_form
