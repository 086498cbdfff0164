"""The case as staff read it: labelled data with personal data masked, timeline, open tasks, diagram marks."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..context import context_of
from ..definitions.bpmn_layout import element_names, with_layout
from ..definitions.deployment import field_catalogue
from ..definitions.form_fields import FieldType, FormField
from ..errors import NotFound
from ..org.orgs import ROLES, Actor
from ..org.visibility import can_see, may_act
from ..signing import queue as signing_queue
from ..signing.models import pending as signers_pending
from ..store import audit
from ..store.audit import EntryKind
from ..store.models import (
    AuditEntry, EventWait, HumanTask, Instance, InstanceStatus, Org, ProcessDefinition, TaskStatus, User,
)
from .attachments import list_attachments
from .personal_data import is_sensitive, mask, may_see_personal_data
from .queries import Light, light_of

STATUS_LABELS = {
    InstanceStatus.RUNNING: "办理中", InstanceStatus.COMPLETED: "已办结",
    InstanceStatus.CANCELLED: "已撤销", InstanceStatus.ERROR: "出错待处理",
}
# What each kind of history entry says, in the words a county office uses.
ENTRY_LABELS = {
    EntryKind.STARTED: "发起案件", EntryKind.COMPLETED: "办理", EntryKind.CLAIMED: "签收",
    "released": "退回任务池", EntryKind.TRANSFERRED: "转办", EntryKind.DELEGATED: "委派",
    EntryKind.RESOLVED: "委派办理完毕交回", EntryKind.RETURNED: "退回", EntryKind.WITHDRAWN: "撤回",
    EntryKind.CC: "抄送", EntryKind.URGED: "催办", EntryKind.TIMER: "定时触发",
    EntryKind.MESSAGE: "收到外部消息", EntryKind.CANCELLED: "撤销案件", EntryKind.ERROR: "流程出错",
    EntryKind.RETRIED: "管理员重试", EntryKind.FINISHED: "办结", EntryKind.REASSIGNED: "人员调整移交",
    EntryKind.MIGRATED: "迁移到新版本", "draft_saved": "保存草稿",
    EntryKind.SIGNERS_ADDED: "加签", EntryKind.SUBMITTED_FOR_SIGNING: "提交待会签", EntryKind.SIGNED: "会签",
    EntryKind.SIGNER_REMOVED: "减签",
}
@dataclass
class DataItem:
    name: str
    label: str
    kind: str  # a FieldType value, or "other" for data no form declares
    value: Any
    sensitive: bool = False
    columns: list[tuple[str, str, bool]] = field(default_factory=list)  # table: (name, label, sensitive)


def case_data(session: Session, *, instance: Instance, full: bool) -> list[DataItem]:
    """Return the case data in form order with Chinese labels; personal data masked unless ``full``."""
    catalogue = field_catalogue(instance.definition)
    items = []
    data = {k: v for k, v in (instance.data or {}).items() if not k.startswith("_")}
    names = [n for n in catalogue if n in data] + sorted(n for n in data if n not in catalogue)
    for name in names:
        f, value = catalogue.get(name), data[name]
        if f is not None and f.hidden:
            continue
        if value in (None, "", []):
            continue
        kind = f.type.value if f is not None else "other"
        if f is None and isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
            value = _local_text(value, session)
        sensitive = is_sensitive(f, name)
        item = DataItem(name, f.label if f else name, kind, value, sensitive)
        if f is not None and f.type is FieldType.TABLE:
            item.columns = [(c.name, c.label, is_sensitive(c, c.name)) for c in f.columns]
            columns = {c.name: c for c in f.columns}
            item.value = [{k: (mask(v) if not full and v and is_sensitive(columns.get(k), k)
                               else display_value(session, columns.get(k), v))
                           for k, v in row.items()} if isinstance(row, dict) else row for row in value]
        elif sensitive and not full:
            item.value = mask(value)
        else:
            item.value = display_value(session, f, value)
        items.append(item)
    return items


def display_value(session: Session, f: FormField | None, value: Any) -> Any:
    """Return a value as a reader wants it: option labels, 是/否, a person's or org's name."""
    if f is None or value is None:
        return value
    if f.type is FieldType.BOOLEAN:
        return "是" if value else "否"
    if f.type in (FieldType.SELECT, FieldType.MULTISELECT):
        labels = {o.value: o.label for o in f.options}
        return "、".join(str(labels.get(v, v)) for v in value) if isinstance(value, list) else labels.get(value, value)
    if f.type is FieldType.PERSON:
        name = session.scalar(select(User.name).where(User.username == str(value)))
        return f"{name}（{value}）" if name else value
    if f.type is FieldType.ORG:
        return session.scalar(select(Org.name).where(Org.code == str(value))) or value
    if f.type is FieldType.DATETIME:
        return _local_text(value, session)
    return value


def _local_text(value: Any, session: Session) -> Any:
    """Show an ISO moment in the deployment's time zone, to the minute."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(ZoneInfo(context_of(session).settings.timezone)).strftime("%Y-%m-%d %H:%M")


@dataclass
class TimelineEntry:
    seq: int
    at: datetime
    kind: str
    label: str
    actor: str
    step: str | None
    opinion: str | None
    detail: str
    username: str | None = None
    task_id: str | None = None


def timeline(session: Session, *, instance: Instance) -> list[TimelineEntry]:
    """Return the case history, oldest first, each entry labelled in Chinese with the step and opinion."""
    entries = audit.history(session, instance_id=instance.id)
    names = _user_names(session, {e.actor for e in entries} | {u for e in entries for u in _targets(e)})
    steps = step_names(instance.definition)
    out = []
    for e in entries:
        step = (e.payload or {}).get("title") or steps.get(e.element_id or "") or e.element_id
        out.append(TimelineEntry(e.seq, e.at, e.kind, ENTRY_LABELS.get(e.kind, e.kind),
                                 names.get(e.actor or "", e.actor or "系统"), step, e.opinion,
                                 _detail(e, names, steps), e.actor, e.task_id))
    return out


def _targets(e: AuditEntry) -> list[str]:
    to = (e.payload or {}).get("to") or (e.payload or {}).get("signers")
    if isinstance(to, str):
        return [to]
    return [t for t in to if isinstance(t, str)] if isinstance(to, list) else []


def _detail(e: AuditEntry, names: dict[str, str], steps: dict[str, str]) -> str:
    p = e.payload or {}
    if e.kind in (EntryKind.TRANSFERRED, EntryKind.DELEGATED, EntryKind.CC) or (e.kind == EntryKind.REASSIGNED and _targets(e)):
        return "→ " + "、".join(names.get(u, u) for u in _targets(e))
    if e.kind == EntryKind.SIGNERS_ADDED:
        where = "前加签" if p.get("position") == "before" else "后加签"
        return f"{where}：" + "、".join(names.get(u, u) for u in _targets(e))
    if e.kind == EntryKind.SIGNED:
        return "同意" if p.get("agree") else "不同意"
    if e.kind == EntryKind.SIGNER_REMOVED:
        return f"移除 {p.get('name') or p.get('signer', '')}"
    if e.kind == EntryKind.SUBMITTED_FOR_SIGNING:
        return "待 " + "、".join(names.get(u, u) for u in p.get("signers") or []) + " 会签"
    if e.kind == EntryKind.RETURNED:
        return f"退回到“{steps.get(p.get('to_element', ''), p.get('to_element', ''))}”"
    if e.kind == EntryKind.URGED:
        return f"提醒 {len(p.get('to') or [])} 人"
    if e.kind == EntryKind.ERROR:
        return str(p.get("message", ""))
    if e.kind == EntryKind.FINISHED:
        return steps.get(e.element_id or "", "")
    if e.kind == EntryKind.MESSAGE:
        return str(p.get("name", ""))
    return ""


def step_names(definition: ProcessDefinition) -> dict[str, str]:
    """Return id → name of the process's steps and events (what people read for an element id)."""
    meta = (definition.spec or {}).get("meta") or {}
    names = {k: v.get("name") or k for k, v in (meta.get("user_tasks") or {}).items()}
    for file, text in (definition.sources or {}).items():
        if file.endswith(".bpmn") and f'id="{definition.key}"' in text:
            names = element_names(text, process_id=definition.key) | names
    return names


def _user_names(session: Session, usernames: set[str | None]) -> dict[str, str]:
    wanted = [u for u in usernames if u]
    if not wanted:
        return {}
    return dict(session.execute(select(User.username, User.name).where(User.username.in_(wanted))).all())


@dataclass
class OpenTask:
    id: str
    element_id: str
    title: str
    role: str | None
    org: str | None
    assignee: str | None
    owner: str | None
    due_at: datetime | None
    warn_at: datetime | None
    light: Light
    created_at: datetime


def open_tasks(session: Session, *, instance_id: int) -> list[OpenTask]:
    """Return a case's open tasks with who holds them, their deadlines and lights."""
    rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN)
                           .order_by(HumanTask.created_at, HumanTask.element_id)).all()
    ids = {r.assignee_id for r in rows} | {r.owner_id for r in rows}
    users = dict(session.execute(select(User.id, User.name).where(User.id.in_([i for i in ids if i]))).all())
    now = clock.now()
    return [OpenTask(r.id, r.element_id, r.title, ROLES.get(r.candidate_role or "", r.candidate_role),
                     r.candidate_org.name if r.candidate_org else None, users.get(r.assignee_id),
                     users.get(r.owner_id), r.due_at, r.warn_at, light_of(r, now), r.created_at) for r in rows]


def returnable_steps(session: Session, *, task: HumanTask) -> list[tuple[str, str]]:
    """Return (element id, title) of earlier steps a task may be sent back to, most recent first."""
    rows = session.execute(select(HumanTask.element_id, HumanTask.title, HumanTask.completed_at).where(
        HumanTask.instance_id == task.instance_id, HumanTask.status == TaskStatus.COMPLETED,
        HumanTask.element_id != task.element_id).order_by(HumanTask.completed_at.desc())).all()
    seen: dict[str, str] = {}
    for element_id, title, _ in rows:
        seen.setdefault(element_id, title)
    return list(seen.items())


@dataclass
class DiagramMarks:
    completed: list[str]
    current: list[str]
    timers: list[dict]
    messages: list[str]
    failed: list[str]


def diagram_marks(session: Session, *, instance: Instance) -> DiagramMarks:
    """Return the elements to mark on the diagram: done, open now, waiting timers and messages, failed."""
    done_kinds = (EntryKind.COMPLETED, EntryKind.TIMER, EntryKind.MESSAGE, EntryKind.FINISHED)
    completed = list(dict.fromkeys(session.scalars(select(AuditEntry.element_id).where(
        AuditEntry.instance_id == instance.id, AuditEntry.kind.in_(done_kinds),
        AuditEntry.element_id.is_not(None)).order_by(AuditEntry.seq))))
    current = list(dict.fromkeys(session.scalars(select(HumanTask.element_id).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN))))
    waits = session.scalars(select(EventWait).where(EventWait.instance_id == instance.id)).all()
    names = step_names(instance.definition)
    timers = [{"element_id": w.element_id, "name": names.get(w.element_id) or w.element_id,
               "due_at": w.due_at.isoformat() if w.due_at else None} for w in waits if w.kind == "timer"]
    messages = [w.element_id for w in waits if w.kind == "message"]
    failed = [instance.error.get("element_id")] if instance.status == InstanceStatus.ERROR and instance.error \
        and instance.error.get("element_id") else []
    return DiagramMarks([e for e in completed if e not in current], current, timers, messages, failed)


def diagram_xml(definition: ProcessDefinition) -> str | None:
    """Return the BPMN XML of the process, with a generated layout when the file has no diagram."""
    for name, text in sorted((definition.sources or {}).items()):
        if name.endswith(".bpmn") and f'id="{definition.key}"' in text:
            return with_layout(text, process_id=definition.key)
    return None


@dataclass
class CaseView:
    instance: Instance
    status_label: str
    full_data: bool
    data: list[DataItem]
    timeline: list[TimelineEntry]
    tasks: list[OpenTask]
    starter: str | None
    marks: DiagramMarks
    attachments: list = field(default_factory=list)


def case_view(session: Session, *, instance_id: int, actor: Actor) -> CaseView:
    """Return everything the case page shows, or NotFound when the actor may not see the case."""
    instance = session.get(Instance, instance_id)
    if instance is None or not can_see(session, instance=instance, actor=actor):
        raise NotFound(f"案件 {instance_id} 不存在或您无权查看", message_en=f"instance {instance_id} not found")
    full = may_see_personal_data(session, instance=instance, actor=actor)
    starter = session.scalar(select(User.name).where(User.id == instance.started_by_id)) if instance.started_by_id else None
    return CaseView(instance, STATUS_LABELS.get(instance.status, instance.status), full,
                    case_data(session, instance=instance, full=full), timeline(session, instance=instance),
                    open_tasks(session, instance_id=instance.id), starter, diagram_marks(session, instance=instance),
                    list_attachments(session, instance_id=instance.id))


def may_urge(instance: Instance, actor: Actor) -> bool:
    """Tell whether the actor may urge a case's tasks (the engine checks again)."""
    org_path = instance.org.path if instance.org else "/"
    return (instance.started_by_id == actor.id or actor.is_admin
            or any(actor.has_role(r, org_path) for r in ("leader", "inspector", "dispatcher")))


@dataclass(frozen=True)
class TaskPermissions:
    """Which buttons a task page shows; every operation is checked again by the engine."""

    view_form: bool = False
    complete: bool = False
    claim: bool = False
    release: bool = False
    transfer: bool = False
    delegate: bool = False
    resolve: bool = False
    send_back: bool = False
    urge: bool = False
    cc: bool = False
    # 加签 / 减签: add signers, sign as an added signer, and the pending signers the actor may remove.
    add_signers: bool = False
    sign: bool = False
    removable_signers: tuple = ()


def task_permissions(session: Session, *, task: HumanTask, actor: Actor) -> TaskPermissions:
    """Work out what ``actor`` may do with ``task`` right now."""
    running = task.status == TaskStatus.OPEN and task.instance.status == InstanceStatus.RUNNING
    acts = running and may_act(task, actor)
    signing = running and signing_queue.current_signer(session, task) is not None
    delegated_to_me = acts and task.owner_id is not None and task.assignee_id == actor.id
    mine = acts and task.assignee_id == actor.id
    holder_id = task.owner_id if task.owner_id is not None else task.assignee_id
    removable = tuple(s for s in signers_pending(session, task.id)
                      if actor.is_admin or actor.id in (holder_id, s.added_by_id)) if running else ()
    return TaskPermissions(
        view_form=acts and not signing,
        complete=acts and not delegated_to_me,
        claim=acts and task.assignee_id is None,
        release=mine and task.owner_id is None and task.candidate_role is not None,
        transfer=acts and not delegated_to_me,
        delegate=acts and task.owner_id is None,
        resolve=delegated_to_me and not signing,
        send_back=acts and not delegated_to_me and bool(returnable_steps(session, task=task)),
        urge=running and not acts and may_urge(task.instance, actor),
        cc=True,
        add_signers=mine and task.owner_id is None,
        sign=signing and task.assignee_id == actor.id,
        removable_signers=removable,
    )


__all__ = ["CaseView", "case_view", "case_data", "timeline", "open_tasks", "diagram_marks", "diagram_xml",
           "returnable_steps", "may_urge", "task_permissions", "display_value", "STATUS_LABELS", "ENTRY_LABELS"]
