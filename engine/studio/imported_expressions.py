"""Turn the expression languages other tools write (JUEL, FEEL) into Pingan's Python, when simple."""
from __future__ import annotations

import keyword
import re

from ..definitions.scripting import HELPER_NAMES
from ..spiff.sandbox import check_source


class NotConvertible(ValueError):
    """An expression Pingan will not guess at; the message says why, in Chinese and English."""

    def __init__(self, zh: str, en: str):
        super().__init__(en)
        self.zh, self.en = zh, en


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,+\-*/%=?:{}])
""", re.VERBOSE)

# Words of JUEL and FEEL with their Python spelling; None: a word Pingan does not guess at.
_WORDS = {"true": "True", "false": "False", "null": "None", "and": "and", "or": "or", "not": "not",
          "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%",
          "empty": None, "instanceof": None, "new": None, "in": None, "some": None, "every": None,
          "satisfies": None, "if": None, "then": None, "else": None, "for": None, "return": None, "between": None,
          "instance": None, "of": None, "function": None}
# Names that only mean something inside Camunda's engine.
_ENGINE_NAMES = {"execution", "task", "authenticatedUserId", "nrOfInstances", "nrOfActiveInstances",
                 "nrOfCompletedInstances", "loopCounter", "dateTime", "now", "today", "camunda", "connector",
                 "variables", "processEngine", "currentUser", "currentUserGroups"}


def snake(name: str) -> str:
    """Spell a JUEL/FEEL variable name (``creditScore``, ``Service Level``) as a Pingan field name."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    name = re.sub(r"\W+", "_", name).strip("_").lower()
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in HELPER_NAMES:
        return f"{name}_value"
    return name if name and not name[0].isdigit() else f"f_{name}"


_XPATH_DATA = re.compile(r"""bpmn:getDataObject\(\s*['"]([^'"]+)['"]\s*\)""")


def is_placeholder(text: str) -> bool:
    """Tell whether ``text`` is one ``${...}``/``#{...}`` expression or a FEEL ``= ...`` expression."""
    text = text.strip()
    return bool(re.fullmatch(r"[$#]\{.*\}", text, re.S)) or text.startswith("=")


def to_python(text: str, *, literal_ok: bool = False) -> str:
    """Return the Python for a JUEL (``${...}``), FEEL (``= ...``) or Python expression.

    ``literal_ok``: text that is no expression at all (``demo``, ``2026-01-31T12:00:00Z``) is a
    string value and becomes a quoted Python string. Raise NotConvertible for anything else that
    Pingan would have to guess at: method calls, the engine's own variables, mixed text.
    """
    raw = text.strip()
    if not raw:
        raise NotConvertible("表达式为空", "the expression is empty")
    match = re.fullmatch(r"[$#]\{(.*)\}", raw, re.S)
    if match:
        return _convert(match.group(1), feel=False, original=raw)
    if "${" in raw or "#{" in raw:
        raise NotConvertible(f"表达式 '{raw}' 把文字和 ${{...}} 混在一起：请改写为一个 Python 表达式",
                             f"'{raw}' mixes text and ${{...}}; write one Python expression")
    if raw.startswith("="):
        quantified = _QUANTIFIED.fullmatch(raw[1:].strip())
        if quantified:
            return _quantified(*quantified.groups(), original=raw)
        return _convert(raw[1:], feel=True, original=raw)
    if raw in ("true", "false"):
        return _WORDS[raw]
    if literal_ok:
        return repr(raw)
    if not check_source(raw, "eval"):
        return raw
    # Not Python: XPath over data objects, or FEEL written without its '=' (names may hold spaces).
    try:
        return _convert(_XPATH_DATA.sub(lambda m: m.group(1).replace(" ", "_"), raw), feel=True, original=raw)
    except NotConvertible:
        raise NotConvertible(f"'{raw}' 不是表达式：请写 Python 表达式，例如 amount > 100",
                             f"'{raw}' is not an expression; write a Python expression such as amount > 100") from None


# FEEL's "some x in xs satisfies ..." and "every x in xs satisfies ...": Python's any() and all().
_QUANTIFIED = re.compile(r"(some|every)\s+([A-Za-z_]\w*)\s+in\s+(.+?)\s+satisfies\s+(.+)", re.S)


def _quantified(kind: str, item: str, collection: str, body: str, *, original: str) -> str:
    code = (f"{'any' if kind == 'some' else 'all'}({_convert(body, feel=True, original=original)} for {snake(item)} "
            f"in {_convert(collection, feel=True, original=original)})")
    if check_source(code, "eval"):
        raise NotConvertible(f"表达式 '{original}' 无法转换：请改写为 Python 表达式",
                             f"'{original}' cannot be converted; rewrite it as a Python expression")
    return code


def _convert(body: str, *, feel: bool, original: str) -> str:
    out: list[str] = []
    pos = 0
    refuse = NotConvertible(
        f"表达式 '{original}' 超出平安能自动转换的范围（只转换字段、比较、and/or/not 和常量）：请改写为 Python 表达式",
        f"'{original}' is beyond what Pingan converts (fields, comparisons, and/or/not, constants); "
        "rewrite it as a Python expression")
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if not m:
            raise refuse
        pos = m.end()
        kind, value = m.lastgroup, m.group()
        if kind == "space":
            continue
        if kind == "name":
            if value in ("True", "False", "None"):
                out.append(value)  # already Python (a cell Pingan wrote): no variable of that name
                continue
            if value in _WORDS:
                if _WORDS[value] is None:
                    raise refuse
                out.append(_WORDS[value])
                continue
            if value in _ENGINE_NAMES:
                raise NotConvertible(
                    f"表达式 '{original}' 用到了 Camunda 引擎自己的 '{value}'，平安没有它：请改写为基于案件数据的 Python 表达式",
                    f"'{original}' uses Camunda's own '{value}', which Pingan does not have; rewrite it over the case data")
            if feel and out and out[-1] not in _WORDS.values() and _is_name(out[-1]):
                out[-1] = snake(f"{out[-1]} {value}")  # FEEL names may contain spaces
                continue
            out.append(snake(value))
            continue
        if kind == "op":
            if value in ("?", ":", "{", "}"):
                raise refuse
            if value == "(" and out and (out[-1][:1].isalpha() or out[-1][:1] == "_") and out[-1] not in (
                    "and", "or", "not", "in"):
                if not (feel and out[-1] == "not"):
                    raise refuse  # a function or method call
            if value == ".":
                nxt = _TOKEN.match(body, pos)
                if not nxt or nxt.lastgroup != "name" or not out or out[-1] in ("and", "or", "not"):
                    raise refuse
                after = _TOKEN.match(body, nxt.end())
                while after and after.lastgroup == "space":
                    after = _TOKEN.match(body, after.end())
                if after and after.group() == "(":
                    raise refuse  # a method call
                out.append(f"[{nxt.group()!r}]")
                pos = nxt.end()
                continue
            value = {"&&": "and", "||": "or", "!": "not"}.get(value, value)
            if value == "=":
                if not feel:
                    raise refuse  # JUEL assignment
                value = "=="
            out.append(value)
            continue
        out.append(value)
    code = _join(out)
    if check_source(code, "eval"):
        raise refuse
    return code


def _is_name(token: str) -> bool:
    return token.isidentifier() and token not in ("and", "or", "not", "in", "True", "False", "None")


def _join(tokens: list[str]) -> str:
    text = " ".join(tokens)
    for ugly, fine in (("( ", "("), (" )", ")"), (" [", "["), ("[ ", "["), (" ]", "]"), (" ,", ",")):
        text = text.replace(ugly, fine)
    return text


# -- FEEL in decision tables ----------------------------------------------------------------------

_FEEL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_FEEL_CALL = re.compile(r"([A-Za-z_][\w ]*?)\s*\(")
_INTERVAL = re.compile(r"([\[\]\(])\s*([^\[\]\(\),]+?)\s*\.\.\s*([^\[\]\(\),]+?)\s*([\[\]\)])")
_COMPARISON = re.compile(r"(<=|>=|!=|<|>|=)\s*(.+)", re.S)
# Spelled in a cell for the input value; SpiffWorkflow's DMN engine reads '?' as it.
INPUT_VALUE = "dmninputexpr"


def feel_expression(text: str) -> str:
    """Return the Python for a FEEL expression in a decision table (an input column, an output cell).

    Raise NotConvertible for what has no Python spelling Pingan would not have to guess at: FEEL
    functions (``date("…")``, ``string length(x)``), contexts, ``if … then … else``, temporal literals.
    """
    raw = (text or "").strip()
    if not raw:
        raise NotConvertible("表达式为空", "the expression is empty")
    masked = _FEEL_STRING.sub('""', raw)
    for match in _FEEL_CALL.finditer(masked):
        name = " ".join(match.group(1).split())
        if name.split()[-1] not in ("and", "or", "not", "in"):
            raise NotConvertible(f"FEEL 函数 {name}() 在平安的决策表里没有对应的写法：请改写为字段、比较和常量，"
                                 "或在前面的脚本任务里算好",
                                 f"the FEEL function {name}() has no equivalent in Pingan's decision tables; use "
                                 "fields, comparisons and constants, or compute it in a script task before")
    if raw in ("true", "false", "null"):
        return {"true": "True", "false": "False", "null": "None"}[raw]
    return _convert(raw, feel=True, original=raw)


def feel_unary_tests(text: str, *, input_variable: str = "cellInput") -> str:
    """Return the Python cell for a FEEL input entry (unary tests), as Pingan's decision tables write it.

    ``"a","b"`` → ``? in ("a", "b")``, ``>= 10`` stays, ``[1..5]`` → ``1 <= ? <= 5``, ``not("x")`` →
    ``? != "x"``, ``-`` (any value) stays. ``input_variable``: the name Camunda gives the input value
    inside a cell (``camunda:inputVariable``, ``cellInput`` when not set).
    """
    raw = (text or "").strip()
    if raw in ("", "-"):
        return "-"
    negate = re.fullmatch(r"not\s*\((.*)\)", raw, re.S)
    body = negate.group(1).strip() if negate else raw
    tests = [_unary_test(part, input_variable, raw) for part in _split_tests(body, raw)]
    if len(tests) == 1:
        kind, code = tests[0]
        if not negate:
            # ``>= 10`` as Pingan's own tables write it: the engine puts the input value in front.
            compare = kind == "compare" and not code.startswith(f"{INPUT_VALUE} is ")
            return code[len(INPUT_VALUE) + 1:] if compare else code.replace(INPUT_VALUE, "?")
        cell = f"? != {code}" if kind == "equal" else f"not ({code})"
    elif all(kind == "equal" for kind, _ in tests):
        values = ", ".join(code for _, code in tests)
        cell = f"? {'not in' if negate else 'in'} ({values})"
    else:
        either = " or ".join(f"({code})" if kind == "interval" or " or " in code or " and " in code
                             else (f"? == {code}" if kind == "equal" else code) for kind, code in tests)
        cell = f"not ({either})" if negate else either
    return cell.replace(INPUT_VALUE, "?")


def _split_tests(body: str, original: str) -> list[str]:
    """Split FEEL unary tests at the commas between them (not inside strings, calls or intervals)."""
    strings: list[str] = []
    masked = _FEEL_STRING.sub(lambda m: strings.append(m.group()) or f"\x00{len(strings) - 1}\x00", body)
    intervals: list[str] = []
    masked = _INTERVAL.sub(lambda m: intervals.append(m.group()) or f"\x01{len(intervals) - 1}\x01", masked)
    parts, depth, current = [], 0, ""
    for char in masked:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)

    def restore(part: str) -> str:
        part = re.sub(r"\x01(\d+)\x01", lambda m: intervals[int(m.group(1))], part)
        return re.sub(r"\x00(\d+)\x00", lambda m: strings[int(m.group(1))], part).strip()

    found = [restore(p) for p in parts]
    if any(not p for p in found):
        raise NotConvertible(f"输入条件 '{original}' 有空的一项", f"the input entry '{original}' has an empty test")
    return found


def _unary_test(test: str, input_variable: str, original: str) -> tuple[str, str]:
    """Return (kind, code) for one FEEL unary test: equal (a value), compare, interval or a condition on ?."""
    interval = _INTERVAL.fullmatch(test)
    if interval:
        opening, low, high, closing = interval.groups()
        lower = "<=" if opening == "[" else "<"
        upper = "<=" if closing == "]" else "<"
        return "interval", f"{feel_expression(low)} {lower} {INPUT_VALUE} {upper} {feel_expression(high)}"
    if test == "null":
        return "compare", f"{INPUT_VALUE} is None"
    comparison = _COMPARISON.fullmatch(test)
    if comparison:
        op = "==" if comparison.group(1) == "=" else comparison.group(1)
        return "compare", f"{INPUT_VALUE} {op} {feel_expression(comparison.group(2))}"
    unquoted = _FEEL_STRING.sub('""', test)
    mentions_input = "?" in unquoted or re.search(rf"\b{re.escape(input_variable)}\b", unquoted)
    if mentions_input:
        named = re.sub(rf"\b{re.escape(input_variable)}\b", INPUT_VALUE, test) if input_variable else test
        named = re.sub(r"""\?(?=(?:[^'"]|'[^']*'|"[^"]*")*$)""", INPUT_VALUE, named)
        return "condition", feel_expression(named)
    value = feel_expression(test)
    if re.search(r"==|!=|<|>|\band\b|\bor\b|\bnot\b", _FEEL_STRING.sub('""', value)):
        raise NotConvertible(f"输入条件 '{original}' 中的 '{test}' 是一个条件，却没有用到这一列的输入值（? 或 {input_variable}）",
                             f"'{test}' in the input entry '{original}' is a condition that does not read the column's "
                             f"input value (? or {input_variable})")
    return "equal", value
