"""Task forms: read their YAML definitions, describe them as JSON Schema, validate what a submitter sends."""
from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, ValidationError

from engine.definitions.form_conditions import condition_schema
from engine.definitions.form_fields import (
    FORMATS, Choices, FieldType, FormField, Option, ProblemLog, coerce_value, describe_error, did_you_mean,
    field_schema, field_to_dict, nonblank_rule, parse_fields,
)
from engine.errors import DefinitionInvalid, FormInvalid, Problem

__all__ = [
    "FieldType", "Form", "FormField", "Option", "evaluate_visible_if", "form_from_dict", "form_to_dict",
    "form_to_json_schema", "load_forms", "parse_form", "validate_form_data",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
FORM_ATTRIBUTES = ("title", "title_en", "description", "fields")
INVALID_DATA = "表单填写有误，请检查标出的字段", "The form has errors"
Within = Callable[[FormField, object], list]


@dataclass(frozen=True, slots=True)
class Form:
    """The form of one human task, keyed "<process_key>/<task_id>"."""

    key: str
    title: str
    description: str = ""
    fields: tuple[FormField, ...] = ()
    title_en: str = ""

    def field(self, name: str) -> FormField | None:
        """Return the top-level field called ``name``, if any."""
        return next((f for f in self.fields if f.name == name), None)

    def field_names(self) -> set[str]:
        """Return the names of all top-level fields, readonly and hidden ones included."""
        return {f.name for f in self.fields}

    def editable_fields(self) -> tuple[FormField, ...]:
        """Return the fields a submitter may send, in form order."""
        return tuple(f for f in self.fields if f.editable)


def parse_form(source: str | Mapping, *, key: str, file: str | None = None) -> Form:
    """Build a Form from YAML text or a loaded mapping, raising DefinitionInvalid with every problem found."""
    log = ProblemLog(file=file)
    data = _load_yaml(source, log) if isinstance(source, str) else source
    form = None if data is _BROKEN else _build_form(data, key, log)
    if log.items:
        where = file or key
        raise DefinitionInvalid(f"表单定义有误：{where}", message_en=f"Invalid form definition: {where}",
                                details=log.items)
    return form


def load_forms(root: Path) -> dict[str, Form]:
    """Read every <process_key>/<task_id>.yaml under ``root``, raising one DefinitionInvalid for all files."""
    root = Path(root)
    if not root.is_dir():
        raise DefinitionInvalid(f"找不到表单目录 {root}", message_en=f"Form folder {root} does not exist")
    forms: dict[str, Form] = {}
    problems: list[Problem] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        shown = f"{root.name}/{relative.as_posix()}"
        if path.suffix not in (".yaml", ".yml") or any(p.startswith(".") for p in relative.parts) \
                or not path.is_file():
            continue
        if len(relative.parts) != 2 or path.suffix != ".yaml":
            problems.append(Problem("表单文件应放在 <流程标识>/<任务标识>.yaml",
                                    "A form file belongs at <process_key>/<task_id>.yaml", file=shown))
            continue
        try:
            # utf-8-sig: Windows editors often prepend a BOM to Chinese text.
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            problems.append(Problem("文件不是 UTF-8 编码", "The file is not UTF-8 encoded", file=shown))
            continue
        key = f"{relative.parts[0]}/{path.stem}"
        try:
            forms[key] = parse_form(text, key=key, file=shown)
        except DefinitionInvalid as exc:
            problems.extend(exc.details)
    if problems:
        raise DefinitionInvalid(f"表单定义有误，共 {len(problems)} 处问题",
                                message_en=f"Form definitions have {len(problems)} problems", details=problems)
    return forms


def form_to_dict(form: Form) -> dict:
    """Return the form as plain JSON-ready data in the YAML definition's shape, plus its key."""
    out = {"key": form.key, "title": form.title}
    out |= {"title_en": form.title_en} if form.title_en else {}
    out |= {"description": form.description} if form.description else {}
    return out | {"fields": [field_to_dict(f) for f in form.fields]}


def form_from_dict(data: Mapping) -> Form:
    """Rebuild a Form from form_to_dict output, checking it as strictly as a YAML file."""
    return parse_form({k: v for k, v in data.items() if k != "key"}, key=data["key"])


def form_to_json_schema(form: Form, *, context: Mapping | None = None, choices: Choices | None = None,
                        evaluate: Callable[[str, dict], object] | None = None, within: Within | None = None) -> dict:
    """Return the JSON Schema (draft 2020-12) of the data a submitter may send for ``form``.

    It is the whole contract: data it accepts is either accepted by validate_form_data given the
    same ``context`` (the case data) and ``choices``, or refused for a rule it states.
    """
    shown = [f for f in form.fields if not f.hidden]
    editable = {f.name: f for f in form.editable_fields()}
    # A read-only field is shown, never sent: its picker values would cost a query and say nothing.
    properties = {f.name: field_schema(f, choices if f.editable else None, published=True) for f in shown}
    rules: list[dict] = []
    for f in shown:
        if f.readonly:
            rules.append({"not": {"required": [f.name]}})  # shown for reading; the engine refuses it
        elif f.required and f.visible_if:
            shown_when = condition_schema(f.visible_if, fields=editable, context=context or {},
                                          evaluate=evaluate or evaluate_visible_if)
            # A condition JSON Schema cannot state makes the field required always: stricter, never wrong.
            then = {"required": [f.name]} | ({"properties": {f.name: rule}} if (rule := nonblank_rule(f)) else {})
            rules.append(then if shown_when in (None, True) else {"if": shown_when, "then": then}
                         if shown_when is not False else {})
    for f in shown:
        outer = form.field(f.within) if f.within and f.editable and within is not None else None
        if outer is not None and outer.editable and choices is not None:
            # One rule per org the outer field may take: which inner orgs go with it.
            rules += [{"if": {"properties": {outer.name: {"const": code}}, "required": [outer.name]},
                       "then": {"properties": {f.name: {"enum": within(f, code)}}}} for code in choices(outer) or []]
        elif outer is not None and (context or {}).get(outer.name) is not None:
            properties[f.name]["enum"] = within(f, context[outer.name])  # the outer org is already the case's
    schema = {"$schema": JSON_SCHEMA_DIALECT, "title": form.title, "type": "object", "x-form-key": form.key}
    schema |= {"description": form.description} if form.description else {}
    schema |= {"properties": properties,
               "required": [f.name for f in shown if f.required and f.editable and not f.visible_if],
               "additionalProperties": False}
    return schema | ({"allOf": [r for r in rules if r]} if any(rules) else {})


def validate_form_data(form: Form, data: Mapping, *, context: Mapping | None = None,
                       evaluate: Callable[[str, dict], object] | None = None,
                       choices: Choices | None = None, within: Within | None = None) -> dict:
    """Return the submitted data cleaned for storing, or raise FormInvalid listing every field error.

    The result holds every editable field that is visible, None where left empty; a key missing from
    ``data`` takes the field's default. visible_if is evaluated on ``{**context, **cleaned data}``.
    ``choices(field)`` limits person, org and file fields to the values it returns, and
    ``within(field, outer)`` an org field declared ``within`` another to the orgs inside ``outer``.
    """
    if not isinstance(data, Mapping):
        raise FormInvalid(INVALID_DATA[0], message_en=INVALID_DATA[1],
                          details=[Problem("提交的数据格式不正确", "The submitted data must be an object")])
    found: list[tuple[tuple, Problem]] = []
    for name in data:
        field = form.field(name) if isinstance(name, str) else None
        if field is None:
            found.append(((name,), Problem(f"表单中没有字段 '{name}'", f"The form has no field '{name}'")))
        elif field.readonly:
            found.append(((name,), Problem("此项为只读，不能提交", "This field is read-only")))
        elif field.hidden:
            found.append(((name,), Problem("此项不能提交", "This field cannot be submitted")))
    cleaned, row_problems = {}, {}
    for field in form.editable_fields():
        value = coerce_value(field, data[field.name] if field.name in data else field.default)
        if field.type is FieldType.TABLE and isinstance(value, list):
            value, row_problems[field.name] = _clean_rows(field, value)
        cleaned[field.name] = value
    # Every field name is defined (None when unknown) so a sandboxed evaluator never hits a NameError.
    names = {**{f.name: None for f in form.fields}, **(context or {}), **cleaned}
    check = evaluate or evaluate_visible_if
    # A field hidden by its condition is dropped silently: the browser may still have sent it.
    shown = [f for f in form.editable_fields() if not f.visible_if or check(f.visible_if, names)]
    cleaned = {f.name: cleaned[f.name] for f in shown}
    for field in shown:
        found += row_problems.get(field.name, [])
    schema = {"type": "object", "properties": {f.name: field_schema(f, choices) for f in shown},
              "required": [f.name for f in shown if f.required]}
    for error in Draft202012Validator(schema, format_checker=FORMATS).iter_errors(_filled(cleaned)):
        found += _translate(form, error)
    for f in shown:
        outer = names.get(f.within) if f.within else None
        if within is not None and outer is not None and cleaned.get(f.name) is not None \
                and cleaned[f.name] not in within(f, outer):
            parent = form.field(f.within)
            found.append(((f.name,), Problem(f"所选组织不在所选的“{parent.label}”之内",
                                             f"Not within the chosen {parent.label_en or parent.name}")))
    if found:
        order, seen, details = _order_of(form), set(), []
        for path, problem in sorted(found, key=lambda item: order(item[0])):
            problem.field = _path_text(path)
            if (problem.field, problem.message) not in seen:
                seen.add((problem.field, problem.message))
                details.append(problem)
        raise FormInvalid(INVALID_DATA[0], message_en=INVALID_DATA[1], details=details)
    return cleaned


def evaluate_visible_if(expression: str, names: Mapping) -> bool:
    """Evaluate a simple visible_if condition without eval: names, literals, comparisons, in, and/or/not.

    A name that is not set reads as None, so a condition on a field nobody has filled in is false.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise _unsupported(expression) from exc
    return bool(_evaluate(tree.body, names, expression))


_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def _evaluate(node: ast.AST, names: Mapping, expression: str) -> object:
    match node:
        case ast.Constant(value=value) if value is None or isinstance(value, (str, int, float)):
            return value
        case ast.Name(id=name):
            return names.get(name)
        case ast.List(elts=items) | ast.Tuple(elts=items) | ast.Set(elts=items):
            return [_evaluate(item, names, expression) for item in items]
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _evaluate(operand, names, expression)
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float() as number)):
            return -number
        case ast.BoolOp(op=ast.And(), values=values):
            return all(_evaluate(v, names, expression) for v in values)
        case ast.BoolOp(op=ast.Or(), values=values):
            return any(_evaluate(v, names, expression) for v in values)
        case ast.Compare(left=left, ops=ops, comparators=rights) if all(type(op) in _COMPARE for op in ops):
            value = _evaluate(left, names, expression)
            for op, right in zip(ops, rights):
                other = _evaluate(right, names, expression)
                try:
                    if not _COMPARE[type(op)](value, other):
                        return False
                except TypeError:
                    return False  # e.g. None > 10000 while the amount is still empty
                value = other
            return True
    raise _unsupported(expression)


def _unsupported(expression: str) -> DefinitionInvalid:
    return DefinitionInvalid(
        f"visible_if 表达式不受支持：{expression}", message_en=f"Unsupported visible_if expression: {expression}",
        details=[Problem("默认求值器只支持字段名、常量、==、!=、<、>、in、not in、and、or、not",
                         "The default evaluator supports names, literals, comparisons, in, and, or, not")])


def _clean_rows(field: FormField, rows: list) -> tuple[list, list[tuple[tuple, Problem]]]:
    columns = {c.name: c for c in field.columns}
    cleaned, found = [], []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            cleaned.append(row)  # the schema reports it as a malformed row
            continue
        for name in row:
            if name not in columns:
                found.append(((field.name, index, name),
                              Problem(f"表格中没有列 '{name}'", f"The table has no column '{name}'")))
        cleaned.append({c.name: coerce_value(c, row[c.name] if c.name in row else c.default) for c in field.columns})
    return cleaned, found


def _filled(values: dict) -> dict:
    """Drop empty values (and empty cells of table rows) so ``required`` sees them as missing."""
    def row(item):
        return {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item
    return {k: [row(i) for i in v] if isinstance(v, list) else v for k, v in values.items() if v is not None}


def _translate(form: Form, error: ValidationError) -> list[tuple[tuple, Problem]]:
    path = tuple(error.absolute_path)
    if error.validator == "required":
        # jsonschema names the missing property only inside its English message; recompute it.
        return [(path + (name,), Problem("此项为必填项", "This field is required"))
                for name in error.validator_value if name not in error.instance]
    field = form.field(path[0])
    item = len(path) > 1
    if field.type is FieldType.TABLE and len(path) > 2:
        field, item = next(c for c in field.columns if c.name == path[2]), False
    return [(path, Problem(*describe_error(field, error, item=item)))]


def _order_of(form: Form) -> Callable[[tuple], tuple]:
    """Return a sort key that lists errors in the order the fields appear on the form."""
    position = {f.name: i for i, f in enumerate(form.fields)}
    columns = {f.name: {c.name: i for i, c in enumerate(f.columns)} for f in form.fields}

    def key(path: tuple) -> tuple:
        first = position.get(path[0], len(position)) if path else -1
        rest = [p if isinstance(p, int) else columns.get(path[0], {}).get(p, len(columns)) for p in path[1:]]
        return (first, *rest)
    return key


def _path_text(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


_BROKEN = object()


class _FormLoader(yaml.SafeLoader):
    """SafeLoader that reads unquoted dates as text: values are ISO strings anyway, and 2024-02-30 must not crash."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _load_yaml(text: str, log: ProblemLog) -> object:
    """Load YAML safely, pointing ``log`` at its nodes' lines; return _BROKEN when nothing can be read."""
    loader = _FormLoader(text)
    try:
        for event in yaml.parse(text, Loader=_FormLoader):
            # Forms never need anchors, aliases or tags; refusing them also rules out "billion laughs".
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) or getattr(event, "tag", None):
                log.add((), "表单定义中不能使用 YAML 锚点（&）、别名（*）或标签（!）",
                        "YAML anchors, aliases and tags are not allowed in form definitions",
                        line=event.start_mark.line + 1)
                return _BROKEN
        node = loader.get_single_node()
        if node is None:
            return None
        log.locate = _locator(node)
        _check_duplicate_keys(node, log)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        detail = getattr(exc, "problem", None) or str(exc)
        log.add((), f"YAML 语法错误：{detail}", f"YAML syntax error: {detail}",
                hint="检查缩进（只能用空格）、冒号后的空格和引号是否配对", line=mark.line + 1 if mark else None)
        return _BROKEN
    finally:
        loader.dispose()


def _locator(root: yaml.Node) -> Callable[[tuple], int]:
    """Return a function giving the line of the node at a data path, or of its nearest ancestor."""
    def line(path: tuple) -> int:
        node, found = root, root.start_mark.line
        for part in path:
            if isinstance(node, yaml.MappingNode):
                match = next(((k, v) for k, v in node.value
                              if isinstance(k, yaml.ScalarNode) and k.value == part), None)
                if match is None:
                    break
                found, node = match[0].start_mark.line, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                found = node.start_mark.line
            else:
                break
        return found + 1
    return line


def _check_duplicate_keys(node: yaml.Node, log: ProblemLog) -> None:
    # PyYAML silently keeps the last of two equal keys; a designer would never notice the first is ignored.
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value in seen:
                log.add((), f"键 '{key.value}' 重复", f"Duplicate key '{key.value}'", line=key.start_mark.line + 1)
            seen.add(getattr(key, "value", None) if isinstance(key, yaml.ScalarNode) else id(key))
            _check_duplicate_keys(value, log)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item, log)


def _build_form(data: object, key: str, log: ProblemLog) -> Form | None:
    if data is None:
        log.add((), "表单定义为空", "The form definition is empty")
        return None
    if not isinstance(data, Mapping):
        log.add((), "表单定义应为“属性: 值”的映射", "A form definition must be a mapping")
        return None
    for attr in data:
        if attr not in FORM_ATTRIBUTES:
            log.add((attr,), f"未知的表单属性 '{attr}'", f"Unknown form attribute '{attr}'",
                    hint=did_you_mean(attr, FORM_ATTRIBUTES))
    for attr in ("title_en", "description"):
        if not isinstance(data.get(attr, ""), str):
            log.add((attr,), f"属性 '{attr}' 应为文字", f"'{attr}' must be text")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        log.add(("title",), "缺少表单标题 title", "The form has no title")
    if "fields" not in data:
        log.add((), "缺少字段列表 fields", "The form has no fields list")
    fields = parse_fields(data.get("fields", []), ("fields",), log)
    names = {f.name for f in fields}
    for index, f in enumerate(fields):
        parent = next((g for g in fields if g.name == f.within), None) if f.within else None
        if f.within and (parent is None or parent.type is not FieldType.ORG or parent is f):
            log.add(("fields", index, "within"), f"within 应为本表单中另一个组织（org）字段的字段名，'{f.within}' 不是",
                    f"within must name another org field of this form; '{f.within}' is not one", field=f.name,
                    hint=did_you_mean(f.within, [g.name for g in fields if g.type is FieldType.ORG and g is not f]))
        if f.unit_from and f.unit_from not in names:
            log.add(("fields", index, "unit_from"), f"unit_from 应为本表单中的字段名，没有字段 '{f.unit_from}'",
                    f"unit_from must name a field of this form; there is no '{f.unit_from}'", field=f.name,
                    hint=did_you_mean(f.unit_from, names))
    if log.items:
        return None
    return Form(key=key, title=title, description=data.get("description", ""), fields=fields,
                title_en=data.get("title_en", ""))
