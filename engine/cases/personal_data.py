"""Personal data in a case: which fields hold it, who may read it in full, and masking it for everyone else."""
from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from ..definitions.deployment import field_catalogue
from ..definitions.form_fields import FormField
from ..org.orgs import SYSTEM, Actor
from ..store.models import HumanTask, Instance, ProcessDefinition, TaskActor

_PERSONAL_HINTS = ("id_number", "id_card", "idcard", "phone", "mobile", "telephone")
# Kept per stored definition, keyed like the spec cache: a stored definition never changes.
_SENSITIVE: dict[tuple[int, str], frozenset[str]] = {}


def mask(value: object) -> str:
    """Mask personal data for lists: keep the first 3 and last 4 characters of a long value."""
    text = "" if value is None else str(value)
    if len(text) <= 4:
        return "*" * len(text)
    if len(text) <= 7:
        return text[:1] + "*" * (len(text) - 2) + text[-1:]
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def is_sensitive(f: FormField | None, name: str = "") -> bool:
    """Tell whether a field holds personal data: declared ``sensitive``, or named like an ID or phone number."""
    if f is not None and f.sensitive:
        return True
    return any(h in name.lower() for h in _PERSONAL_HINTS)


def sensitive_paths(definition: ProcessDefinition) -> frozenset[str]:
    """Return data paths holding personal data, e.g. ``applicant_phone`` or ``parties[*].id_number``."""
    key = (definition.id, definition.content_hash)
    if definition.id is not None and key in _SENSITIVE:
        return _SENSITIVE[key]
    paths = set()
    for f in field_catalogue(definition).values():
        if is_sensitive(f, f.name):
            paths.add(f.name)
        for c in f.columns:
            if is_sensitive(c, c.name):
                paths.add(f"{f.name}[*].{c.name}")
    if definition.id is not None:
        _SENSITIVE[key] = frozenset(paths)
    return frozenset(paths)


def may_see_personal_data(session: Session, *, instance: Instance, actor: Actor) -> bool:
    """Personal data is shown in full to admins, to holders of a role over the case's org, and to its actors."""
    if actor is SYSTEM or actor.is_admin or instance.started_by_id == actor.id:
        return True
    org_path = instance.org.path if instance.org else "/"
    if any(org_path.startswith(p) for _, p in actor.grants):
        return True
    return session.scalar(select(
        or_(exists().where(TaskActor.instance_id == instance.id, TaskActor.user_id == actor.id),
            exists().where(HumanTask.instance_id == instance.id, HumanTask.assignee_id == actor.id)))) or False


def sensitive_values(definition: ProcessDefinition, data: dict) -> set[str]:
    """Return the personal-data values a case holds (ID and phone numbers...), as text."""
    values = set()
    for path in sensitive_paths(definition):
        table, _, column = path.partition("[*].")
        if column:
            values |= {str(r[column]) for r in data.get(table) or [] if isinstance(r, dict) and r.get(column) not in (None, "")}
        elif data.get(path) not in (None, ""):
            values.add(str(data[path]))
    return {v for v in values if len(v) >= 3}


def mask_text(definition: ProcessDefinition, data: dict, text: str) -> str:
    """Mask every personal-data value of the case where it appears in ``text`` (a title, a notice)."""
    for value in sorted(sensitive_values(definition, data or {}), key=len, reverse=True):
        text = text.replace(value, mask(value))
    return text


def masked_title(instance: Instance) -> str:
    """Return the case title as lists show it: personal data masked."""
    return mask_text(instance.definition, instance.data or {}, instance.title or "")


