"""Tables of case migration: a job moving chosen running cases to another version, and each case's outcome."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..store.db import Base, JSONType


class JobStatus(StrEnum):
    PENDING = "pending"    # created, no runner has taken it yet
    RUNNING = "running"    # a runner is moving its cases (heartbeat_at says it is alive)
    DONE = "done"          # every case has an outcome (moved or left as it was)
    FAILED = "failed"      # the runner stopped on something other than a case (see error)


class MigrationJob(Base):
    """One request to move cases of a process to a target version, run in the background."""

    __tablename__ = "migration_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100), index=True)
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    # The cases chosen when the job was made, in the order they are moved; fixed from then on.
    instance_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    status: Mapped[JobStatus] = mapped_column(String(16), default=JobStatus.PENDING)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    moved: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    # Written with every case: a runner whose heartbeat is older than the lease is taken over.
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class MigrationCase(Base):
    """What happened to one case of a job: moved, or left untouched and why."""

    __tablename__ = "migration_job_cases"
    __table_args__ = (UniqueConstraint("job_id", "instance_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("migration_jobs.id"), index=True)
    # No foreign key: the outcome is kept even if the case is deleted later.
    instance_id: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str | None] = mapped_column(String(100))
    ok: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(1000))
    reason_en: Mapped[str] = mapped_column(String(1000))
    from_version: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]
