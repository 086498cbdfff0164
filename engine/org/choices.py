"""The people and orgs a picker offers: a form's person and org fields, the task page's transfer and CC lists, list filters."""
from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from ..store.models import Org, RoleAssignment, User


def person_choices(session: Session, *, role: str | None, org_path: str = "/") -> list[tuple[str, str]]:
    """Return (username, label) of active users for a person picker: holders of ``role`` near ``org_path``.

    Read as columns, not as ``User`` objects: a form's contract asks this at every completion of
    a form with a person field, and a task page for every active user of the county.
    """
    query = (select(User.username, User.name, Org.name.label("org_name")).join(Org, Org.id == User.org_id)
             .where(User.active.is_(True)))
    if role:
        query = query.where(exists().where(and_(
            RoleAssignment.user_id == User.id, RoleAssignment.role == role,
            RoleAssignment.org_id.in_(select(Org.id).where(or_(
                Org.path.startswith(org_path), literal_prefix(org_path)))))))
    return [(username, f"{name}（{org}）") for username, name, org in session.execute(query.order_by(Org.path, User.username))]


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


__all__ = ["person_choices", "literal_prefix", "org_choices", "org_paths"]
