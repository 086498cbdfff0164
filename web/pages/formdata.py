"""Between an HTML form and a task form: field views for rendering, request parsing, errors by field.

Inputs are named ``f.<field>`` (table cells ``f.<field>.<row>.<column>``) so they never clash with
the page's own inputs (csrf_token, opinion, action).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from engine.org.choices import org_choices, org_paths, person_choices
from engine.definitions.form_fields import FieldType, FormField
from engine.definitions.forms import Form
from engine.errors import FormInvalid

PREFIX = "f."
_CELL = re.compile(r"^f\.([a-z_][a-z0-9_]*)\.(\d+)\.([a-z_][a-z0-9_]*)$")


@dataclass
class FieldView:
    """One field as the template draws it: definition, current value, errors, picker choices."""

    f: FormField
    value: object
    errors: list[str] = field(default_factory=list)
    choices: list[tuple[str, str]] = field(default_factory=list)
    row_errors: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    attachments: list = field(default_factory=list)
    uploads: bool = True
    column_choices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    unit: str = ""
    paths: dict[str, str] = field(default_factory=dict)
    staged: list[tuple[str, str]] = field(default_factory=list)  # files kept from a refused start form
    inside: list | None = None  # for a field ``within`` another: the choices inside the org chosen there

    @property
    def name(self) -> str:
        return PREFIX + self.f.name


def field_views(session, form: Form, values: dict, errors: dict[str, list[str]], *, org_path: str = "/",
                attachment_info=None, staged: dict[str, list[tuple[str, str]]] | None = None) -> list[FieldView]:
    """Build the views of a form's visible fields (hidden ones are never drawn).

    Without ``attachment_info`` (a start form: no case to attach files to yet) file fields say so.
    """
    out, paths = [], {}
    if any(f.type is FieldType.ORG for f in form.fields):
        paths = org_paths(session)  # orgs carry their place in the tree, so a dependent picker can follow
    for f in form.fields:
        if f.hidden:
            continue
        view = FieldView(f, values.get(f.name), errors.get(f.name, []), uploads=attachment_info is not None,
                         unit=f.unit or str(values.get(f.unit_from) or "") if f.unit or f.unit_from else "")
        if f.type is FieldType.PERSON:
            view.choices = person_choices(session, role=f.role, org_path=org_path)
        elif f.type is FieldType.ORG:
            view.choices, view.paths = org_choices(session, kind=f.kind), paths
            outer = values.get(f.within) if f.within else None
            if outer and paths.get(str(outer)):
                view.inside = [c for c, _ in view.choices if paths.get(c, "").startswith(paths[str(outer)])]
        elif f.type is FieldType.TABLE:
            view.row_errors = {(int(k.split("[")[1].split("]")[0]), k.rsplit(".", 1)[-1]): v
                               for k, v in errors.items() if k.startswith(f.name + "[") and "." in k}
            if view.value in (None, ""):
                view.value = [{} for _ in range(max(f.min_rows or 1, 1) - 1)]
            for c in f.columns:
                if c.type is FieldType.PERSON:
                    view.column_choices[c.name] = person_choices(session, role=c.role, org_path=org_path)
                elif c.type is FieldType.ORG:
                    view.column_choices[c.name] = org_choices(session, kind=c.kind)
        elif f.type is FieldType.FILE and staged and f.name in staged:
            view.staged = staged[f.name]
        elif f.type is FieldType.FILE and attachment_info is not None:
            ids = view.value if isinstance(view.value, list) else ([view.value] if view.value else [])
            view.attachments = attachment_info(ids)
        out.append(view)
    return out


def initial_values(form: Form, case_data: dict, draft: dict | None) -> dict:
    """Values a fresh form shows: the draft, else case data, else each field's default."""
    values = {}
    for f in form.fields:
        if draft and f.name in draft and f.editable:
            values[f.name] = draft[f.name]
        elif f.name in case_data:
            values[f.name] = case_data[f.name]
        elif f.default is not None:
            values[f.name] = f.default
    return values


def parse_submission(form: Form, posted: MultiDict, *, timezone: str) -> dict:
    """Turn posted inputs into the data the engine validates: one value for every editable field."""
    data = {}
    cells: dict[str, dict[int, dict[str, str]]] = {}
    for key in posted:
        m = _CELL.match(key)
        if m:
            cells.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = posted.get(key, "")
    for f in form.editable_fields():
        name = PREFIX + f.name
        if f.type is FieldType.MULTISELECT:
            data[f.name] = [v for v in posted.getlist(name) if v != ""]
        elif f.type is FieldType.FILE:
            data[f.name] = list(dict.fromkeys(v for v in posted.getlist(name) if v))
        elif f.type is FieldType.BOOLEAN:
            # An unchecked box sends only its hidden "false"; a checked one sends "false" then "true".
            given = posted.getlist(name)
            data[f.name] = given[-1] if given else ""
        elif f.type is FieldType.TABLE:
            rows = [cells.get(f.name, {})[i] for i in sorted(cells.get(f.name, {}))]
            data[f.name] = [_table_row(f, r, timezone) for r in rows if any((v or "").strip() for v in r.values())]
        elif f.type is FieldType.DATETIME:
            data[f.name] = with_zone(posted.get(name, ""), timezone)
        elif f.type is FieldType.TEXTAREA:
            data[f.name] = posted.get(name, "").replace("\r\n", "\n")  # browsers send CRLF from textareas
        else:
            data[f.name] = posted.get(name, "")
    return data


def _table_row(f: FormField, row: dict[str, str], timezone: str) -> dict:
    out = {}
    for c in f.columns:
        value = row.get(c.name, "")
        out[c.name] = with_zone(value, timezone) if c.type is FieldType.DATETIME else value
    return out


def with_zone(value: str, timezone: str) -> str:
    """Give a browser's ``datetime-local`` value (no zone) the deployment's UTC offset."""
    value = (value or "").strip()
    if not value or value.endswith("Z") or re.search(r"[+-]\d{2}:?\d{2}$", value):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # the engine reports the format error
    return moment.replace(tzinfo=ZoneInfo(timezone)).isoformat()


def for_input(value: object, kind: str) -> str:
    """Render a stored value back into an input's value attribute."""
    if value is None:
        return ""
    if kind == "datetime" and isinstance(value, str) and len(value) >= 16:
        return value[:16]  # datetime-local wants YYYY-MM-DDTHH:MM
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def errors_by_field(exc: FormInvalid) -> dict[str, list[str]]:
    """Group a FormInvalid's problems by field path (``name`` or ``table[1].column``).

    A problem with one item of a list (``photos[0]``, ``tags[1]``) is shown on its field.
    """
    out: dict[str, list[str]] = {}
    for problem in exc.details:
        path = problem.field or ""
        key = path.split("[", 1)[0] if "[" in path and "." not in path else path
        if problem.message not in out.get(key, []):
            out.setdefault(key, []).append(problem.message)
    return out


def visible_context(form: Form, case_data: dict) -> dict:
    """Case values the browser needs to evaluate visible_if: names used there that the form does not edit."""
    import ast

    editable = {f.name for f in form.editable_fields()}
    names: set[str] = set()
    for f in form.fields:
        if f.visible_if:
            try:
                names |= {n.id for n in ast.walk(ast.parse(f.visible_if, mode="eval")) if isinstance(n, ast.Name)}
            except SyntaxError:
                continue
    return {n: case_data.get(n) for n in sorted(names - editable - {"True", "False", "None"})
            if isinstance(case_data.get(n), (str, int, float, bool, list, type(None)))}
