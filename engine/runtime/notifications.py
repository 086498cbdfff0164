"""In-app notifications: new tasks, urges, CCs and deadline warnings (mail/SMS adapters come later)."""
from __future__ import annotations

from enum import StrEnum

from sqlalchemy import and_, bindparam, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from .. import clock
from ..cases.personal_data import mask_text
from ..store.models import HumanTask, Instance, Notification, Org, RoleAssignment, TaskStatus, User


class NotificationKind(StrEnum):
    TASK = "task"
    URGE = "urge"
    CC = "cc"
    DEADLINE = "deadline"
    DELEGATED = "delegated"
    RETURNED = "returned"
    WARNING = "warning"      # an early warning (预警) raised in the leader's scope


def notify(session: Session, *, user_ids: list[int] | set[int], kind: str, text: str,
           instance_id: int | None = None, task_id: str | None = None, warning_id: int | None = None) -> int:
    """Queue one notification per user; return how many were written."""
    now = clock.now()
    rows = [Notification(user_id=u, kind=str(kind), text=text[:500], instance_id=instance_id, task_id=task_id,
                         warning_id=warning_id, created_at=now)
            for u in sorted(set(user_ids)) if u]
    session.add_all(rows)
    return len(rows)


def _pool_statement():
    task_path = select(Org.path).where(Org.id == bindparam("org_id")).scalar_subquery()
    holders = (select(RoleAssignment.user_id, Org.path).join(Org, Org.id == RoleAssignment.org_id)
               .join(User, User.id == RoleAssignment.user_id)
               .where(RoleAssignment.role == bindparam("role"), User.active.is_(True), task_path.like(Org.path + "%"))
               .cte("holders"))
    nearest = select(func.max(func.length(holders.c.path))).scalar_subquery()
    columns = Notification.__table__.c  # typed parameters: created_at goes through the UTC column type
    chosen = (select(holders.c.user_id, literal(NotificationKind.TASK.value), bindparam("text", type_=columns.text.type),
                     bindparam("instance_id", type_=columns.instance_id.type),
                     bindparam("task_id", type_=columns.task_id.type),
                     bindparam("created_at", type_=columns.created_at.type))
              .where(func.length(holders.c.path) == nearest).distinct())
    return insert(Notification).from_select(["user_id", "kind", "text", "instance_id", "task_id", "created_at"], chosen)


# Built once: composing it costs more than running it.
_NOTIFY_POOL = _pool_statement()


def notify_pool(session: Session, *, role: str, org_id: int, text: str, instance_id: int, task_id: str) -> None:
    """Tell the people a task is offered to: the holders of ``role`` at the nearest level above the task's org.

    A township's task reaches the township's dispatchers, not every dispatcher of the county above
    it; only where the township has none does it go up. One INSERT … SELECT, no round trip.
    """
    session.connection().execute(_NOTIFY_POOL, {"org_id": org_id, "role": role, "text": text[:500],
                                                "instance_id": instance_id, "task_id": task_id,
                                                "created_at": clock.now()})


# A new-task notice is moot once the task is closed or someone else holds it (one of the pool
# claimed it): it is neither counted nor listed for the others.
def _current(user_id: int):
    moot = exists().where(HumanTask.id == Notification.task_id, or_(
        HumanTask.status != TaskStatus.OPEN, and_(HumanTask.assignee_id.is_not(None), HumanTask.assignee_id != user_id)))
    return and_(Notification.user_id == user_id, or_(Notification.kind != NotificationKind.TASK.value,
                                                     Notification.task_id.is_(None), ~moot))


def unread_count(session: Session, *, user_id: int) -> int:
    """Return how many notifications the user has not read."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        _current(user_id), Notification.read_at.is_(None))) or 0


def list_notifications(session: Session, *, user_id: int, limit: int = 50) -> list[Notification]:
    """Return the user's newest notifications."""
    return list(session.scalars(select(Notification).where(_current(user_id))
                                .order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, *, user_id: int, ids: list[int] | None = None) -> int:
    """Mark some (or all) of the user's notifications read; return how many were unread."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    return session.execute(stmt.values(read_at=clock.now())).rowcount


def shown_texts(session: Session, rows: list[Notification]) -> dict[int, str]:
    """Return each notification's text as a list shows it: personal data of its case masked."""
    ids = {n.instance_id for n in rows if n.instance_id}
    instances = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(ids)))} if ids else {}
    texts = {}
    for n in rows:
        instance = instances.get(n.instance_id)
        texts[n.id] = mask_text(instance.definition, instance.data or {}, n.text) if instance else n.text
    return texts

