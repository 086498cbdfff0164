"""Tasks and cases as plain data for the API: lists with personal data masked, details in full for those allowed."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import bindparam, literal_column, select, union_all
from sqlalchemy.orm import Session

from .. import clock
from ..definitions.form_contract import task_contract
from ..errors import NotFound
from ..org.orgs import Actor
from ..org.visibility import can_see
from ..signing.models import signers_of
from ..store import audit
from ..store.models import HumanTask, Instance, Org, ProcessDefinition, TaskStatus, User
from .attachments import list_attachments, uploader_names
from .case_file import returnable_steps, task_permissions
from .personal_data import mask, may_see_personal_data, sensitive_paths
from .queries import light_of
from .task_data import task_form_data


# The page's button names, as the API's operation paths call them.
_ACTION_NAMES = {"send_back": "return", "add_signers": "add_signer"}


def visible_instance(session: Session, *, instance_id: int, actor: Actor) -> Instance:
    """Return a case the actor may see; NotFound (never NotAllowed) for any other."""
    instance = session.get(Instance, instance_id)
    if instance is None or not can_see(session, instance=instance, actor=actor):
        raise NotFound(f"案件 {instance_id} 不存在", message_en=f"instance {instance_id} not found")
    return instance


def visible_task(session: Session, *, task_id: str, actor: Actor) -> HumanTask:
    """Return a task of a case the actor may see; NotFound for any other."""
    task = session.get(HumanTask, task_id)
    if task is None or not can_see(session, instance=task.instance, actor=actor):
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    return task


# Built once (an IN list of any length binds as one expanding parameter).
_USERNAMES = select(User.id, User.username).where(User.id.in_(bindparam("ids", expanding=True)))
_ORG_CODES = select(Org.id, Org.code).where(Org.id.in_(bindparam("ids", expanding=True)))
# Both at once, for a response that names people and orgs: one round trip, not two.
_NAMES_AND_CODES = union_all(
    select(literal_column("0").label("org"), User.id, User.username.label("name"))
    .where(User.id.in_(bindparam("user_ids", expanding=True))),
    select(literal_column("1"), Org.id, Org.code).where(Org.id.in_(bindparam("org_ids", expanding=True))))
_USER_MEMO, _ORG_MEMO = "pingan.usernames", "pingan.org_codes"


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Return username by user id for the ids given."""
    return _names(session, _USER_MEMO, _USERNAMES, ids)


def org_codes(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Return org code by org id for the ids given."""
    return _names(session, _ORG_MEMO, _ORG_CODES, ids)


def _names(session: Session, memo_key: str, statement, ids: Iterable[int | None]) -> dict[int, str]:
    # A response names the same people and orgs several times (task, case, open tasks): each is
    # read once per session. Usernames and org codes never change.
    memo = session.info.setdefault(memo_key, {})
    wanted = {i for i in ids if i}
    missing = wanted - memo.keys()
    if missing:
        memo.update(session.connection().execute(statement, {"ids": sorted(missing)}).all())
    return {i: memo[i] for i in wanted if i in memo}


def names_and_codes(session: Session, user_ids: Iterable[int | None],
                    org_ids: Iterable[int | None]) -> tuple[dict[int, str], dict[int, str]]:
    """``user_names`` and ``org_codes`` together, in one statement when both need reading."""
    users, orgs = session.info.setdefault(_USER_MEMO, {}), session.info.setdefault(_ORG_MEMO, {})
    want_users, want_orgs = {i for i in user_ids if i}, {i for i in org_ids if i}
    missing_users, missing_orgs = want_users - users.keys(), want_orgs - orgs.keys()
    if missing_users and missing_orgs:
        for is_org, ident, name in session.connection().execute(
                _NAMES_AND_CODES, {"user_ids": sorted(missing_users), "org_ids": sorted(missing_orgs)}):
            (orgs if is_org else users)[ident] = name
    return user_names(session, want_users), org_codes(session, want_orgs)


class _Masker:
    """Masks personal values in list rows; sensitive paths are worked out once per definition."""

    def __init__(self):
        self._paths: dict[int, set[str]] = {}

    def paths(self, definition: ProcessDefinition) -> set[str]:
        if definition.id not in self._paths:
            self._paths[definition.id] = sensitive_paths(definition)
        return self._paths[definition.id]

    def data(self, definition: ProcessDefinition, data: dict) -> dict:
        return mask_data(self.paths(definition), data)

    def text(self, definition: ProcessDefinition, data: dict, text: str) -> str:
        for value in sorted(_sensitive_values(self.paths(definition), data), key=len, reverse=True):
            text = text.replace(value, mask(value))
        return text


def mask_data(paths: set[str], data: dict) -> dict:
    """Return a copy of case data with the values at ``paths`` (``name`` or ``table[*].column``) masked."""
    out = dict(data or {})
    for path in paths:
        name, _, column = path.partition("[*].")
        value = out.get(name)
        if column and isinstance(value, list):
            out[name] = [{k: (mask(v) if k == column and v not in (None, "") else v) for k, v in row.items()}
                         if isinstance(row, dict) else row for row in value]
        elif not column and value not in (None, ""):
            out[name] = mask(value)
    return out


def _sensitive_values(paths: set[str], data: dict) -> set[str]:
    values = set()
    for path in paths:
        name, _, column = path.partition("[*].")
        value = (data or {}).get(name)
        if column and isinstance(value, list):
            values |= {str(row.get(column)) for row in value if isinstance(row, dict) and row.get(column)}
        elif not column and value not in (None, ""):
            values.add(str(value))
    return {v for v in values if len(v) >= 2}


def task_summaries(session: Session, tasks: list[HumanTask], *, now: datetime | None = None,
                   masker: _Masker | None = None) -> list[dict[str, Any]]:
    """Return tasks as list rows: the issue's fields, plus the case's key and (masked) title."""
    now = now or clock.now()
    masker = masker or _Masker()
    users, orgs = names_and_codes(session, [t.assignee_id for t in tasks] + [t.owner_id for t in tasks]
                                  + [t.completed_by_id for t in tasks], [t.candidate_org_id for t in tasks])
    out = []
    for t in tasks:
        instance = t.instance
        out.append({
            "id": t.id, "instance_id": t.instance_id, "element_id": t.element_id, "title": t.title,
            "candidate_role": t.candidate_role, "candidate_org": orgs.get(t.candidate_org_id),
            "assignee": users.get(t.assignee_id), "owner": users.get(t.owner_id), "status": str(t.status),
            "due_at": t.due_at, "light": str(light_of(t, now)) if t.status == TaskStatus.OPEN else None,
            "process": t.process_key, "business_key": instance.business_key,
            "case_title": masker.text(instance.definition, instance.data, instance.title or ""),
            "created_at": t.created_at, "completed_at": t.completed_at, "completed_by": users.get(t.completed_by_id),
        })
    return out


def case_summaries(session: Session, instances: list[Instance], *, masker: _Masker | None = None) -> list[dict[str, Any]]:
    """Return cases as list rows with personal data masked in their titles."""
    masker = masker or _Masker()
    users, orgs = names_and_codes(session, [i.started_by_id for i in instances], [i.org_id for i in instances])
    return [{
        "id": i.id, "process": i.process_key, "version": i.definition.version, "business_key": i.business_key,
        "title": masker.text(i.definition, i.data, i.title or ""), "status": str(i.status),
        "org": orgs.get(i.org_id), "started_at": i.started_at, "started_by": users.get(i.started_by_id),
        "ended_at": i.ended_at,
    } for i in instances]


def open_tasks(session: Session, *, instance_id: int) -> list[HumanTask]:
    """Return the open tasks of a case, oldest first."""
    return list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                        HumanTask.status == TaskStatus.OPEN)
                                .order_by(HumanTask.created_at, HumanTask.element_id)))


def case_detail(session: Session, *, instance: Instance, actor: Actor) -> dict[str, Any]:
    """Return a case with data, open tasks, history and attachments; personal data in full for those allowed."""
    full = may_see_personal_data(session, instance=instance, actor=actor)
    masker = _Masker()
    summary = case_summaries(session, [instance], masker=masker)[0]
    if full:
        summary["title"] = instance.title or ""
    history = []
    for e in audit.history(session, instance_id=instance.id):
        payload = dict(e.payload or {})
        if not full and isinstance(payload.get("data"), dict):
            payload["data"] = masker.data(instance.definition, payload["data"])
        history.append({"seq": e.seq, "kind": e.kind, "at": e.at, "actor": e.actor, "task_id": e.task_id,
                        "element_id": e.element_id, "opinion": e.opinion, "payload": payload})
    files = list_attachments(session, instance_id=instance.id)
    return summary | {
        "data": dict(instance.data or {}) if full else masker.data(instance.definition, instance.data),
        "open_tasks": task_summaries(session, open_tasks(session, instance_id=instance.id), masker=masker),
        "history": history, "end_event": instance.end_event, "error": instance.error,
        "attachments": attachment_rows(session, files),
    }


def task_detail(session: Session, *, task: HumanTask, actor: Actor) -> dict[str, Any]:
    """Return a task with its form as JSON Schema, the case data, the draft and what the actor may do."""
    instance = task.instance
    full = may_see_personal_data(session, instance=instance, actor=actor)
    masker = _Masker()
    row = task_summaries(session, [task], masker=masker)[0]
    if full:
        row["case_title"] = instance.title or ""
    definition = instance.definition
    schema = task_contract(session, task=task, instance=instance, definition=definition).schema() \
        if task.form_key in (definition.forms or {}) else None
    permissions = task_permissions(session, task=task, actor=actor)
    actions = [_ACTION_NAMES.get(name, name) for name, allowed in vars(permissions).items()
               if allowed and name not in ("view_form", "removable_signers")]
    if permissions.removable_signers:
        actions.append("remove_signer")
    removable = {s.id for s in permissions.removable_signers}
    data = task_form_data(session, task=task)  # an instance of a multi-instance step has data of its own
    return row | {
        "form_schema": schema,
        "data": data if full else masker.data(definition, data),
        "draft": task.draft if permissions.view_form else None,
        "actions": actions,
        "returnable_steps": [{"element_id": e, "title": t} for e, t in returnable_steps(session, task=task)]
        if permissions.send_back else [],
        "signers": [{"id": s.id, "username": s.user.username, "name": s.user.name, "position": s.position,
                     "status": s.status, "decision": s.decision, "opinion": s.opinion, "signed_at": s.done_at,
                     "removable": s.id in removable} for s in signers_of(session, task.id)],
    }


def attachment_rows(session: Session, rows: list) -> list[dict[str, Any]]:
    """Return attachments as plain data."""
    names = uploader_names(session, rows)
    return [{"id": a.id, "instance_id": a.instance_id, "filename": a.filename, "content_type": a.content_type,
             "size": a.size, "sha256": a.sha256, "task_id": a.task_id, "field": a.field,
             "uploaded_by": names.get(a.uploaded_by_id), "uploaded_at": a.uploaded_at} for a in rows]
