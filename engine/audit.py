"""The append-only, hash-chained history of every instance."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import clock
from .models import AuditEntry, Instance

GENESIS = "0" * 64


class EntryKind:
    STARTED = "started"
    COMPLETED = "task_completed"
    CLAIMED = "claimed"
    TRANSFERRED = "transferred"
    DELEGATED = "delegated"
    RESOLVED = "delegation_returned"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    CC = "cc"
    URGED = "urged"
    TIMER = "timer_fired"
    MESSAGE = "message_received"
    CANCELLED = "cancelled"
    ERROR = "error"
    RETRIED = "retried"
    FINISHED = "finished"
    REASSIGNED = "reassigned"
    MIGRATED = "migrated"


def _digest(entry: AuditEntry) -> str:
    body = {
        "instance_id": entry.instance_id, "seq": entry.seq, "kind": entry.kind,
        "at": entry.at.isoformat(), "actor": entry.actor, "task_id": entry.task_id,
        "element_id": entry.element_id, "opinion": entry.opinion, "payload": entry.payload,
        "prev": entry.prev_hash,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


_INSERT = insert(AuditEntry.__table__)
_COLUMNS = ("instance_id", "seq", "kind", "at", "actor", "task_id", "element_id", "opinion", "payload", "prev_hash", "hash")


def record(session: Session, *, instance: Instance, kind: str, actor: str | None, task_id: str | None = None,
           element_id: str | None = None, opinion: str | None = None, payload: dict | None = None,
           at: datetime | None = None) -> AuditEntry:
    """Append one entry to an instance's history; the caller holds the instance lock."""
    instance.audit_seq = (instance.audit_seq or 0) + 1
    entry = AuditEntry(
        instance_id=instance.id, seq=instance.audit_seq, kind=kind, at=at or clock.now(),
        actor=actor, task_id=task_id, element_id=element_id, opinion=opinion or None,
        payload=json.loads(json.dumps(payload or {}, ensure_ascii=False, default=str)),
        prev_hash=instance.audit_head or GENESIS)
    entry.hash = _digest(entry)
    instance.audit_head = entry.hash
    if instance.id is None:
        session.add(entry)
        return entry
    # Written at once as a Core statement: cheaper than the unit of work, and the entry, being
    # append-only, is never changed through the object afterwards.
    session.connection().execute(_INSERT, {c: getattr(entry, c) for c in _COLUMNS})
    return entry


def history(session: Session, *, instance_id: int) -> list[AuditEntry]:
    """Return an instance's history, oldest first."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id).order_by(AuditEntry.seq)))


@dataclass(frozen=True)
class ChainBreak:
    instance_id: int
    seq: int | None
    reason: str


def verify(session: Session, *, instance_id: int | None = None) -> tuple[int, list[ChainBreak]]:
    """Recompute every hash; return (entries checked, breaks found)."""
    query = select(Instance.id, Instance.audit_head, Instance.audit_seq).order_by(Instance.id)
    if instance_id is not None:
        query = query.where(Instance.id == instance_id)
    checked, breaks = 0, []
    for inst_id, head, seq in session.execute(query):
        prev, expected_seq = GENESIS, 1
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.instance_id == inst_id).order_by(AuditEntry.seq)):
            checked += 1
            if entry.seq != expected_seq:
                breaks.append(ChainBreak(inst_id, entry.seq, f"序号不连续：缺少第 {expected_seq} 条 (sequence gap)"))
            if entry.prev_hash != prev:
                breaks.append(ChainBreak(inst_id, entry.seq, "前一条的哈希不符：记录被删除或改动 (previous hash mismatch)"))
            if _digest(entry) != entry.hash:
                breaks.append(ChainBreak(inst_id, entry.seq, "内容与哈希不符：记录被改动 (content does not match its hash)"))
            prev, expected_seq = entry.hash, entry.seq + 1
        if (head or GENESIS) != prev or (seq or 0) != expected_seq - 1:
            breaks.append(ChainBreak(inst_id, None, "链尾与实例记录不符：末尾记录被删除 (chain head does not match the instance)"))
    return checked, breaks
