"""Parse BPMN/DMN sources safely into specs plus the facts Pingan's linter and runtime need."""
from __future__ import annotations

import difflib
import re
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
        try:
            parser.add_dmn_xml(trees[name].getroot(), filename=name)
        except (ValidationException, SpiffWorkflowException, ValueError, KeyError) as exc:
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
            parser.add_bpmn_xml(trees[name].getroot(), filename=name)
        except (ValidationException, SpiffWorkflowException, ValueError, KeyError) as exc:
            problems.append(_problem_from(exc, name, lines[name]))
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
                problems.append(_problem_from(exc, name, lines[name]))
                continue
            parsed = ParsedProcess(key=key, name=proc.get("name") or key, spec=spec,
                                   subprocess_specs=subprocess_specs, files={name})
            _collect_specs(parsed, [spec, *subprocess_specs.values()], lines[name])
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


def _collect_expressions(parsed: ParsedProcess, trees: dict, lines: dict) -> None:
    for file in sorted(parsed.files):
        root = trees[file].getroot()
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


def _problem_from(exc: Exception, filename: str, lines: dict[str, int]) -> Problem:
    element_id = getattr(exc, "id", None) or getattr(exc, "task_id", None)
    line = getattr(exc, "line_number", None) or getattr(exc, "sourceline", None) or lines.get(element_id)
    file = getattr(exc, "file_name", None) or filename
    text = str(getattr(exc, "message", None) or exc).split("\n")[0]
    hint = None
    if "did you mean" not in text.lower():
        missing = text.rsplit("'", 2)[-2] if text.count("'") >= 2 else None
        close = difflib.get_close_matches(missing or "", list(lines), n=1) if missing else []
        hint = f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else None
    return Problem(f"BPMN 解析错误：{text}", text, file=file, line=line, element_id=element_id, hint=hint)
