"""Deadline notices on human tasks: once when a task's light turns yellow, once when it turns red.

A task's ``warn_at`` and ``due_at`` come from its ``warnAt``/``dueDate`` properties (see
``engine/runtime/sync.py``); ``engine/cases/queries.py`` computes the light from them. The sweep here tells the
people on the task when the light changes, and remembers which ``warn_at``/``due_at`` it told
them about, so a notice is sent once, and again only if the deadline moves (a task sent back).
Reminders and escalation beyond that are drawn in BPMN as boundary timers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from ..cases.queries import Light
from ..context import context_of
from ..org.orgs import users_with_role
from ..store.models import DeadlineNoticeSent, HumanTask, Instance, TaskStatus
from .notifications import NotificationKind, notify


@dataclass(frozen=True)
class DeadlineNotice:
    """One notice sent: which task, which light, to how many people."""

    task_id: str
    instance_id: int
    light: Light
    recipients: int


def _not_sent(light: Light, deadline):
    return ~exists().where(DeadlineNoticeSent.task_id == HumanTask.id, DeadlineNoticeSent.light == light.value,
                           DeadlineNoticeSent.deadline == deadline)


def _pending(light: Light, now: datetime):
    if light == Light.RED:
        return and_(HumanTask.due_at <= now, _not_sent(Light.RED, HumanTask.due_at))
    return and_(HumanTask.warn_at <= now, or_(HumanTask.due_at.is_(None), HumanTask.due_at > now),
                _not_sent(Light.YELLOW, HumanTask.warn_at))


def recipients_of(session: Session, task: HumanTask) -> list[int]:
    """Return who is told about a task's deadline: its assignee (and delegating owner), else its pool."""
    if task.assignee_id:
        return sorted({task.assignee_id, *([task.owner_id] if task.owner_id else [])})
    if not task.candidate_role:
        return []
    org_path = task.candidate_org.path if task.candidate_org else "/"
    return sorted(u.id for u in users_with_role(session, role=task.candidate_role, org_path=org_path))


def notify_deadlines(session: Session, *, now: datetime | None = None, limit: int = 1000) -> list[DeadlineNotice]:
    """Send the yellow and red notices that are due at ``now``; each at most once per deadline."""
    now = now or clock.now()
    tz = ZoneInfo(context_of(session).settings.timezone)
    sent: list[DeadlineNotice] = []
    for light in (Light.RED, Light.YELLOW):
        # SKIP LOCKED: two sweeps at once on PostgreSQL mostly take different tasks; the unique
        # notice row below settles the rest.
        tasks = session.scalars(select(HumanTask).where(HumanTask.status == TaskStatus.OPEN, _pending(light, now))
                                .order_by(HumanTask.due_at, HumanTask.id).limit(limit)
                                .with_for_update(of=HumanTask, skip_locked=True)).all()
        for task in tasks:
            users = recipients_of(session, task)
            try:
                with session.begin_nested():
                    session.add(DeadlineNoticeSent(
                        task_id=task.id, instance_id=task.instance_id, light=light.value, sent_at=now,
                        deadline=task.due_at if light == Light.RED else task.warn_at, recipients=len(users)))
            except IntegrityError:
                continue  # another sweep sent this very notice a moment ago
            notify(session, user_ids=users, kind=NotificationKind.DEADLINE, instance_id=task.instance_id,
                   task_id=task.id, text=_text(task, session.get(Instance, task.instance_id), light, tz))
            sent.append(DeadlineNotice(task.id, task.instance_id, light, len(users)))
    session.flush()
    return sent


def _text(task: HumanTask, instance: Instance | None, light: Light, tz: ZoneInfo) -> str:
    case_title = f"（{instance.title}）" if instance is not None else ""
    due = f"{task.due_at.astimezone(tz):%m月%d日 %H:%M}" if task.due_at else ""
    if light == Light.RED:
        return f"已超期：“{task.title}”的办理期限 {due} 已过，请尽快办理{case_title}"
    if due:
        return f"临近期限：“{task.title}”将于 {due} 到期，请抓紧办理{case_title}"
    return f"请抓紧办理：“{task.title}”已到提醒时间{case_title}"


def next_due(session: Session) -> datetime | None:
    """Return the earliest warn_at or due_at of an open task whose notice has not gone out."""
    moments = [session.scalar(select(func.min(column)).where(
        HumanTask.status == TaskStatus.OPEN, column.is_not(None), _not_sent(light, column)))
        for light, column in ((Light.YELLOW, HumanTask.warn_at), (Light.RED, HumanTask.due_at))]
    moments = [m for m in moments if m is not None]
    return min(moments) if moments else None
