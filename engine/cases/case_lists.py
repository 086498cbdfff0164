"""Helpers for lists and pickers: people and orgs to choose from, searchable case fields, who holds what."""
from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from ..definitions.deployment import field_catalogue
from ..definitions.form_fields import FormField
from ..store.models import CaseField, HumanTask, Org, ProcessDefinition, RoleAssignment, TaskStatus, User
from .personal_data import is_sensitive, sensitive_paths


def person_choices(session: Session, *, role: str | None, org_path: str = "/") -> list[tuple[str, str]]:
    """Return (username, label) of active users for a person picker: holders of ``role`` near ``org_path``."""
    query = select(User, Org.name).join(Org, Org.id == User.org_id).where(User.active.is_(True))
    if role:
        query = query.where(exists().where(and_(
            RoleAssignment.user_id == User.id, RoleAssignment.role == role,
            RoleAssignment.org_id.in_(select(Org.id).where(or_(
                Org.path.startswith(org_path), literal_prefix(org_path)))))))
    return [(u.username, f"{u.name}（{org}）") for u, org in session.execute(query.order_by(Org.path, User.username))]


def literal_prefix(org_path: str):
    """A condition on ``Org``: the org is an ancestor of (or is) the org at ``org_path``."""
    ancestors = ["/" + "/".join(org_path.strip("/").split("/")[:i]) + "/" for i in range(1, org_path.count("/"))]
    return Org.path.in_(ancestors) if ancestors else Org.path.is_(None)


def org_choices(session: Session, *, kind: str | None) -> list[tuple[str, str]]:
    """Return (code, name) of orgs for an org picker, optionally of one kind, in tree order."""
    query = select(Org.code, Org.name).order_by(Org.path)
    if kind:
        query = query.where(Org.kind == kind)
    return [tuple(r) for r in session.execute(query)]


def org_paths(session: Session) -> dict[str, str]:
    """Return every org's materialised path by its code (what "inside the chosen org" is decided on)."""
    return dict(session.execute(select(Org.code, Org.path)).all())


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
