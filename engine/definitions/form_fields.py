"""Form fields: the field types, how one field definition is read, coerced and described as JSON Schema."""
from __future__ import annotations

import dataclasses
import difflib
import keyword
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from engine.errors import Problem


class FieldType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    NUMBER = "number"
    INTEGER = "integer"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    SELECT = "select"
    MULTISELECT = "multiselect"
    PERSON = "person"
    ORG = "org"
    FILE = "file"
    TABLE = "table"


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a select or multiselect field."""

    value: str | int
    label: str
    label_en: str = ""

    def as_dict(self) -> dict:
        """Return the option as stored: value, label and label_en when set."""
        out = {"value": self.value, "label": self.label}
        return out | ({"label_en": self.label_en} if self.label_en else {})


@dataclass(frozen=True, slots=True)
class FormField:
    """One field of a task form; a table field's columns are FormFields too."""

    name: str
    label: str
    type: FieldType
    label_en: str = ""
    required: bool = False
    default: object = None
    help: str = ""
    placeholder: str = ""
    readonly: bool = False
    hidden: bool = False
    sensitive: bool = False
    visible_if: str | None = None
    options: tuple[Option, ...] = ()
    min: int | float | None = None
    max: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str = ""
    min_rows: int | None = None
    max_rows: int | None = None
    columns: tuple[FormField, ...] = ()
    max_files: int | None = None
    accept: tuple[str, ...] = ()
    role: str | None = None
    kind: str | None = None
    unit: str | None = None
    unit_from: str | None = None
    within: str | None = None

    @property
    def editable(self) -> bool:
        """Whether a submitter may send this field (neither readonly nor hidden)."""
        return not (self.readonly or self.hidden)


T = FieldType
TEXTUAL, NUMERIC, CHOICE = {T.TEXT, T.TEXTAREA}, {T.NUMBER, T.INTEGER}, {T.SELECT, T.MULTISELECT}
# attribute -> (how its value is checked, the field types it applies to; None = all)
ATTRIBUTES: dict[str, tuple[str, set[FieldType] | None]] = {
    "name": ("name", None), "label": ("text", None), "label_en": ("text", None), "type": ("type", None),
    "required": ("flag", None), "default": ("default", set(T) - {T.FILE, T.TABLE}),
    "help": ("text", None), "placeholder": ("text", None), "readonly": ("flag", None),
    "hidden": ("flag", None), "sensitive": ("flag", None), "visible_if": ("condition", None),
    "options": ("options", CHOICE), "min": ("number", NUMERIC), "max": ("number", NUMERIC),
    "min_length": ("count", TEXTUAL), "max_length": ("count", TEXTUAL),
    "pattern": ("pattern", TEXTUAL), "pattern_message": ("text", TEXTUAL),
    "min_rows": ("count", {T.TABLE}), "max_rows": ("count", {T.TABLE}), "columns": ("columns", {T.TABLE}),
    "max_files": ("count", {T.FILE}), "accept": ("extensions", {T.FILE}),
    "role": ("text", {T.PERSON}), "kind": ("text", {T.ORG}),
    # A number's unit: written out (unit: 工作日), or read from another field of the form (unit_from: limit_kind).
    "unit": ("text", NUMERIC), "unit_from": ("text", NUMERIC),
    # An org chosen inside the org chosen in another field of the form (所属村 within 所属乡镇).
    "within": ("text", {T.ORG}),
}
# A table cell has no case data of its own to show and no per-row condition engine.
NOT_IN_TABLE = ("visible_if", "readonly", "hidden", "within")
RANGES = (("min", "max"), ("min_length", "max_length"), ("min_rows", "max_rows"))
NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE_NAMES = {t.value for t in FieldType}


class ProblemLog:
    """Collects definition problems, each placed on the YAML line of the node it is about."""

    def __init__(self, *, file: str | None, locate: Callable[[tuple], int | None] = lambda path: None):
        self.file, self.locate, self.items = file, locate, []

    def add(self, path: tuple, message: str, message_en: str, *, field: str | None = None,
            hint: str | None = None, line: int | None = None):
        line = line if line is not None else self.locate(path)
        self.items.append(Problem(message, message_en, file=self.file, line=line, field=field, hint=hint))


def did_you_mean(word: object, choices) -> str | None:
    """Return a "did you mean" hint for the closest of ``choices``, if any is close."""
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"是否想写 '{match[0]}'？(did you mean '{match[0]}'?)" if match else None


def parse_fields(raw: object, path: tuple, log: ProblemLog, *, table: str | None = None) -> tuple[FormField, ...]:
    """Read a list of field definitions (a form's fields or a table's columns), logging every problem."""
    if not isinstance(raw, list):
        log.add(path, "字段列表应为列表（以 - 开头的各项）", "The field list must be a YAML list", field=table)
        return ()
    fields, first_seen = [], {}
    for index, item in enumerate(raw):
        here = path + (index,)
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in first_seen:
            shown = f"{table}.{name}" if table else name
            log.add(here + ("name",), f"字段名 '{name}' 重复", f"Duplicate field name '{name}'", field=shown,
                    hint=f"第 {first_seen[name]} 行已有同名字段" if first_seen[name] else None)
        elif isinstance(name, str):
            first_seen[name] = log.locate(here + ("name",))
        field = parse_field(item, here, log, table=table)
        if field is not None:
            fields.append(field)
    return tuple(fields)


def parse_field(raw: object, path: tuple, log: ProblemLog, *, table: str | None = None) -> FormField | None:
    """Read one field definition; return None (with problems logged) when it is not usable."""
    if not isinstance(raw, dict):
        log.add(path, "字段定义应为“属性: 值”的映射", "A field must be a mapping of attributes", field=table)
        return None
    before = len(log.items)
    name = raw.get("name")
    shown = f"{table}.{name}" if table and isinstance(name, str) else (name if isinstance(name, str) else table)

    def problem(attr: str | None, message: str, message_en: str, hint: str | None = None):
        log.add(path + ((attr,) if attr else ()), message, message_en, field=shown, hint=hint)

    if name is None:
        problem(None, "字段缺少 name（字段名）", "The field has no name")
    elif not isinstance(name, str) or not NAME_RE.fullmatch(name):
        guess = re.sub(r"[^a-z0-9_]+", "_", str(name).lower()).strip("_")
        problem("name", f"字段名 '{name}' 不合法：只能用小写字母、数字和下划线，且不能以数字开头",
                f"Invalid field name '{name}': use lowercase letters, digits and underscores, "
                "not starting with a digit",
                f"可改为 '{guess}'" if NAME_RE.fullmatch(guess or "0") else None)
    elif keyword.iskeyword(name):
        problem("name", f"字段名 '{name}' 是 Python 关键字，无法在条件和脚本中使用",
                f"Field name '{name}' is a Python keyword and cannot be used in conditions and scripts")
    hidden = raw.get("hidden") is True
    kind = raw.get("type", "text" if hidden else None)
    ftype = FieldType(kind) if isinstance(kind, str) and kind in _TYPE_NAMES else None
    if kind is None:
        problem(None, "字段缺少 type（字段类型）", "The field has no type",
                "可选类型：" + ", ".join(FieldType))
    elif ftype is None:
        problem("type", f"未知的字段类型 '{kind}'", f"Unknown field type '{kind}'",
                did_you_mean(kind, FieldType) or "可选类型：" + ", ".join(FieldType))
    elif table and ftype is FieldType.TABLE:
        problem("type", "表格的列不能是 table 类型（不支持嵌套表格）", "A table column cannot be a table (no nested tables)")

    values: dict[str, object] = {}
    for attr, value in raw.items():
        spec = ATTRIBUTES.get(attr)
        if spec is None:
            problem(attr, f"未知的字段属性 '{attr}'", f"Unknown field attribute '{attr}'", did_you_mean(attr, ATTRIBUTES))
        elif ftype is not None and spec[1] is not None and ftype not in spec[1]:
            problem(attr, f"属性 '{attr}' 不适用于 {ftype} 类型的字段", f"Attribute '{attr}' does not apply to {ftype} fields")
        elif table and attr in NOT_IN_TABLE:
            problem(attr, f"表格的列不支持属性 '{attr}'", f"Table columns do not support '{attr}'")
        elif spec[0] not in ("name", "type", "default"):
            values[attr] = _attribute(spec[0], attr, value, path + (attr,), log, problem, shown)
    if "label" not in raw and not hidden:
        problem(None, "字段缺少 label（中文标签）", "The field has no label")
    if ftype in CHOICE and "options" not in raw:
        problem(None, f"{ftype} 类型的字段必须提供 options（选项）", f"A {ftype} field needs options")
    if ftype is FieldType.TABLE and not table and raw.get("columns", []) == []:
        problem(None, "table 类型的字段必须提供 columns（列）", "A table field needs columns")
    for low, high in RANGES:
        if _is_number(values.get(low)) and _is_number(values.get(high)) and values[low] > values[high]:
            problem(low, f"{low}（{values[low]}）不能大于 {high}（{values[high]}）",
                    f"{low} ({values[low]}) cannot be greater than {high} ({values[high]})")
    if "pattern_message" in raw and "pattern" not in raw:
        problem("pattern_message", "pattern_message 需要与 pattern 一起使用", "pattern_message needs a pattern")
    if values.get("required") is True and (hidden or values.get("readonly") is True):
        problem("required", "只读或隐藏的字段不能设为必填", "A read-only or hidden field cannot be required")
    if len(log.items) > before:
        return None
    field = FormField(name=name, label=values.pop("label", name), type=ftype, **values)
    # The default is checked against the finished field, so only once everything else about it is right.
    return _with_default(field, raw["default"], problem) if "default" in raw else field


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _attribute(kind: str, attr: str, value: object, path: tuple, log: ProblemLog, problem, shown) -> object:
    """Check and normalise one attribute value, logging a problem when it has the wrong shape."""
    if kind == "text" and not isinstance(value, str):
        problem(attr, f"属性 '{attr}' 应为文字", f"'{attr}' must be text")
    elif kind == "flag" and not isinstance(value, bool):
        problem(attr, f"属性 '{attr}' 应为 true 或 false", f"'{attr}' must be true or false")
    elif kind == "number" and not (_is_number(value) and math.isfinite(value)):
        # PyYAML reads 1e8 (no dot) as a string, a classic trap for large amounts.
        problem(attr, f"属性 '{attr}' 应为数字", f"'{attr}' must be a number", "请直接写数字，如 100000000")
    elif kind == "count" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        problem(attr, f"属性 '{attr}' 应为非负整数", f"'{attr}' must be a whole number ≥ 0")
    elif kind in ("pattern", "condition") and (not isinstance(value, str) or not value.strip()):
        problem(attr, f"属性 '{attr}' 应为非空文字", f"'{attr}' must be non-empty text")
    elif kind == "pattern":
        try:
            re.compile(value)
        except re.error as exc:
            problem(attr, f"pattern 正则表达式无效：{exc}", f"Invalid regular expression: {exc}")
    elif kind == "condition":
        try:
            compile(value, "<visible_if>", "eval")
        except SyntaxError as exc:
            problem(attr, f"visible_if 表达式有语法错误：{exc.msg}", f"visible_if is not a valid expression: {exc.msg}")
    elif kind == "extensions":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip(". ") for v in value):
            problem(attr, "accept 应为文件扩展名列表，如 [pdf, jpg]", "accept must be a list of file extensions")
        else:
            return tuple(v.strip(". ").lower() for v in value)
    elif kind == "options":
        return _options(value, path, log, shown)
    elif kind == "columns":
        return parse_fields(value, path, log, table=shown)
    return value


def _options(raw: object, path: tuple, log: ProblemLog, shown) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not raw:
        log.add(path, "options 应为非空列表", "options must be a non-empty list", field=shown)
        return ()
    options, seen = [], set()
    for index, item in enumerate(raw):
        here = path + (index,)
        value, label, label_en = (item.get("value"), item.get("label"), item.get("label_en", "")) \
            if isinstance(item, dict) else (item, str(item), "")
        for extra in sorted(map(str, item)) if isinstance(item, dict) else ():
            if extra not in ("value", "label", "label_en"):
                log.add(here + (extra,), f"未知的选项属性 '{extra}'", f"Unknown option attribute '{extra}'",
                        field=shown, hint=did_you_mean(extra, ("value", "label", "label_en")))
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            log.add(here, "选项值应为文字或整数", "An option value must be text or a whole number", field=shown,
                    hint="YAML 会把 yes/no/on/off 读成布尔值，请加引号" if isinstance(value, bool) else None)
        elif value in seen:
            log.add(here, f"选项 '{value}' 重复", f"Duplicate option '{value}'", field=shown)
        elif not isinstance(label, (str, type(None))) or not isinstance(label_en, str):
            log.add(here, "选项的 label 应为文字", "An option label must be text", field=shown)
        else:
            seen.add(value)
            options.append(Option(value, label or str(value), label_en))
    return tuple(options)


def _with_default(field: FormField, raw: object, problem) -> FormField | None:
    value = coerce_value(field, raw)
    if value is None:
        return field
    errors = list(Draft202012Validator(field_schema(field), format_checker=FORMATS).iter_errors(value))
    if not errors:
        return dataclasses.replace(field, default=tuple(value) if isinstance(value, list) else value)
    outside = next((e for e in errors if field.type in CHOICE and e.validator in ("enum", "type")), None)
    if outside is not None:
        problem("default", f"默认值 '{outside.instance}' 不在选项中", f"Default '{outside.instance}' is not an option")
    else:
        message, message_en = describe_error(field, errors[0], item=bool(errors[0].absolute_path))
        problem("default", f"默认值无效：{message}", f"Invalid default: {message_en}")
    return None


_TRUE, _FALSE = {"true", "on", "1", "yes", "是"}, {"false", "off", "0", "no", "否"}
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def coerce_value(field: FormField, value: object) -> object:
    """Convert a submitted value to the field's type where nothing is lost; empty becomes None.

    A value that cannot be converted is returned unchanged so the schema check reports it.
    """
    if isinstance(value, str):
        # Stripping is what users expect of an input box; a textarea's text is kept as typed.
        value = value if field.type is T.TEXTAREA else value.strip()
        if not value.strip():
            return None
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return None
    if field.type in NUMERIC:
        return _number(value, integer=field.type is T.INTEGER)
    if field.type is T.BOOLEAN and isinstance(value, str):
        return True if value.lower() in _TRUE else False if value.lower() in _FALSE else value
    if field.type is T.DATE and isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if field.type is T.DATETIME and isinstance(value, (str, datetime)):
        try:
            return (value if isinstance(value, datetime) else datetime.fromisoformat(value)).isoformat()
        except ValueError:
            return value
    if field.type is T.SELECT:
        return _choice(field, value)
    if field.type in (T.MULTISELECT, T.FILE) and isinstance(value, (str, list, tuple)):
        items = [value] if isinstance(value, str) else [v.strip() if isinstance(v, str) else v for v in value]
        return [_choice(field, v) for v in items] if field.type is T.MULTISELECT else items
    return value


def _number(value: object, *, integer: bool) -> object:
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value)  # full-width digits typed with a Chinese IME
        if not _DECIMAL.fullmatch(text):
            return value
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # NaN would slip past minimum/maximum
        if integer and value.is_integer():
            return int(value)
    return value


def _choice(field: FormField, value: object) -> object:
    # HTML forms send every value as text; match it to an integer option value.
    if isinstance(value, str):
        return next((o.value for o in field.options if not isinstance(o.value, str) and str(o.value) == value), value)
    return value


FORMATS = FormatChecker(formats=())


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE.fullmatch(value) and date.fromisoformat(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or (
        bool(re.match(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", value)) and datetime.fromisoformat(value).tzinfo is not None)


Choices = Callable[[FormField], "list | None"]
# What str.strip() removes, spelled out: \\s differs between Python and ECMA-262 regexes (which a
# schema-driven client may use), e.g. on U+001C and U+FEFF.
WHITESPACE = "\\t\\n\\u000b\\u000c\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NONBLANK = f"[^{WHITESPACE}]"  # text counts as filled in only with a character that is not white space
_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
NO_NUL = "^[^\\u0000]*$"


def field_schema(field: FormField, choices: Choices | None = None, *, published: bool = False) -> dict:
    """Return the JSON Schema (draft 2020-12) of one field's value, with x- keys for the renderer.

    ``choices(field)`` gives the values a person, org or file field may take (usernames, org codes,
    attachment ids), or None where any is allowed. ``published`` adds what the engine does to a
    value before checking it (stripping text), so a client checking raw input against the schema
    gets the engine's answer.
    """
    schema: dict = {"title": field.label, "x-type": str(field.type)}
    string = {"type": "string"}
    kind = field.type
    if kind in (T.TEXT, T.TEXTAREA, T.PERSON, T.ORG):
        schema |= string
    elif kind in NUMERIC:
        schema["type"] = str(kind)
    elif kind is T.BOOLEAN:
        schema["type"] = "boolean"
    elif kind in (T.DATE, T.DATETIME):
        schema |= string | {"format": "date" if kind is T.DATE else "date-time"}
    elif kind is T.SELECT:
        schema |= _choice_schema(field)
    elif kind is T.MULTISELECT:
        schema |= {"type": "array", "items": _choice_schema(field), "uniqueItems": True}
    elif kind is T.FILE:
        schema |= {"type": "array", "items": string | {"minLength": 1}, "uniqueItems": True}
    elif kind is T.TABLE:
        row = {"type": "object", "properties": {c.name: field_schema(c, choices, published=published)
                                                for c in field.columns},
               "required": [c.name for c in field.columns if c.required], "additionalProperties": False}
        schema |= {"type": "array", "items": row}
    if any(o.label != str(o.value) or o.label_en for o in field.options):
        schema["x-options"] = [o.as_dict() for o in field.options]
    keywords = {"help": "description", "min": "minimum", "max": "maximum", "min_length": "minLength",
                "max_length": "maxLength", "pattern": "pattern", "min_rows": "minItems", "max_rows": "maxItems",
                "max_files": "maxItems", "readonly": "readOnly", "label_en": "x-label-en",
                "placeholder": "x-placeholder", "pattern_message": "x-pattern-message", "sensitive": "x-sensitive",
                "role": "x-role", "kind": "x-kind", "visible_if": "x-visible-if", "unit": "x-unit",
                "unit_from": "x-unit-from", "within": "x-within"}
    for attr, key in keywords.items():
        value = getattr(field, attr)
        if not (value is None or value is False or value == ""):
            schema[key] = value
    allowed = choices(field) if choices is not None and kind in (T.PERSON, T.ORG, T.FILE) else None
    if allowed is not None and kind is T.FILE:
        # Only attachments of this case: none yet (a start) means no id can be given.
        schema["items"] = schema["items"] | {"enum": list(allowed)}
    elif allowed is not None:
        schema["enum"] = list(allowed)
    if published:
        rules = _published_rules(field)
        if rules:
            schema["allOf"] = rules
    if field.accept:
        schema["x-accept"] = list(field.accept)
    if field.default is not None:
        schema["default"] = list(field.default) if isinstance(field.default, tuple) else field.default
    return schema


def _published_rules(field: FormField) -> list[dict]:
    """What the engine checks after normalising a value, stated on the raw value."""
    rules = [{"pattern": NO_NUL}] if field.type in TEXTUAL else []  # the API refuses NUL in any request
    if field.type is T.TEXT and field.min_length:
        # Text is stripped before its length is counted.
        n = field.min_length
        rules.append({"pattern": NONBLANK if n == 1 else f"{NONBLANK}[\\s\\S]{{{n - 2},}}{NONBLANK}"})
    if field.type is T.DATE:
        rules.append({"pattern": _DATE_PATTERN})
    if field.required and not field.visible_if:  # a conditional field's rule goes with its condition
        rules += [nonblank] if (nonblank := nonblank_rule(field)) else []
    return rules


def nonblank_rule(field: FormField) -> dict | None:
    """Return the schema of a value the engine does not treat as left empty."""
    if field.type in TEXTUAL:
        return {"pattern": NONBLANK}
    if field.type in (T.MULTISELECT, T.FILE, T.TABLE):
        return {"minItems": 1}
    return None


def _choice_schema(field: FormField) -> dict:
    values = [o.value for o in field.options]
    kinds = {"string" if isinstance(v, str) else "integer" for v in values}
    return ({"type": kinds.pop()} if len(kinds) == 1 else {}) | {"enum": values}


def field_to_dict(field: FormField) -> dict:
    """Return the field as the mapping it is defined with, leaving out attributes at their default."""
    out = {}
    for spec in dataclasses.fields(FormField):
        value = getattr(field, spec.name)
        if spec.name in ("name", "label", "type") or value != spec.default:
            if spec.name == "options":
                value = [o.as_dict() for o in value]
            elif spec.name == "columns":
                value = [field_to_dict(c) for c in value]
            out[spec.name] = str(value) if spec.name == "type" else list(value) if isinstance(value, tuple) else value
    return out


_TYPE_MESSAGES = {
    "string": ("请输入文字", "Enter text"), "integer": ("请输入整数", "Enter a whole number"),
    "number": ("请输入数字", "Enter a number"), "boolean": ("请选择是或否", "Choose yes or no"),
}
_COUNTED = {T.TABLE: ("填写 {} 行", "{} rows"), T.FILE: ("上传 {} 个文件", "{} files"),
            T.MULTISELECT: ("选择 {} 项", "{} choices")}


def describe_error(field: FormField, error: ValidationError, *, item: bool = False) -> tuple[str, str]:
    """Return the Chinese and English message for one jsonschema error about ``field`` (or one of its items)."""
    keyword, limit = error.validator, error.validator_value
    if keyword == "required":
        return "此项为必填项", "This field is required"
    if field.type in CHOICE and keyword in ("enum", "type"):
        return "请从选项中选择", "Choose one of the options"
    if item and field.type is T.FILE:
        return ("附件不存在或不属于本案件", "Unknown attachment for this case") if keyword == "enum" \
            else ("附件编号无效", "Invalid attachment id")
    if keyword == "enum" and field.type is T.PERSON:
        return "请从可选人员中选择（该用户不存在、已停用或不具备所需角色）", "Choose one of the listed people"
    if keyword == "enum" and field.type is T.ORG:
        return "请从可选组织中选择（该组织不存在或类型不符）", "Choose one of the listed organisations"
    if keyword == "type" and not item and limit in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[limit]
    if keyword in ("minimum", "maximum"):
        shown = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return (f"不能小于 {shown}", f"Must be at least {shown}") if keyword == "minimum" \
            else (f"不能大于 {shown}", f"Must be at most {shown}")
    if keyword in ("minLength", "maxLength"):
        return (f"至少 {limit} 个字", f"At least {limit} characters") if keyword == "minLength" \
            else (f"最多 {limit} 个字", f"At most {limit} characters")
    if keyword == "pattern":
        return field.pattern_message or "格式不正确", "Invalid format"
    if keyword == "format" and limit == "date":
        if isinstance(error.instance, str) and _DATE.fullmatch(error.instance):
            return "日期不存在", "This date does not exist"
        return "日期格式应为 YYYY-MM-DD", "Use the date format YYYY-MM-DD"
    if keyword == "format":
        return "时间格式应为 YYYY-MM-DDTHH:MM:SS+08:00（须带时区）", "Use ISO 8601 with an offset, e.g. 2024-05-01T09:30:00+08:00"
    if keyword in ("minItems", "maxItems") and field.type in _COUNTED:
        zh, en = (text.format(limit) for text in _COUNTED[field.type])
        return (f"至少{zh}", f"At least {en}") if keyword == "minItems" else (f"最多{zh}", f"At most {en}")
    if keyword == "uniqueItems":
        return "有重复的项", "Contains duplicates"
    return "格式不正确", "Invalid value"
