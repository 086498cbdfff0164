"""In-app notifications: new tasks, urges, CCs and deadline warnings (mail/SMS adapters come later)."""
from __future__ import annotations

from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import clock
from .models import Notification


class NotificationKind(StrEnum):
    TASK = "task"
    URGE = "urge"
    CC = "cc"
    DEADLINE = "deadline"
    DELEGATED = "delegated"
    RETURNED = "returned"


def notify(session: Session, *, user_ids: list[int] | set[int], kind: str, text: str,
           instance_id: int | None = None, task_id: str | None = None) -> int:
    """Queue one notification per user; return how many were written."""
    now = clock.now()
    rows = [Notification(user_id=u, kind=str(kind), text=text[:500], instance_id=instance_id, task_id=task_id,
                         created_at=now)
            for u in sorted(set(user_ids)) if u]
    session.add_all(rows)
    return len(rows)


def unread_count(session: Session, *, user_id: int) -> int:
    """Return how many notifications the user has not read."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def list_notifications(session: Session, *, user_id: int, limit: int = 50) -> list[Notification]:
    """Return the user's newest notifications."""
    return list(session.scalars(select(Notification).where(Notification.user_id == user_id)
                                .order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, *, user_id: int, ids: list[int] | None = None) -> int:
    """Mark some (or all) of the user's notifications read; return how many were unread."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    return session.execute(stmt.values(read_at=clock.now())).rowcount
