"""Parse BPMN/DMN sources safely into specs plus the facts Pingan's linter and runtime need."""
from __future__ import annotations

import difflib
import re
from copy import deepcopy
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from ..errors import DefinitionInvalid, Problem

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/",
}

# No DTD is ever loaded and no entity is ever expanded: a BPMN file cannot read local files
# or reach the network (XXE), and billion-laughs style expansion has nothing to expand.
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


@dataclass(frozen=True)
class UserTaskInfo:
    element_id: str
    name: str
    lane: str | None
    form_key: str | None
    properties: dict[str, str]
    multi_instance: bool
    line: int | None


@dataclass(frozen=True)
class Expression:
    """A piece of code found in the source: a condition, a script, a timer, a DMN cell."""

    kind: str  # condition | script | prescript | postscript | timer | dmn
    code: str
    element_id: str
    line: int | None
    file: str
    mode: str  # eval | exec


@dataclass
class ParsedProcess:
    key: str
    name: str
    spec: object
    subprocess_specs: dict
    files: set[str]
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)
    end_events: list[str] = field(default_factory=list)
    expressions: list[Expression] = field(default_factory=list)
    lanes: set[str] = field(default_factory=set)
    message_names: set[str] = field(default_factory=set)
    start_message_names: set[str] = field(default_factory=set)
    # Names that data can get besides forms and scripts: DMN outputs, data objects, MI items.
    data_names: set[str] = field(default_factory=set)


def parse_xml(content: bytes, filename: str) -> etree._ElementTree:
    """Parse XML refusing DTDs and entities; raise DefinitionInvalid with the line."""
    head = content[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in content.upper():
        _refuse_doctype(filename)
    try:
        tree = etree.ElementTree(etree.fromstring(content, _XML_PARSER))
    except etree.XMLSyntaxError as exc:
        raise DefinitionInvalid(
            f"文件 {filename} 不是格式正确的 XML",
            message_en=f"{filename} is not well-formed XML",
            details=[Problem(f"XML 语法错误：{exc.msg}", f"XML syntax error: {exc.msg}", file=filename, line=exc.lineno)],
        ) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        _refuse_doctype(filename)
    return tree


def _refuse_doctype(filename: str):
    raise DefinitionInvalid(
            f"文件 {filename} 含有 DOCTYPE 声明，出于安全原因不予接受",
            message_en=f"{filename} contains a DOCTYPE declaration, which is refused for security",
            details=[Problem("不允许 DOCTYPE/实体声明（可能的 XXE 攻击）", "DOCTYPE/entity declarations are not allowed (possible XXE)", file=filename, line=1)],
        )


def element_lines(tree: etree._ElementTree) -> dict[str, int]:
    """Map every element id in the document to its source line."""
    return {el.get("id"): el.sourceline for el in tree.iter() if isinstance(el.tag, str) and el.get("id")}


def parse_bundle(bpmn_files: dict[str, bytes], dmn_files: dict[str, bytes]) -> dict[str, ParsedProcess]:
    """Parse all files together and return every executable process found in the BPMN files."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    trees: dict[str, etree._ElementTree] = {}
    lines: dict[str, dict[str, int]] = {}
    problems: list[Problem] = []
    for name, content in sorted(dmn_files.items()):
        trees[name] = parse_xml(content, name)
        lines[name] = element_lines(trees[name])
        root = trees[name].getroot()
        if not (etree.QName(root).namespace or "").rstrip("/").lower().endswith("/model") \
                or "dmn" not in (etree.QName(root).namespace or "").lower():
            problems.append(Problem(
                f"{name} 不是 DMN 决策表文件：根元素 <{etree.QName(root).localname}> 没有 DMN 命名空间"
                f"（应为 xmlns=\"{NS['dmn']}\"）",
                f"{name} is not a DMN file: its root element has no DMN namespace (expected {NS['dmn']})",
                file=name, line=root.sourceline, element_id=root.get("id")))
            continue
        try:
            parser.add_dmn_xml(root, filename=name)
        except (ValidationException, SpiffWorkflowException, ValueError, KeyError, etree.LxmlError) as exc:
            problems.append(_problem_from(exc, name, lines[name]))
    process_files: dict[str, str] = {}
    for name, content in sorted(bpmn_files.items()):
        trees[name] = parse_xml(content, name)
        lines[name] = element_lines(trees[name])
        for proc in trees[name].getroot().iterfind("bpmn:process", NS):
            if proc.get("id") in process_files:
                problems.append(Problem(
                    f"流程 id '{proc.get('id')}' 在 {process_files[proc.get('id')]} 中已定义",
                    f"process id '{proc.get('id')}' is already defined in {process_files[proc.get('id')]}",
                    file=name, line=proc.sourceline, element_id=proc.get("id")))
            process_files[proc.get("id")] = name
        problems.extend(_missing_references(trees[name], name))
        try:
            parser.add_bpmn_xml(executable_part(trees[name]).getroot(), filename=name)
        except (ValidationException, SpiffWorkflowException, ValueError, KeyError) as exc:
            problems.append(_problem_from(exc, name, lines[name], trees[name]))
    if problems:
        raise DefinitionInvalid("流程定义无效", message_en="The process definition is invalid", details=problems)

    result: dict[str, ParsedProcess] = {}
    for name, tree in trees.items():
        if name not in bpmn_files:
            continue
        for proc in tree.getroot().iterfind("bpmn:process", NS):
            if proc.get("isExecutable", "true").lower() != "true":
                continue
            key = proc.get("id")
            try:
                spec = parser.get_spec(key)
                subprocess_specs = parser.get_subprocess_specs(key)
            except (ValidationException, SpiffWorkflowException, ValueError, KeyError) as exc:
                problems.append(_problem_from(exc, name, lines[name], tree))
                continue
            parsed = ParsedProcess(key=key, name=proc.get("name") or key, spec=spec,
                                   subprocess_specs=subprocess_specs, files={name})
            _collect_specs(parsed, [spec, *subprocess_specs.values()], lines[name])
            problems.extend(_never_completed(spec, name, lines[name]))
            problems.extend(_never_runs([spec, *subprocess_specs.values()], proc, name, lines[name]))
            for sub_key in subprocess_specs:
                if sub_key in process_files:
                    parsed.files.add(process_files[sub_key])
            for dmn_name, dmn_tree in trees.items():
                if dmn_name in dmn_files and _decisions(dmn_tree) & _called_decisions(tree):
                    parsed.files.add(dmn_name)
            _collect_expressions(parsed, trees, lines)
            result[key] = parsed
    if problems:
        raise DefinitionInvalid("流程定义无效", message_en="The process definition is invalid", details=problems)
    return result


def _collect_specs(parsed: ParsedProcess, specs: list, lines: dict[str, int]) -> None:
    for proc_spec in specs:
        for ts in proc_spec.task_specs.values():
            if getattr(ts, "lane", None):
                parsed.lanes.add(ts.lane)
            if isinstance(ts, UserTask) and ts.bpmn_id:
                props = dict((getattr(ts, "extensions", None) or {}).get("properties", {}))
                parsed.user_tasks[ts.bpmn_id] = UserTaskInfo(
                    element_id=ts.bpmn_id, name=ts.bpmn_name or ts.bpmn_id, lane=ts.lane,
                    form_key=props.get("formKey"), properties=props,
                    multi_instance=any(isinstance(o, LoopTask) and o.task_spec == ts.name
                                       for o in proc_spec.task_specs.values()),
                    line=lines.get(ts.bpmn_id))
            if isinstance(ts, EndEvent) and ts.bpmn_id and proc_spec is specs[0]:
                parsed.end_events.append(ts.bpmn_id)
            event_def = getattr(ts, "event_definition", None)
            if event_def is not None and type(event_def).__name__.endswith("MessageEventDefinition"):
                parsed.message_names.add(event_def.name)
                if type(ts).__name__ == "StartEvent" and proc_spec is specs[0]:
                    parsed.start_message_names.add(event_def.name)


def _never_completed(spec, filename: str, lines: dict[str, int]) -> list[Problem]:
    """Refuse what would stop a case for good: plain and manual tasks, message events without a message."""
    problems = []
    for ts in spec.task_specs.values():
        event_def = getattr(ts, "event_definition", None)
        if event_def is not None and type(event_def).__name__ == "MessageEventDefinition" and not event_def.name \
                and ts.bpmn_id:
            name = " ".join((ts.bpmn_name or ts.bpmn_id).split())
            problems.append(Problem(
                f"消息事件 '{name}' 没有指定消息：选择或新建一个消息，平安按消息名投递",
                f"message event '{name}' names no message; choose or add one (Pingan delivers messages by name)",
                file=filename, line=lines.get(ts.bpmn_id), element_id=ts.bpmn_id))
        if ts.manual and not isinstance(ts, UserTask) and ts.bpmn_id:
            kind = "手工任务" if type(ts).__name__ == "ManualTask" else "普通任务（没有类型的任务）"
            kind_en = "manual task" if type(ts).__name__ == "ManualTask" else "plain task (a task without a type)"
            name = " ".join((ts.bpmn_name or ts.bpmn_id).split())
            problems.append(Problem(
                f"{kind} '{name}' 在平安里没有人能完成，案件会一直停在这里：请改画为用户任务（有人办理）或脚本任务（自动执行）",
                f"{kind_en} '{name}' can be completed by no one in Pingan, so a case would stop there for good; "
                "draw a user task (a person acts) or a script task (runs by itself) instead",
                file=filename, line=lines.get(ts.bpmn_id), element_id=ts.bpmn_id))
    return problems


# Flow nodes a case reaches only through an incoming sequence flow (start and boundary events, and
# event sub-processes, start on their own).
_NEEDS_INCOMING = {
    "task", "userTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "manualTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess", "exclusiveGateway", "inclusiveGateway",
    "parallelGateway", "eventBasedGateway", "complexGateway", "intermediateCatchEvent", "intermediateThrowEvent",
    "endEvent",
}


def _never_runs(specs: list, process: etree._Element, filename: str, lines: dict[str, int]) -> list[Problem]:
    """Refuse what SpiffWorkflow parses but a case could never get past: it would wait for good.

    Link events lead nowhere (the library does not join a link throw to its catch), a signal start
    event has no one to send the signal, and an ad hoc sub-process needs someone to pick its
    activities, which no page offers.
    """
    problems = []
    # The library does not know link events at all: a throw leads nowhere, a catch is never reached.
    for definition in process.iter(f"{{{NS['bpmn']}}}linkEventDefinition"):
        event = definition.getparent()
        name = " ".join((event.get("name") or event.get("id") or "").split())
        problems.append(Problem(
            f"链接事件 '{name}'：平安不运行链接事件（案件会停在这里）；请直接画一条连线连到目标活动",
            f"link event '{name}': Pingan does not run link events (a case would stop there); "
            "draw a sequence flow to the target instead",
            file=filename, line=event.sourceline, element_id=event.get("id")))
    # An activity no flow leads to is never reached: the library does not even parse it.
    for container in [process, *process.iter(f"{{{NS['bpmn']}}}subProcess", f"{{{NS['bpmn']}}}transaction")]:
        targets = {flow.get("targetRef") for flow in container.iterfind("bpmn:sequenceFlow", NS)}
        for node in container:
            tag = etree.QName(node).localname if isinstance(node.tag, str) else ""
            if tag in _NEEDS_INCOMING and node.get("id") not in targets and node.get("triggeredByEvent") != "true":
                name = " ".join((node.get("name") or node.get("id") or "").split())
                problems.append(Problem(
                    f"'{name}' 没有连线连入，案件永远走不到它：从前面的活动或网关画一条连线过来，或删除它",
                    f"'{name}' has no incoming sequence flow, so no case ever reaches it; draw a flow into it or delete it",
                    file=filename, line=node.sourceline, element_id=node.get("id")))
    for spec in specs:
        for ts in spec.task_specs.values():
            if not getattr(ts, "bpmn_id", None):
                continue
            name = " ".join((ts.bpmn_name or ts.bpmn_id).split())
            kind = type(getattr(ts, "event_definition", None)).__name__
            where = dict(file=filename, line=lines.get(ts.bpmn_id), element_id=ts.bpmn_id)
            if kind == "SignalEventDefinition" and type(ts).__name__ == "StartEvent" and spec is specs[0]:
                problems.append(Problem(
                    f"信号开始事件 '{name}'：平安里没有发出信号来启动案件的来源；请改画为普通开始事件或消息开始事件",
                    f"signal start event '{name}': nothing in Pingan sends a signal that starts a case; "
                    "draw a none start event or a message start event instead", **where))
            elif type(ts).__name__ == "ReceiveTask" and not getattr(getattr(ts, "event_definition", None), "name", None):
                problems.append(Problem(
                    f"接收任务 '{name}' 没有指定消息，案件会一直停在这里：选择或新建一个消息，平安按消息名投递",
                    f"receive task '{name}' names no message, so a case would wait there for good; "
                    "choose or add one (Pingan delivers messages by name)", **where))
            elif type(ts).__name__ == "AdHocSubprocess":
                problems.append(Problem(
                    f"临时子流程 '{name}'：平安没有让办理人挑选活动的页面，案件会停在这里；"
                    "请改画为普通子流程，用并行网关或包容网关表示可以同时或选择办理的活动",
                    f"ad hoc sub-process '{name}': no page lets a person pick its activities, so a case would stop "
                    "there; draw an embedded sub-process with a parallel or inclusive gateway instead", **where))
    return problems


def _collect_expressions(parsed: ParsedProcess, trees: dict, lines: dict) -> None:
    # Only this process and those it calls: another process drawn in the same file has its own
    # fields, and its conditions are checked against its own forms.
    wanted = {parsed.key, *parsed.subprocess_specs}
    for file in sorted(parsed.files):
        doc = trees[file].getroot()
        procs = [p for p in doc.iterfind("bpmn:process", NS) if p.get("id") in wanted]
        for root in procs or [doc]:
            _collect_from(parsed, root, file)


def _collect_from(parsed: ParsedProcess, root, file: str) -> None:
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            parsed.expressions.append(Expression("condition", cond.text.strip(), flow.get("id"), cond.sourceline, file, "eval"))
    for script_el in root.iterfind(".//bpmn:scriptTask/bpmn:script", NS):
        parsed.expressions.append(Expression("script", script_el.text or "", script_el.getparent().get("id"), script_el.sourceline, file, "exec"))
    for tag in ("preScript", "postScript"):
        for el in root.iterfind(f".//spiffworkflow:{tag}", NS):
            owner = el.getparent().getparent()
            parsed.expressions.append(Expression(tag.lower(), el.text or "", owner.get("id"), el.sourceline, file, "exec"))
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for el in root.iterfind(f".//bpmn:{tag}", NS):
            event = el.getparent().getparent()
            parsed.expressions.append(Expression(f"timer:{tag}", (el.text or "").strip(), event.get("id"), el.sourceline, file, "eval"))
    for el in root.iterfind(".//dmn:output", NS):
        parsed.data_names.add(el.get("name") or "")
    for el in root.iterfind(".//bpmn:dataObject", NS):
        parsed.data_names.add(el.get("id"))
    for tag in ("inputDataItem", "outputDataItem", "loopDataOutputRef", "loopDataInputRef"):
        for el in root.iterfind(f".//bpmn:{tag}", NS):
            parsed.data_names.add(el.get("name") or (el.text or "").strip())
    for el in root.iterfind(".//spiffworkflow:messageVariable", NS):
        parsed.data_names.add((el.text or "").strip())
    for el in root.iterfind(".//dmn:decisionTable//dmn:text", NS):
        text = (el.text or "").strip()
        if text and text != "-":
            cell = el.getparent()
            kind = "dmn_input" if cell.tag == f"{{{NS['dmn']}}}inputEntry" else "dmn"
            owner = cell.getparent()
            parsed.expressions.append(Expression(kind, dmn_input_as_expression(text) if kind == "dmn_input" else text,
                                                 owner.get("id") or cell.get("id") or "", el.sourceline, file, "eval"))


_REFERENCE_ATTRS = ("sourceRef", "targetRef", "attachedToRef", "default", "messageRef")


def _missing_references(tree, filename: str) -> list[Problem]:
    ids = {el.get("id") for el in tree.iter() if isinstance(el.tag, str) and el.get("id")}
    problems = []
    for el in tree.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith("{" + NS["bpmn"]):
            continue
        for attr in _REFERENCE_ATTRS:
            ref = el.get(attr)
            if ref and ref not in ids:
                close = difflib.get_close_matches(ref, ids, n=1)
                problems.append(Problem(
                    f"{attr} 引用了不存在的元素 '{ref}'", f"{attr} points at missing element '{ref}'",
                    file=filename, line=el.sourceline, element_id=el.get("id"),
                    hint=f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else None))
    return problems


_QUESTION_MARK = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")


def dmn_input_as_expression(text: str) -> str:
    """Turn a DMN input entry (``>= 30``, ``? < 5``, ``'a'``) into the expression SpiffWorkflow runs."""
    # Mirrors SpiffWorkflow's DMNEngine.evaluate: '?' stands for the input value; an entry that
    # is not an expression by itself gets the input value put in front of it.
    text = _QUESTION_MARK.sub("dmninputexpr", text)
    if "dmninputexpr" in text:
        return text
    try:
        compile(text, "<dmn>", "eval")
        return text
    except SyntaxError:
        return f"dmninputexpr {text}"


def check_timer_literal(kind: str, value: str) -> str | None:
    """Return an error message if ``value`` is not a valid ISO 8601 timer of ``kind``."""
    try:
        if kind == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        elif kind == "timeDate":
            TimerEventDefinition.get_datetime(value)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception as exc:  # the library raises bare Exception for bad durations
        return str(exc) or type(exc).__name__
    return None


def call_cycles(bpmn_files: dict[str, bytes]) -> list[Problem]:
    """Return a problem for each cycle of call activities found among the processes in ``bpmn_files``.

    A call activity is resolved when its process is deployed, from the same bundle (the called
    specs are stored with the caller), so the bundle is the whole graph: a later deploy cannot
    close a cycle through a definition that is already stored.
    """
    calls: dict[str, list[tuple[str, str, str, int | None]]] = {}  # process -> (called, element, file, line)
    for name, content in sorted(bpmn_files.items()):
        for proc in parse_xml(content, name).getroot().iterfind("bpmn:process", NS):
            found = calls.setdefault(proc.get("id"), [])
            for el in proc.iterfind(".//bpmn:callActivity", NS):
                if el.get("calledElement"):
                    found.append((el.get("calledElement"), el.get("id"), name, el.sourceline))
    problems: list[Problem] = []
    done: set[str] = set()  # fully explored: no cycle through it is left to find

    def visit(process: str, path: list[str], via: list[tuple]) -> None:
        for called, element, file, line in calls.get(process, []):
            if called in path:  # back on the path being walked: a cycle
                start = path.index(called)
                at_element, at_file, at_line = via[start] if start < len(via) else (element, file, line)
                names = " → ".join([*path[start:], called])
                problems.append(Problem(
                    f"调用活动形成循环：{names}", f"call activities form a cycle: {names}",
                    file=at_file, line=at_line, element_id=at_element,
                    hint="循环中至少要有一个流程不再调用回来 (one process in the cycle must not call back)"))
            elif called in calls and called not in done:
                visit(called, [*path, called], [*via, (element, file, line)])
        done.add(process)

    for process in sorted(calls):
        if process not in done:
            visit(process, [process], [])
    return problems


def _decisions(tree) -> set[str]:
    return {d.get("id") for d in tree.getroot().iterfind("dmn:decision", NS)}


def _called_decisions(tree) -> set[str]:
    return {(el.text or "").strip() for el in tree.getroot().iterfind(".//spiffworkflow:calledDecisionId", NS)}


# Drawn for the reader, never run: Pingan's data lives in the task data (forms, scripts, DMN
# outputs), so data objects, data stores and the associations between them and tasks are
# documentation. SpiffWorkflow would otherwise want an implementation for every data store and
# a value in the task data for every data object a task reads.
_DOCUMENTATION_ONLY = ("dataStore", "dataStoreReference", "dataObject", "dataObjectReference",
                       "dataInputAssociation", "dataOutputAssociation", "ioSpecification", "property")


def executable_part(tree: etree._ElementTree) -> etree._ElementTree:
    """Return a copy of a BPMN document without what only documents the process (data objects and stores)."""
    copy = etree.ElementTree(deepcopy(tree.getroot()))
    for tag in _DOCUMENTATION_ONLY:
        for el in list(copy.getroot().iter(f"{{{NS['bpmn']}}}{tag}")):
            el.getparent().remove(el)
    return copy


_OBJECT_REPR = re.compile(r"<(?:Element )?\{[^}]*\}(\w+) at 0x[0-9a-fA-F]+>|<[^<>]* object at 0x[0-9a-fA-F]+>")

_BYTES_REPR = re.compile(r"""(?:,\s*)?b(['"])<.*?\1(?=\)|$)""", re.S)

# SpiffWorkflow's messages, said the way a designer draws: (pattern, Chinese, English).
_TRANSLATIONS = [
    (r"A Service Task must have an operator",
     "服务任务{what}没有平安能运行的实现：平安不调用外部服务。请改画为脚本任务（Python）或用户任务",
     "service task{what} has no implementation Pingan can run (Pingan calls no outside service); "
     "draw a script task (Python) or a user task instead"),
    (r"Exactly one start event is required in a SubWorkflow Task; found (\d+)",
     "子流程{what}需要正好一个开始事件（现有 {0} 个）：在子流程里画一个开始事件，连到第一个活动",
     "sub-process{what} needs exactly one start event (it has {0}); draw one inside it, leading to the first activity"),
    (r"A SubWorkflow Must contain an End event",
     "子流程{what}没有结束事件：在子流程里画一个结束事件",
     "sub-process{what} has no end event; draw one inside it"),
    (r"There is no support implemented for this task type.*complexGateway",
     "平安不运行复杂网关{what}：请改画为包容网关（满足条件的都走）或排他网关（只走一条）",
     "Pingan does not run complex gateways{what}; draw an inclusive gateway (every flow whose condition holds) "
     "or an exclusive gateway (one flow) instead"),
    (r"There is no support implemented for this task type",
     "平安不支持这种元素{what}：请改画为任务、用户任务、脚本任务或子流程",
     "Pingan does not run this kind of element{what}; draw a task, user task, script task or sub-process instead"),
    (r"A multiinstance task must specify a cardinality or a loop input data reference",
     "多实例活动{what}既没有实例数也没有输入集合：填写实例数（loopCardinality）或输入集合（loopDataInputRef）",
     "multi-instance activity{what} has neither a cardinality nor an input collection; give loopCardinality or "
     "loopDataInputRef"),
    (r"Non-default exclusive outgoing sequence flow without condition",
     "排他网关的出口连线{what}既没有条件也不是默认连线：给它写条件，或把它设为默认连线",
     "the exclusive gateway's outgoing flow{what} has no condition and is not the default; give it a condition or "
     "make it the default flow"),
    (r"No start event found",
     "流程{what}没有开始事件：画一个开始事件", "process{what} has no start event; draw one"),
    (r"No \"calledElement\" attribute for Call Activity",
     "调用活动{what}没有指定被调用的流程（calledElement）", "call activity{what} names no called process (calledElement)"),
    (r"Invalid Script Task.\s+No Script Provided",
     "脚本任务{what}没有脚本：填写 Python 脚本", "script task{what} has no script; write a Python script"),
    (r"Conditional event definition with missing condition",
     "条件事件{what}没有条件：填写条件表达式", "conditional event{what} has no condition; write one"),
    (r"Unknown Time Specification|Time Specification Error",
     "定时器{what}没有有效的时间：填写时长（如 'P3D'）、时间点或周期",
     "timer{what} has no valid time; give a duration (e.g. 'P3D'), a date or a cycle"),
    (r"A loopMaximum or loopCondition must be specified for Loop Tasks",
     "循环活动{what}没有循环条件也没有最多次数：填写 loopCondition（Python 表达式）或 loopMaximum",
     "loop activity{what} has neither a loop condition nor a maximum; give loopCondition (Python) or loopMaximum"),
    (r"Multiple outgoing flows are not supported",
     "{what}有多条出口连线：平安要求分支画成网关。在它后面画一个并行网关（同时走）或排他网关（选一条）",
     "{what} has several outgoing flows; Pingan needs a gateway for a split: draw a parallel gateway (all at once) "
     "or an exclusive gateway (one of them) after it"),
    (r"Unsupported Catch Event",
     "平安不支持这种捕获事件{what}（例如补偿边界事件）：请去掉它或改画为消息、定时器、错误事件",
     "Pingan does not support this catch event{what} (e.g. a compensation boundary event); remove it or draw a "
     "message, timer or error event"),
    (r"^Element '([^']+)'(?:, attribute '([^']+)')?: (.*)$",
     "元素{what}不符合 BPMN 标准（{0}{1}）：{2}", "element{what} does not follow the BPMN schema ({0} {1}): {2}"),
    (r"The process '([^']+)' was not found",
     "调用活动{what}调用的流程 '{0}' 不在这些文件里：把它的 BPMN 文件一起校验、部署（或导入）",
     "call activity{what} calls the process '{0}', which is not among these files; validate and deploy (or import) "
     "its BPMN file together with this one"),
    (r"Sequential ordering for ad hoc subprocesses not supported",
     "临时子流程{what}不支持顺序执行：改为并行", "ad hoc sub-process{what}: sequential ordering is not supported"),
    (r"Ad hoc subprocesses may not contain start or end events",
     "临时子流程{what}里不能有开始或结束事件", "ad hoc sub-process{what} may not contain start or end events"),
]


def _problem_from(exc: Exception, filename: str, lines: dict[str, int], tree=None) -> Problem:
    """Say a SpiffWorkflow parse error in designer terms, at the element it is about."""
    element_id = getattr(exc, "id", None) or getattr(exc, "task_id", None) or None
    name = getattr(exc, "name", None) or None
    text = _OBJECT_REPR.sub(lambda m: m.group(1) or "element", str(getattr(exc, "message", None) or exc).split("\n")[0])
    text = _BYTES_REPR.sub("", text).replace(f"{{{NS['bpmn']}}}", "bpmn:").strip().rstrip(".").strip()
    line = getattr(exc, "line_number", None) or getattr(exc, "sourceline", None)
    if not element_id and tree is not None:
        element_id, name = _element_named_in(text, tree)
    if not element_id and tree is not None and line:
        # A schema (XSD) error knows only its line: the element drawn there is the one to fix.
        at = next((el for el in tree.iter() if isinstance(el.tag, str) and el.sourceline == line), None)
        while at is not None and not at.get("id"):
            at = at.getparent()
        if at is not None:
            element_id, name = at.get("id"), at.get("name")
    if element_id and not name and tree is not None:
        found = next((el for el in tree.iter() if isinstance(el.tag, str) and el.get("id") == element_id), None)
        name = found.get("name") if found is not None else None
    line = line or lines.get(element_id)
    file = getattr(exc, "file_name", None) or filename
    if not element_id and tree is not None:
        # Nothing narrower is known: the process (or the document) is the element.
        root = tree.getroot()
        proc = root.find("bpmn:process", NS)
        holder = proc if proc is not None else root
        element_id, name, line = holder.get("id"), holder.get("name"), line or holder.sourceline
    name = " ".join(name.split()) if name else None
    if text.startswith("There is no support") and tree is not None and element_id:
        # Say which kind of element: the library's message does not.
        drawn = next((el for el in tree.iter() if isinstance(el.tag, str) and el.get("id") == element_id), None)
        text = f"{text} {etree.QName(drawn).localname}" if drawn is not None else text
    label = f" '{name}'（{element_id}）" if name and element_id else (f"（{element_id}）" if element_id else "")
    label_en = f" '{name}' ({element_id})" if name and element_id else (f" ({element_id})" if element_id else "")
    for pattern, zh, en in _TRANSLATIONS:
        match = re.search(pattern, text)
        if match:
            groups = [g or "" for g in match.groups()]
            return Problem(zh.format(*groups, what=label), en.format(*groups, what=label_en),
                           file=file, line=line, element_id=element_id, hint=_import_hint(tree))
    hint = None
    if "did you mean" not in text.lower():
        missing = text.rsplit("'", 2)[-2] if text.count("'") >= 2 else None
        close = difflib.get_close_matches(missing or "", list(lines), n=1) if missing else []
        hint = f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else None
    where = f"{label}：" if label else "："
    return Problem(f"BPMN 解析错误{where}{text}", f"BPMN parse error{label_en}: {text}",
                   file=file, line=line, element_id=element_id, hint=hint or _import_hint(tree))


_OTHER_TOOLS = ("camunda.org", "activiti.org", "flowable.org", "signavio.com", "trisotech.com")


def _import_hint(tree) -> str | None:
    """Point a designer validating another tool's file at `pingan import`, which converts what it can."""
    namespaces = tree.getroot().nsmap.values() if tree is not None else ()
    if any(tool in (ns or "") for ns in namespaces for tool in _OTHER_TOOLS):
        return "这是其他工具画的模型：先用 pingan import 转换 (a model from another tool: convert it with pingan import first)"
    return None


def _element_named_in(text: str, tree) -> tuple[str | None, str | None]:
    """Find the element a message without a node talks about: an id or a name quoted in it."""
    by_id = {el.get("id"): el for el in tree.iter() if isinstance(el.tag, str) and el.get("id")}
    missing = re.search(r"The process '([^']+)' was not found", text)
    if missing:
        caller = next((el for el in by_id.values() if el.get("calledElement") == missing.group(1)), None)
        if caller is not None:
            return caller.get("id"), caller.get("name")
    for token in re.findall(r"'([^']+)'|:\s*(\S+)$|name (.+?)(?: has|$)", text):
        for candidate in token:
            candidate = candidate.strip()
            if candidate in by_id:
                return candidate, by_id[candidate].get("name")
            named = next((el for el in by_id.values() if (el.get("name") or "").strip() == candidate), None)
            if candidate and named is not None:
                return named.get("id"), named.get("name")
    return None, None
