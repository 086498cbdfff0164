"""Tables of early warning (预警): deployed warning rules, the warnings they raised, and what was done with them."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..store.db import Base
from ..store.models import Instance, JSONType

# Warning rules read the disputes of the last weeks: by process and start time from an index,
# not a scan of a million cases.
Index("ix_instances_process_started", Instance.process_key, Instance.started_at)


class WarningStatus(StrEnum):
    OPEN = "open"                  # raised, nobody has looked at it yet
    ACKNOWLEDGED = "acknowledged"  # seen; still open
    DISMISSED = "dismissed"        # closed with a reason
    SUPERVISED = "supervised"      # closed: a supervision item (督办) took it over
    RESOLVED = "resolved"          # closed by the evaluation: the rule no longer fires for its subject


class WarningLevel(StrEnum):
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"


class WarningRule(Base):
    """One deployed version of a warning rule (a DMN decision table); the latest version of a key is in force."""

    __tablename__ = "warning_rules"
    __table_args__ = (UniqueConstraint("key", "version"), UniqueConstraint("key", "content_hash"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)   # the decision id
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    file: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))


class EarlyWarning(Base):
    """A warning raised by a rule about one subject (a party, a place, a township, a case), with its evidence."""

    __tablename__ = "warnings"
    __table_args__ = (
        # Set while the warning is open or acknowledged, NULL once closed: at most one open warning
        # per (rule, subject), whatever two evaluations racing each other do.
        UniqueConstraint("open_key"),
        Index("ix_warnings_status_org", "status", "org_id"),
        Index("ix_warnings_subject", "rule_key", "subject_kind", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_key: Mapped[str] = mapped_column(String(100))
    rule_version: Mapped[int] = mapped_column(Integer)
    rule_name: Mapped[str] = mapped_column(String(200))
    subject_kind: Mapped[str] = mapped_column(String(16))      # party | location | township | case
    subject: Mapped[str] = mapped_column(String(300))          # a name, an org code or a case id
    subject_name: Mapped[str] = mapped_column(String(300))     # what people read
    open_key: Mapped[str | None] = mapped_column(String(500))
    level: Mapped[WarningLevel] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(500))
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The ids of the cases behind it. No foreign key: a warning outlives a deleted case.
    evidence: Mapped[list[int]] = mapped_column(JSONType, default=list)
    # Whose warning it is: leaders and inspectors of this org's subtree see it.
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    status: Mapped[WarningStatus] = mapped_column(String(16), default=WarningStatus.OPEN)
    raised_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    supervision_instance_id: Mapped[int | None] = mapped_column(Integer)
    notified: Mapped[int] = mapped_column(Integer, default=0)


class WarningEvent(Base):
    """What happened to a warning (raised, evidence grew, acknowledged, dismissed, supervised): append-only."""

    __tablename__ = "warning_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class WarningSchedule(Base):
    """When warnings were last evaluated on schedule: one row, claimed by a conditional UPDATE."""

    __tablename__ = "warning_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_raised: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


__all__ = ["WarningStatus", "WarningLevel", "WarningRule", "EarlyWarning", "WarningEvent", "WarningSchedule"]
