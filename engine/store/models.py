"""Pingan's tables: organisations and users, definitions, instances, tasks, history."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .compression import use_lz4
from .db import Base, JSONType
from .tally_triggers import create_triggers


class InstanceStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Org(Base):
    __tablename__ = "orgs"
    # varchar_pattern_ops: "path LIKE '/1/4/%'" uses the index whatever the database collation.
    __table_args__ = (Index("ix_orgs_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    # Materialised path "/1/4/9/" so "is in the subtree of" is one indexed prefix test.
    path: Mapped[str] = mapped_column(String(500), default="")

    parent: Mapped[Org | None] = relationship(remote_side=[id])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    phone: Mapped[str | None] = mapped_column(String(32))
    # No longer written: lock-outs are counted per (username, source address) in login_throttles.
    # Kept because dropping a column of users makes SQLite rebuild the table every other one points at.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]

    org: Mapped[Org] = relationship()
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "role", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))

    user: Mapped[User] = relationship(back_populates="roles")
    org: Mapped[Org] = relationship(lazy="joined")


class ProcessDefinition(Base):
    """One deployed version of a process: stored once per content hash."""

    __tablename__ = "process_definitions"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        UniqueConstraint("key", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    # Large and needed only on a spec-cache miss or for display: loaded when first touched.
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, deferred=True)
    sources: Mapped[dict[str, Any]] = mapped_column(JSONType, deferred=True)
    forms: Mapped[dict[str, Any]] = mapped_column(JSONType)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    # Why it was deployed (studio, pingan deploy --note); read only by the versions list.
    note: Mapped[str | None] = mapped_column(Text, deferred=True)


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_status_process", "status", "process_key"),
        # Scope lists and counts read a subtree's or a starter's cases with their status and
        # start time from the index alone (engine/org/visibility.py, engine/cases/queries.py).
        Index("ix_instances_org_status", "org_id", "status", "id", "started_at"),
        Index("ix_instances_starter_status", "started_by_id", "org_id", "status", "id", "started_at"),
        # The case list's order (newest first), read backwards: an unfiltered page without a sort.
        Index("ix_instances_started", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[InstanceStatus] = mapped_column(String(16), default=InstanceStatus.RUNNING)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_event: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    serializer_version: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    audit_head: Mapped[str] = mapped_column(String(64), default="")
    audit_seq: Mapped[int] = mapped_column(Integer, default=0)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    definition: Mapped[ProcessDefinition] = relationship()
    org: Mapped[Org] = relationship()

    __mapper_args__ = {"version_id_col": lock_version}


class CaseTaskState(Base):
    """One task of a case's workflow as the serializer stores it (engine/store/case_state.py).

    ``instances.state`` keeps the workflow's own fields; each task is a row, written only when a
    step changed it, so a completion in a case of a thousand open tasks writes a few rows, not
    the whole state.
    """

    __tablename__ = "case_task_states"
    __table_args__ = (
        Index("ix_case_task_states_gone", "instance_id", postgresql_where=text("body IS NULL"),
              sqlite_where=text("body IS NULL")),
    )

    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # "" for the case's own workflow, else the id of the subprocess task whose workflow it is in.
    workflow: Mapped[str] = mapped_column(String(36), default="")
    # SQL NULL: the task is gone from the workflow. Written with the step's other rows, in the same
    # statement, instead of a DELETE of its own; the sweep deletes such rows (case_state.purge).
    body: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"))


class InstanceTally(Base):
    """A change in the number of cases of one definition and status, added by triggers on ``instances``.

    The sum per (definition, status) is the exact count; see engine/store/tallies.py.
    """

    __tablename__ = "instance_tallies"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: a tally outlives the cases it counted.
    definition_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(Integer)


def _create_tally_triggers(target, connection, **kw) -> None:
    create_triggers(connection)


def _compress_with_lz4(target, connection, **kw) -> None:
    use_lz4(connection)


# Migrations create them too (0002, 0011); this covers a schema built by create_all alone.
event.listen(Instance.__table__, "after_create", _create_tally_triggers)
event.listen(Instance.__table__, "after_create", _compress_with_lz4)


class HumanTask(Base):
    """A user task as staff see it: the queryable projection of the workflow's open tasks."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_tasks_pool", "status", "candidate_role", "candidate_org_id"),
        Index("ix_tasks_assignee", "assignee_id", "status"),
        Index("ix_tasks_due", "status", "due_at"),
        Index("ix_tasks_owner", "owner_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    process_key: Mapped[str] = mapped_column(String(100))
    candidate_role: Mapped[str | None] = mapped_column(String(32))
    candidate_org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The owner of a delegated task: it comes back to them once the delegate has done their part.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[TaskStatus] = mapped_column(String(16), default=TaskStatus.OPEN)
    form_key: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None]
    warn_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    multi_index: Mapped[int | None] = mapped_column(Integer)

    instance: Mapped[Instance] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    candidate_org: Mapped[Org | None] = relationship()


class TaskActor(Base):
    """Everyone who held or completed a task: a case stays visible to them."""

    __tablename__ = "task_actors"
    # (user_id, instance_id): a user's cases from the index alone.
    __table_args__ = (UniqueConstraint("instance_id", "user_id"), Index("ix_task_actors_user", "user_id", "instance_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class AuditEntry(Base):
    """Append-only, hash-chained history of one instance."""

    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(100))
    opinion: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CaseField(Base):
    """A searchable value projected from case data, declared per process in YAML."""

    __tablename__ = "case_fields"
    # varchar_pattern_ops: LIKE 'prefix%' uses the index whatever the database collation.
    __table_args__ = (Index("ix_case_fields_lookup", "name", "value", postgresql_ops={"value": "varchar_pattern_ops"}),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(300))


class CarbonCopy(Base):
    __tablename__ = "carbon_copies"
    __table_args__ = (UniqueConstraint("instance_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    # The early warning (预警) a warning notice is about, so the notice opens it. No foreign key:
    # the warnings table belongs to engine.board, which builds on this module.
    warning_id: Mapped[int | None] = mapped_column(Integer)


class PendingMessage(Base):
    """A message that arrived before anything waited for it, kept as its definition says."""

    __tablename__ = "pending_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    correlation: Mapped[dict[str, Any]] = mapped_column(JSONType)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]
    consumed_by_instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))


class EventWait(Base):
    """A timer or message an instance waits for, rewritten after every engine step.

    The database, not a broker, is the source of truth for what is due: a sweep reads these rows.
    """

    __tablename__ = "event_waits"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id"),
        Index("ix_event_waits_due", "kind", "due_at"),
        Index("ix_event_waits_name", "kind", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # timer | message
    name: Mapped[str] = mapped_column(String(100), default="")
    due_at: Mapped[datetime | None]
    correlation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class TimerSchedule(Base):
    """A deployed process's timer start event: each occurrence starts a new case."""

    __tablename__ = "timer_schedules"
    __table_args__ = (UniqueConstraint("process_key", "element_id"), Index("ix_timer_schedules_due", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100))
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    element_id: Mapped[str] = mapped_column(String(100))
    expression: Mapped[str] = mapped_column(Text)
    # None once a one-off or a finite cycle has run out.
    due_at: Mapped[datetime | None]
    period_seconds: Mapped[float | None]
    remaining: Mapped[int] = mapped_column(Integer, default=1)  # -1: repeats for ever
    fired_count: Mapped[int] = mapped_column(Integer, default=0)
    last_fired_at: Mapped[datetime | None]
    # No foreign key: cases come and go (tests delete theirs); this is only a pointer for admins.
    last_instance_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class DeadlineNoticeSent(Base):
    """A yellow or red deadline notice sent for one task's warn_at/due_at: sent once, never again."""

    __tablename__ = "deadline_notices"
    __table_args__ = (UniqueConstraint("task_id", "light", "deadline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Plain columns, not foreign keys: a log line must not stand in the way of deleting a case.
    task_id: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[int] = mapped_column(Integer, index=True)
    light: Mapped[str] = mapped_column(String(8))  # yellow | red
    deadline: Mapped[datetime]  # the warn_at (yellow) or due_at (red) it was sent for
    sent_at: Mapped[datetime]
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a user can tell their tokens apart without the secret.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class Attachment(Base):
    """A file uploaded to a case, stored under the instance folder with its checksum."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    field: Mapped[str | None] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]


class IdempotencyKey(Base):
    """The first answer to a request sent with an Idempotency-Key, replayed on a retry."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime]


class LoginThrottle(Base):
    """Failed sign-ins of one username (as typed) from one source address; username '' counts the whole source.

    Unknown usernames get rows too, so being throttled says nothing about whether an account exists
    (engine/org/lockout.py).
    """

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("username", "source"),
                      Index("ix_login_throttles_source", "source", "last_failure_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_failure_at: Mapped[datetime]


class SecurityEventKind(StrEnum):
    """What a ``SecurityEvent`` records."""
    LOGIN_FAILED = "login_failed"
    LOCKED = "login_locked"
    UNLOCKED = "login_unlocked"
    AUDIT_REKEYED = "audit_rekeyed"  # engine/store/audit.py rekey: re-signing history is itself recorded


class SecurityEvent(Base):
    """A failed sign-in, a lock or an unlock, or the audit trail re-signed, kept for administrators; append-only."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_username", "username", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # The name as typed (it may belong to nobody) and, when it names an account, that account's id.
    # No foreign key: the log outlives what it mentions.
    username: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


# The tables of the capability subpackages (engine/board, engine/studio, ...) live in their own
# modules, which import this one; engine/store/tables.py gathers every table for Alembic and create_all.
# Registering them here instead would make each an import cycle (tests/engine/test_import_graph.py).
