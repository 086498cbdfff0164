"""What submissions may set, checked where a process is validated: message payloads and reserved names.

A message's payload is declared like a form (``messages: {name: {fields: [...]}}`` in
``processes/<key>.yaml``). No field a submission can set (start form, task forms, message
payloads) may be named like a process parameter or a script helper: data cannot shadow them.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from ..errors import DefinitionInvalid, Problem
from .forms import Form, parse_form
from .scripting import HELPER_NAMES

__all__ = ["check_declared_names", "message_form", "reserved_names"]


def message_form(definition, name: str) -> Form:
    """Return the form a process declares for a message's payload (no fields when it declares none)."""
    return _message_form(definition.id, definition.content_hash, name, _message_fields(definition.config, name))


def _message_fields(config: Mapping | None, name: str) -> tuple:
    rule = ((config or {}).get("messages") or {}).get(name)
    fields = rule.get("fields") if isinstance(rule, dict) else None
    return _frozen(fields or [])


@lru_cache(maxsize=256)
def _message_form(definition_id, content_hash, name: str, fields: tuple) -> Form:
    return parse_form({"title": name, "fields": _thawed(fields)}, key=f"message/{name}")


def _frozen(value):
    if isinstance(value, dict):
        return ("__dict__", tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed(value):
    if isinstance(value, tuple) and value[:1] == ("__dict__",):
        return {k: _thawed(v) for k, v in value[1]}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


def reserved_names(config: Mapping | None) -> dict[str, str]:
    """Return names submitted data may not use, each with why: parameters and script helpers."""
    names = {name: "sandbox" for name in HELPER_NAMES}
    variables = (config or {}).get("variables")
    names |= {name: "parameter" for name in (variables if isinstance(variables, dict) else {})}
    return names


def check_declared_names(*, process_key: str, forms: Mapping[str, Form], config: Mapping | None,
                         file: str | None = None) -> list[Problem]:
    """Return problems with what a process lets submissions set: fields named like parameters or helpers,
    and message payload declarations that are not valid field lists."""
    problems = []
    reserved = reserved_names(config)
    declared: list[tuple[str, str]] = [(key, f.name) for key, form in forms.items()
                                       if key.startswith(f"{process_key}/") for f in form.editable_fields()]
    for name, rule in ((config or {}).get("messages") or {}).items():
        if not isinstance(rule, dict) or "fields" not in rule:
            continue
        try:
            form = parse_form({"title": str(name), "fields": rule["fields"]}, key=f"message/{name}")
        except DefinitionInvalid as exc:
            problems += [Problem(f"消息“{name}”的 fields 有误：{p.message}", f"message '{name}' fields: {p.message_en}",
                                 file=file, field=p.field) for p in exc.details]
            continue
        declared += [(f"message/{name}", f.name) for f in form.editable_fields()]
    for where, name in declared:
        why = reserved.get(name)
        if why == "parameter":
            problems.append(Problem(
                f"{where} 的字段 '{name}' 与流程参数同名：提交的数据不能改写流程参数，请换一个字段名",
                f"{where}: field '{name}' has the name of a process parameter; submitted data cannot set parameters",
                file=file, field=name))
        elif why == "sandbox":
            problems.append(Problem(
                f"{where} 的字段 '{name}' 与脚本内置函数同名，脚本将读不到它，请换一个字段名",
                f"{where}: field '{name}' has the name of a script helper; scripts could not read it",
                file=file, field=name))
    return problems
