"""visible_if as JSON Schema: the condition under which a conditional field is shown, for the published schema.

A form's conditions are evaluated by the engine on ``{**case data, **cleaned submission}``. For
the published schema the case data is known (it is the task's case, or the parameters at a
start), so every name a form does not edit is a constant; what is left are comparisons of one
submitted field with constants, which JSON Schema can state. A key left out of a submission takes
the field's default, and the truth of each comparison for that value is computed by the same
evaluator the engine uses, so the schema and the engine cannot disagree on it.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping

from .form_fields import FieldType, FormField, coerce_value

__all__ = ["condition_schema", "condition_names"]

_TEXTUAL = {FieldType.TEXT, FieldType.TEXTAREA}
_ORDER = {ast.Lt: "exclusiveMaximum", ast.LtE: "maximum", ast.Gt: "exclusiveMinimum", ast.GtE: "minimum"}
_MIRROR = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}


class Untranslatable(Exception):
    """The condition compares submitted values in a way JSON Schema cannot state."""


def condition_names(expression: str) -> set[str]:
    """Return the names a condition reads."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {"True", "False", "None"}


def condition_schema(expression: str, *, fields: Mapping[str, FormField], context: Mapping,
                     evaluate) -> dict | bool | None:
    """Return a schema that holds exactly when ``expression`` is true for a submission, or None if none can.

    ``fields`` are the form's editable fields by name (their values come from the submission),
    ``context`` the case data every other name reads, ``evaluate(expression, names)`` the engine's
    own evaluator of visible_if.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        return _Translator(fields, context, evaluate).node(tree.body)
    except (SyntaxError, Untranslatable, ValueError, TypeError):
        return None


class _Translator:
    def __init__(self, fields: Mapping[str, FormField], context: Mapping, evaluate):
        self.fields, self.context, self.evaluate = fields, context, evaluate

    def node(self, node: ast.AST) -> dict | bool:
        match node:
            case ast.BoolOp(op=ast.And(), values=values):
                return _all([self.node(v) for v in values])
            case ast.BoolOp(op=ast.Or(), values=values):
                return _any([self.node(v) for v in values])
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return _not(self.node(operand))
            case ast.Compare(left=left, ops=ops, comparators=rights):
                parts, value = [], left
                for op, right in zip(ops, rights):
                    parts.append(self.compare(value, op, right))
                    value = right
                return _all(parts)
            case _:
                submitted = self.submitted(node)
                if submitted is None:
                    return bool(self.run(node, {}))
                if self.fields[submitted].type in _TEXTUAL:
                    raise Untranslatable(ast.unparse(node))  # blank text is falsy only once stripped
                return self.atom(node, submitted, {"not": {"enum": [False, 0, "", [], None]}})

    def submitted(self, node: ast.AST) -> str | None:
        """Return the name of the submitted field ``node`` reads, None for a constant."""
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & set(self.fields)
        if not names:
            return None
        if not isinstance(node, ast.Name):
            raise Untranslatable(ast.unparse(node))
        return node.id

    def constant(self, node: ast.AST) -> object:
        """Return the value of a part that reads no submitted field: a literal, or a name from the case data."""
        match node:
            case ast.Name(id=name):
                return self.context.get(name)
            case ast.List(elts=items) | ast.Tuple(elts=items) | ast.Set(elts=items):
                return [self.constant(item) for item in items]
        try:
            return ast.literal_eval(node)
        except ValueError as exc:
            raise Untranslatable(ast.unparse(node)) from exc

    def run(self, node: ast.AST, values: dict) -> object:
        """Evaluate ``node`` as the engine would, every name it reads defined (None when unset)."""
        expression = ast.unparse(node)
        names = {n: None for n in condition_names(expression)}
        return self.evaluate(expression, {**names, **self.context, **values})

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> dict | bool:
        node = ast.Compare(left=left, ops=[op], comparators=[right])
        name_left, name_right = self.submitted(left), self.submitted(right)
        if name_left and name_right:
            raise Untranslatable(ast.unparse(node))
        if not name_left and not name_right:
            return bool(self.run(node, {}))
        field_is_left = bool(name_left)
        name = name_left or name_right
        other = self.constant(right if field_is_left else left)
        kind = type(op)
        if self.fields[name].type in _TEXTUAL:
            # Text is stripped and normalised before it is compared; a schema would compare it raw.
            raise Untranslatable(ast.unparse(node))
        if not field_is_left and kind in _MIRROR:
            kind = _MIRROR[kind]
        if kind is ast.Eq:
            values = {"const": other}
        elif kind is ast.NotEq:
            values = {"not": {"const": other}}
        elif kind in _ORDER and isinstance(other, (int, float)) and not isinstance(other, bool):
            values = {"type": "number", _ORDER[kind]: other}
        elif kind in (ast.In, ast.NotIn) and field_is_left and isinstance(other, (list, tuple, set)):
            values = {"enum": list(other)}
            values = values if kind is ast.In else {"not": values}
        elif kind in (ast.In, ast.NotIn) and not field_is_left and isinstance(other, (str, int)):
            values = {"type": "array", "contains": {"const": other}}
            values = values if kind is ast.In else {"not": values}
        else:
            raise Untranslatable(ast.unparse(node))
        return self.atom(node, name, values)

    def atom(self, node: ast.AST, name: str, values: dict) -> dict | bool:
        """Values matching ``values`` when the field is sent; the default's truth when it is left out."""
        field = self.fields[name]
        default = coerce_value(field, list(field.default) if isinstance(field.default, tuple) else field.default)
        when_missing = bool(self.run(node, {name: default}))
        return {"if": {"required": [name]}, "then": {"properties": {name: values}}, "else": when_missing}


def _all(parts: list) -> dict | bool:
    if any(p is False for p in parts):
        return False
    parts = [p for p in parts if p is not True]
    return True if not parts else parts[0] if len(parts) == 1 else {"allOf": parts}


def _any(parts: list) -> dict | bool:
    if any(p is True for p in parts):
        return True
    parts = [p for p in parts if p is not False]
    return False if not parts else parts[0] if len(parts) == 1 else {"anyOf": parts}


def _not(part: dict | bool) -> dict | bool:
    return (not part) if isinstance(part, bool) else {"not": part}
