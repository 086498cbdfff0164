"""The studio's tables: drafts of a procedure's files, one revision row per save, and the files a
deployed version carries besides its definition (its scenarios)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..store.db import Base, JSONType


class Draft(Base):
    """A designer's working copy of one procedure: files laid out like the repository."""

    __tablename__ = "studio_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The deployed version it started from; None for an upload or an empty draft.
    base_version: Mapped[int | None] = mapped_column(Integer)
    # Counts saves; a save must name the revision it edited (optimistic locking).
    revision: Mapped[int] = mapped_column(Integer, default=1)
    files: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    # Set when the draft was deployed: which version it became.
    deployed_version: Mapped[int | None] = mapped_column(Integer)


class DraftRevision(Base):
    """One save of a draft: who, when, which file and its text after the save (None: removed)."""

    __tablename__ = "studio_draft_revisions"
    __table_args__ = (UniqueConstraint("draft_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("studio_drafts.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    # created | saved | removed | deployed
    action: Mapped[str] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str | None] = mapped_column(Text)
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]


class VersionFiles(Base):
    """Files deployed with a version that are not part of its definition: its scenarios."""

    __tablename__ = "studio_version_files"
    __table_args__ = (UniqueConstraint("process_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    files: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
