"""The append-only history of every instance, chained per instance with HMAC-SHA256.

Each entry's hash is an HMAC, under the key in ``PINGAN_AUDIT_KEY``, of its content and the hash
of the entry before it. A plain hash chain could be recomputed by anyone able to write the
database; this one only by someone who also holds the key, which lives outside the database.
Entries written before the key existed carry plain SHA-256 hashes: ``verify`` reports them until
``rekey`` (``pingan audit rekey``, run once after upgrading) has re-signed the intact chains.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from .. import clock
from ..context import context_of
from ..errors import EngineError
from ..settings import DEFAULT_AUDIT_KEY, Settings
from .models import AuditEntry, Instance, SecurityEvent, SecurityEventKind
from .rows import bound_rows, insert_rows, put

GENESIS = "0" * 64
log = logging.getLogger(__name__)


class AuditKeyMissing(EngineError):
    code, status = "audit_key_missing", 500


def audit_key(settings: Settings) -> bytes:
    """Return the HMAC key of the audit chains (the public default unless one is set)."""
    return (settings.audit_key or DEFAULT_AUDIT_KEY).encode()


def check_audit_key(settings: Settings) -> None:
    """Refuse to start without an audit key outside development mode; inside it, warn loudly about the default.

    Every front door (web app, CLI, worker) calls this when it starts, so a deployment never signs
    history with a key everyone knows.
    """
    if settings.audit_key and settings.audit_key != DEFAULT_AUDIT_KEY:
        return
    if not settings.development:
        raise AuditKeyMissing(
            "未设置审计密钥 PINGAN_AUDIT_KEY：非开发模式下拒绝使用公开的默认密钥（请设置一个随机长字符串并妥善保管）",
            message_en="PINGAN_AUDIT_KEY is not set: the public default key is refused outside development mode")
    log.warning("!!! 审计链使用公开的默认密钥，仅限开发模式；部署时必须设置 PINGAN_AUDIT_KEY "
                "(the audit chain is signed with the public default key: development only) !!!")


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
    SIGNERS_ADDED = "signers_added"
    SUBMITTED_FOR_SIGNING = "submitted_for_signing"
    SIGNED = "signed"
    SIGNER_REMOVED = "signer_removed"


def _content(entry: AuditEntry | dict) -> bytes:
    """What an entry's hash covers: an ``AuditEntry`` or a row of ``_COLUMNS`` (a dict)."""
    get = entry.__getitem__ if isinstance(entry, dict) else entry.__getattribute__
    body = {
        "instance_id": get("instance_id"), "seq": get("seq"), "kind": get("kind"),
        "at": get("at").isoformat(), "actor": get("actor"), "task_id": get("task_id"),
        "element_id": get("element_id"), "opinion": get("opinion"), "payload": get("payload"),
        "prev": get("prev_hash"),
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()


def _digest(entry: AuditEntry | dict, key: bytes) -> str:
    return hmac.new(key, _content(entry), hashlib.sha256).hexdigest()


def _plain_digest(entry: AuditEntry) -> str:
    # How entries were chained before the key: still recognised, never accepted.
    return hashlib.sha256(_content(entry)).hexdigest()


_INSERT = insert(AuditEntry.__table__)
_COLUMNS = ("instance_id", "seq", "kind", "at", "actor", "task_id", "element_id", "opinion", "payload", "prev_hash", "hash")


def record(session: Session, *, instance: Instance, kind: str, actor: str | None, task_id: str | None = None,
           element_id: str | None = None, opinion: str | None = None, payload: dict | None = None,
           at: datetime | None = None, into: list | None = None) -> None:
    """Append one entry to an instance's history; the caller holds the instance lock.

    With ``into`` (a save's list, engine/runtime/lifecycle.py) the entry's row is added to the list for
    ``write`` to insert with the others in one statement, and the instance's chain head is set as
    the value the save's UPDATE writes; without it the entry is inserted at once and the head
    changed through the object. Append-only, an entry is never changed afterwards, so it is made
    as a row (a dict); only for a case not yet flushed does the session get an ``AuditEntry`` to insert.
    """
    seq = (instance.audit_seq or 0) + 1
    row = {"instance_id": instance.id, "seq": seq, "kind": kind, "at": at or clock.now(), "actor": actor,
           "task_id": task_id, "element_id": element_id, "opinion": opinion or None,
           "payload": json.loads(json.dumps(payload or {}, ensure_ascii=False, default=str)),
           "prev_hash": instance.audit_head or GENESIS}
    row["hash"] = _digest(row, audit_key(context_of(session).settings))
    if into is not None and instance.id is not None:
        put(instance, audit_seq=seq, audit_head=row["hash"])
        into.append(row)
        return
    instance.audit_seq, instance.audit_head = seq, row["hash"]
    if instance.id is None:
        session.add(AuditEntry(**row))
        return
    session.connection().execute(_INSERT, row)


def insert_bound(count: int):
    """An INSERT of ``count`` entries valued by parameters ``h<i>_<column>`` (``bound``), to go inside another statement."""
    return insert_rows(AuditEntry.__table__, _COLUMNS, count, "h")


def bound(rows: list[dict]) -> dict:
    """The parameters of ``insert_bound(len(rows))`` for the rows ``record`` collected."""
    return bound_rows(rows, "h")


def write(session: Session, rows: list[dict]) -> None:
    """Insert the entries ``record`` collected ``into`` a list, in one statement; empty the list."""
    if rows:
        session.connection().execute(_INSERT, rows[0] if len(rows) == 1 else list(rows))
        rows.clear()


def history(session: Session, *, instance_id: int) -> list[AuditEntry]:
    """Return an instance's history, oldest first."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id).order_by(AuditEntry.seq)))


@dataclass(frozen=True)
class ChainBreak:
    instance_id: int
    seq: int | None
    reason: str
    # "unkeyed": a valid plain hash, so an old entry or a chain recomputed without the key.
    kind: str = "broken"


def verify(session: Session, *, instance_id: int | None = None) -> tuple[int, list[ChainBreak]]:
    """Recompute every HMAC; return (entries checked, breaks found)."""
    key = audit_key(context_of(session).settings)
    query = select(Instance.id, Instance.audit_head, Instance.audit_seq).order_by(Instance.id)
    if instance_id is not None:
        query = query.where(Instance.id == instance_id)
    checked, breaks = 0, []
    for inst_id, head, seq in session.execute(query):
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.instance_id == inst_id).order_by(AuditEntry.seq)))
        checked += len(entries)
        breaks += _chain_breaks(inst_id, head, seq, entries, key)
    return checked, breaks


def _chain_breaks(inst_id: int, head: str | None, seq: int | None, entries: list[AuditEntry],
                  key: bytes) -> list[ChainBreak]:
    breaks, prev, expected_seq = [], GENESIS, 1
    for entry in entries:
        if entry.seq != expected_seq:
            breaks.append(ChainBreak(inst_id, entry.seq, f"序号不连续：缺少第 {expected_seq} 条 (sequence gap)"))
        if entry.prev_hash != prev:
            breaks.append(ChainBreak(inst_id, entry.seq, "前一条的哈希不符：记录被删除或改动 (previous hash mismatch)"))
        if not hmac.compare_digest(_digest(entry, key), entry.hash):
            if entry.hash == _plain_digest(entry):
                breaks.append(ChainBreak(inst_id, entry.seq,
                                         "本条未用审计密钥签名：升级前的旧记录尚未重签（运行一次 pingan audit rekey），"
                                         "或有人不持密钥重算了哈希链 (not signed with the audit key: a legacy entry "
                                         "not yet re-signed, or a chain recomputed without the key)", "unkeyed"))
            else:
                breaks.append(ChainBreak(inst_id, entry.seq,
                                         "内容与签名不符：记录被改动，或审计密钥不对 (content does not match its HMAC: "
                                         "edited, or the wrong audit key)"))
        prev, expected_seq = entry.hash, entry.seq + 1
    if (head or GENESIS) != prev or (seq or 0) != expected_seq - 1:
        breaks.append(ChainBreak(inst_id, None, "链尾与实例记录不符：末尾记录被删除 (chain head does not match the instance)"))
    return breaks


@dataclass(frozen=True)
class RekeyReport:
    resigned: int  # instances whose chain is now signed with the key
    entries: int
    refused: list[ChainBreak]  # instances left as they were, because their chain was already broken


def rekey(session: Session, *, actor: str) -> RekeyReport:
    """Re-sign with the audit key every chain holding plain-hash entries, if it is otherwise intact.

    Run once after upgrading. A chain that does not check out under the hashes it was written
    with (plain for old entries, HMAC for new ones) is left alone, so its break stays visible.
    Each run is recorded in the security log: a later run nobody ordered is itself a finding.
    """
    key = audit_key(context_of(session).settings)
    legacy = select(AuditEntry.instance_id).distinct()
    resigned, count, refused = 0, 0, []
    for inst_id in list(session.scalars(legacy.order_by(AuditEntry.instance_id))):
        head, seq = session.execute(select(Instance.audit_head, Instance.audit_seq)
                                    .where(Instance.id == inst_id).with_for_update()).one()
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.instance_id == inst_id).order_by(AuditEntry.seq)))
        # The chain as written: each entry valid under its own algorithm, and every link in place.
        problems = _chain_breaks(inst_id, head, seq, entries, key)
        if not problems:
            continue
        if any(b.kind != "unkeyed" for b in problems):
            refused += [b for b in problems if b.kind != "unkeyed"]
            continue
        prev = GENESIS
        for entry in entries:
            entry.prev_hash = prev
            entry.hash = prev = _digest(entry, key)
        session.execute(update(Instance).where(Instance.id == inst_id).values(audit_head=prev)
                        .execution_options(synchronize_session=False))
        session.flush()
        resigned, count = resigned + 1, count + len(entries)
    session.add(SecurityEvent(at=clock.now(), kind=SecurityEventKind.AUDIT_REKEYED, actor=actor,
                              detail={"instances": resigned, "entries": count,
                                      "refused": sorted({b.instance_id for b in refused})}))
    session.flush()
    return RekeyReport(resigned, count, refused)

