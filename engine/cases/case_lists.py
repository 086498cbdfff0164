"""Helpers for lists: searchable case fields, their values, who holds what (the pickers' people and orgs are ``org.choices``)."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..definitions.deployment import field_catalogue
from ..definitions.form_fields import FormField
from ..store.models import CaseField, HumanTask, ProcessDefinition, TaskStatus, User
from .personal_data import is_sensitive, sensitive_paths


def search_fields(definitions: list[ProcessDefinition]) -> list[tuple[str, str, bool]]:
    """Return (name, label, sensitive) of the searchable case fields the given processes declare."""
    out: dict[str, tuple[str, str, bool]] = {}
    for d in definitions:
        catalogue, sensitive = field_catalogue(d), sensitive_paths(d)
        for spec in (d.config or {}).get("search_fields") or []:
            name, path = spec["name"], spec.get("path", spec["name"])
            label = spec.get("label") or _label_for_path(catalogue, path) or name
            out.setdefault(name, (name, label, path in sensitive or is_sensitive(None, name)))
    return list(out.values())


def _label_for_path(catalogue: dict[str, FormField], path: str) -> str | None:
    f = _field_for_path(catalogue, path)
    head = catalogue.get(path.partition("[*].")[0].split(".")[0])
    if f is None or head is None:
        return None
    return f"{head.label}·{f.label}" if f is not head else f.label


def _field_for_path(catalogue: dict[str, FormField], path: str) -> FormField | None:
    head, _, rest = path.partition("[*].")
    f = catalogue.get(head.split(".")[0])
    if f is None or not rest:
        return f
    return next((c for c in f.columns if c.name == rest), None)


def search_field_specs(definitions: list[ProcessDefinition]) -> dict[str, FormField | None]:
    """Return the form field behind each searchable case field (to show option labels and org names)."""
    out: dict[str, FormField | None] = {}
    for d in definitions:
        catalogue = field_catalogue(d)
        for spec in (d.config or {}).get("search_fields") or []:
            out.setdefault(spec["name"], _field_for_path(catalogue, spec.get("path", spec["name"])))
    return out


def projected_values(session: Session, *, instance_ids: list[int]) -> dict[int, dict[str, list[str]]]:
    """Return the searchable values of each case: {instance id: {field: [values]}}."""
    out: dict[int, dict[str, list[str]]] = {i: {} for i in instance_ids}
    if instance_ids:
        for iid, name, value in session.execute(select(CaseField.instance_id, CaseField.name, CaseField.value)
                                                .where(CaseField.instance_id.in_(instance_ids))
                                                .order_by(CaseField.id)):
            out[iid].setdefault(name, []).append(value)
    return out


def user_names(session: Session, *, user_ids: set[int | None]) -> dict[int, str]:
    """Return id → display name for the given users."""
    wanted = [i for i in user_ids if i]
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


def tasks_held_by(session: Session, *, user_id: int) -> list[HumanTask]:
    """Return the open tasks a user holds as assignee or as the owner of a delegation."""
    return list(session.scalars(select(HumanTask).where(
        HumanTask.status == TaskStatus.OPEN, or_(HumanTask.assignee_id == user_id, HumanTask.owner_id == user_id))
        .order_by(HumanTask.instance_id, HumanTask.created_at)))
