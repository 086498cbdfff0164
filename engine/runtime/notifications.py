"""In-app notifications: new tasks, urges, CCs and deadline warnings (mail/SMS adapters come later)."""
from __future__ import annotations

from enum import StrEnum

from sqlalchemy import and_, bindparam, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from .. import clock
from ..cases.personal_data import mask_text
from ..store.models import HumanTask, Instance, Notification, Org, RoleAssignment, TaskStatus, User
from ..store.rows import Selected, insert_now_or_later


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


_POOL_COLUMNS = ("user_id", "kind", "text", "instance_id", "task_id", "created_at")


def _pool_row(prefix: str):
    """The notices of one pool task: one row per active holder of the role at the nearest level above its org.

    Parameters ``<prefix>role``, ``org_id``, ``text``, ``instance_id``, ``task_id``, ``created_at``.
    The nearest level is a window over the holders, not a CTE of its own, so that this SELECT can
    be one branch of an INSERT inside another statement's CTE (``rows.Selected``).
    """
    columns = Notification.__table__.c  # typed parameters: created_at goes through the UTC column type
    task_path = select(Org.path).where(Org.id == bindparam(f"{prefix}org_id")).scalar_subquery()
    depth = func.length(Org.path)
    holders = (select(RoleAssignment.user_id.label("user_id"), depth.label("depth"),
                      func.max(depth).over().label("nearest"))
               .join(Org, Org.id == RoleAssignment.org_id).join(User, User.id == RoleAssignment.user_id)
               .where(RoleAssignment.role == bindparam(f"{prefix}role"), User.active.is_(True),
                      task_path.like(Org.path + "%"))
               .subquery())
    return (select(holders.c.user_id, literal(NotificationKind.TASK.value),
                   bindparam(f"{prefix}text", type_=columns.text.type),
                   bindparam(f"{prefix}instance_id", type_=columns.instance_id.type),
                   bindparam(f"{prefix}task_id", type_=columns.task_id.type),
                   bindparam(f"{prefix}created_at", type_=columns.created_at.type))
            .where(holders.c.depth == holders.c.nearest).distinct())


# Built once: composing it costs more than running it.
POOL_NOTICES = Selected(Notification.__table__, _POOL_COLUMNS, _pool_row,
                        insert(Notification).from_select(list(_POOL_COLUMNS), _pool_row("")))


def pool_notice(*, role: str, org_id: int, text: str, instance_id: int, task_id: str) -> dict:
    """The parameters of a pool task's notices, for ``notify_pool`` or a save's one statement (``POOL_NOTICES``)."""
    return {"role": role, "org_id": org_id, "text": text[:500], "instance_id": instance_id, "task_id": task_id,
            "created_at": clock.now()}


def notify_pool(session: Session, notices: list[dict], later: list | None = None) -> None:
    """Tell the people each task is offered to: the holders of its role at the nearest level above its org.

    A township's task reaches the township's dispatchers, not every dispatcher of the county above
    it; only where the township has none does it go up. ``notices`` come from ``pool_notice``: one
    INSERT … SELECT for them all, now or, given a save's ``later``, inside the save's one statement.
    """
    if notices:
        insert_now_or_later(session.connection(), POOL_NOTICES, notices, later)


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

