"""Idempotency keys: a retried request gets the first answer back and creates nothing new."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from ..errors import Conflict, EngineError
from ..store.models import IdempotencyKey

KEEP_FOR = timedelta(hours=24)
_KEY = re.compile(r"[\x21-\x7e]{1,200}")


class KeyReused(EngineError):
    code, status = "idempotency_key_reused", 422


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


def request_fingerprint(*parts: object) -> str:
    """Return a digest of what identifies a request (method, path, body)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def begin(session: Session, *, user_id: int, key: str, fingerprint: str) -> Replay | None:
    """Claim ``key`` for this request, or return the stored answer of the request that claimed it.

    Call it in the transaction that does the work: if the work fails the claim is rolled back
    with it, and a retry runs again. A concurrent twin waits on the unique index, then replays.
    """
    if not _KEY.fullmatch(key or ""):
        raise EngineError("Idempotency-Key 应为 1–200 个可见 ASCII 字符",
                          message_en="Idempotency-Key must be 1-200 visible ASCII characters")
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key,
                                                 IdempotencyKey.created_at < clock.now() - KEEP_FOR))
    found = _stored(session, user_id, key, fingerprint)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(IdempotencyKey(user_id=user_id, key=key, request_hash=fingerprint, created_at=clock.now()))
    except IntegrityError:
        found = _stored(session, user_id, key, fingerprint)
        if found is None:
            raise Conflict("相同的请求正在处理中，请稍后重试", message_en="the same request is being processed") from None
        return found
    return None


def finish(session: Session, *, user_id: int, key: str, status: int, body: dict) -> None:
    """Store the answer given under ``key``."""
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))
    if row is not None:
        row.status_code, row.response = status, json.loads(json.dumps(body, ensure_ascii=False, default=str))
        session.flush()


def _stored(session: Session, user_id: int, key: str, fingerprint: str) -> Replay | None:
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
                         .execution_options(populate_existing=True))
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise KeyReused("该 Idempotency-Key 已用于另一个不同的请求", message_en="this Idempotency-Key was used for a different request")
    if row.status_code is None:
        raise Conflict("相同的请求正在处理中，请稍后重试", message_en="the same request is being processed")
    return Replay(row.status_code, row.response or {})
