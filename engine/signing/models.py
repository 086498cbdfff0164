"""The signer queue of a task: who was added to sign it, before or after its holder, and how they signed."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..store.db import Base
from ..store.models import User


class Position(StrEnum):
    BEFORE = "before"   # 前加签: signs first, then the task comes back to its holder
    AFTER = "after"     # 后加签: signs what the holder submitted before the case moves on


class SignerStatus(StrEnum):
    PENDING = "pending"
    SIGNED = "signed"
    REMOVED = "removed"


class TaskSigner(Base):
    """One person added to sign one task (加签); removed ones (减签) stay for the record."""

    __tablename__ = "task_signers"
    __table_args__ = (Index("ix_task_signers_task", "task_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    position: Mapped[str] = mapped_column(String(8))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default=SignerStatus.PENDING)
    # agree / disagree, once signed
    decision: Mapped[str | None] = mapped_column(String(8))
    opinion: Mapped[str | None] = mapped_column(Text)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


def signers_of(session: Session, task_id: str) -> list[TaskSigner]:
    """Every signer ever added to the task, in signing order (before-signers first)."""
    rows = session.scalars(select(TaskSigner).where(TaskSigner.task_id == task_id)).all()
    return sorted(rows, key=lambda r: (r.position != Position.BEFORE, r.seq, r.id))


def pending(session: Session, task_id: str, position: str | None = None) -> list[TaskSigner]:
    """The signers still to sign, in order; only one position if given."""
    return [r for r in signers_of(session, task_id)
            if r.status == SignerStatus.PENDING and (position is None or r.position == position)]
