"""Sign-in throttling per (username, source address) and per source, and the security event log.

Counting by (username, source) rather than by account means an attacker failing for ``admin``
from one address locks only that address out of ``admin``, never the real admin at their desk.
Counting per source across usernames catches password spraying (one guess at many accounts).
Usernames that belong to nobody are counted exactly like real ones, so neither the answer nor
being throttled tells an attacker whether an account exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .. import clock
from ..context import context_of
from ..errors import EngineError, NotAllowed, NotFound
from ..store.models import LoginThrottle, Org, SecurityEvent, SecurityEventKind, User
from .orgs import Actor

ACCOUNT_FAILURES = 5  # per (username, source) before the first lock
SOURCE_FAILURES = 30  # per source, whatever the usernames
FIRST_LOCK = timedelta(minutes=1)  # then 2, 4, 8 ... minutes for every further failure
LOCK_CAP = timedelta(hours=1)
# A count forgotten after a day without failures; the cap is far shorter, so waiting out a lock
# never wipes the count by itself.
QUIET_RESET = timedelta(hours=24)
WHOLE_SOURCE = ""  # the username of a source's own counter
UNKNOWN_SOURCE = "unknown"


class AccountLocked(EngineError):
    code, status = "account_locked", 403

    def __init__(self, message: str, *, locked_until: datetime, **kwargs):
        super().__init__(message, **kwargs)
        self.locked_until = locked_until

    def as_dict(self) -> dict:
        return super().as_dict() | {"locked_until": self.locked_until.isoformat()}


def username_key(username: str | None) -> str:
    """Return the name a throttle counts under: as typed, trimmed, at most 64 characters."""
    return (username or "").strip()[:64]


def source_key(source: str | None) -> str:
    """Return the source address a throttle counts under."""
    return (source or "").strip()[:64] or UNKNOWN_SOURCE


def check(session: Session, *, username: str, source: str | None) -> None:
    """Raise AccountLocked while ``username`` is locked at ``source`` or ``source`` is locked as a whole."""
    now = clock.now()
    until = session.scalar(
        select(LoginThrottle.locked_until)
        .where(LoginThrottle.source == source_key(source),
               LoginThrottle.username.in_([username_key(username), WHOLE_SOURCE]),
               LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.locked_until.desc()).limit(1))
    if until is not None:
        raise locked_error(session, until)


def record_failure(session: Session, *, username: str, source: str | None, user_id: int | None) -> datetime | None:
    """Count a failed sign-in for (username, source) and for the source; return the lock's end if one began."""
    now, name, src = clock.now(), username_key(username), source_key(source)
    _prune(session, source=src, now=now)
    session.add(SecurityEvent(at=now, kind=SecurityEventKind.LOGIN_FAILED, username=name, user_id=user_id,
                              source=src, detail={}))
    locked = None
    for bucket_name, threshold in ((name, ACCOUNT_FAILURES), (WHOLE_SOURCE, SOURCE_FAILURES)):
        row = _counter(session, username=bucket_name, source=src, now=now)
        if now - row.last_failure_at > QUIET_RESET:
            row.failures, row.lock_count = 0, 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures < threshold:
            continue
        # Past the threshold every further failure locks again, each time twice as long.
        row.lock_count += 1
        row.locked_until = now + min(FIRST_LOCK * 2 ** min(row.lock_count - 1, 16), LOCK_CAP)
        locked = max(locked or row.locked_until, row.locked_until)
        session.add(SecurityEvent(
            at=now, kind=SecurityEventKind.LOCKED, username=bucket_name or None,
            user_id=user_id if bucket_name else None, source=src,
            detail={"scope": "account" if bucket_name else "source", "failures": row.failures,
                    "lock_count": row.lock_count, "locked_until": row.locked_until.isoformat()}))
    session.flush()
    return locked


def record_success(session: Session, *, username: str, source: str | None) -> None:
    """Forget the failures of ``username`` at ``source`` (the source's own count stays: see module doc)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == username_key(username),
                                                LoginThrottle.source == source_key(source)))


def _counter(session: Session, *, username: str, source: str, now: datetime) -> LoginThrottle:
    # Insert-if-missing then lock the row: two failures arriving together both count.
    make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(make(LoginThrottle).values(username=username, source=source, failures=0, lock_count=0,
                                               last_failure_at=now)
                    .on_conflict_do_nothing(index_elements=["username", "source"]))
    return session.scalar(select(LoginThrottle)
                          .where(LoginThrottle.username == username, LoginThrottle.source == source)
                          .with_for_update().execution_options(populate_existing=True))


def _prune(session: Session, *, source: str, now: datetime) -> None:
    # Counters of this source gone quiet: an attacker inventing usernames cannot grow the table
    # without bound from one address.
    session.execute(delete(LoginThrottle).where(
        LoginThrottle.source == source, LoginThrottle.last_failure_at < now - QUIET_RESET,
        or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now)))


def locked_error(session: Session, until: datetime) -> AccountLocked:
    """Return the error for a sign-in refused until ``until``; the same whether or not the account exists."""
    local = until.astimezone(ZoneInfo(context_of(session).settings.timezone))
    return AccountLocked(f"登录失败次数过多，已暂停从此地址登录该账号至 {local:%H:%M}，请稍后再试或联系管理员解锁",
                         message_en=f"too many failed sign-ins; sign-in from this address is paused until {local:%H:%M}",
                         locked_until=until)


# ---- administration -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginLock:
    """A counter of failed sign-ins as an administrator sees it; ``username`` None: the whole source."""

    id: int
    username: str | None
    source: str
    failures: int
    lock_count: int
    locked_until: datetime | None
    last_failure_at: datetime
    user_id: int | None


def _is_top_admin(actor: Actor) -> bool:
    # Counters of unknown names and of whole sources belong to no org: only an administrator of a
    # top-level org ("/N/") sees or clears them.
    return any(role == "admin" and path.count("/") <= 2 for role, path in actor.grants)


def _require_any_admin(actor: Actor) -> list[str]:
    scopes = [path for role, path in actor.grants if role == "admin"]
    if not scopes:
        raise NotAllowed("需要系统管理员权限", message_en="requires the admin role")
    return scopes


def _administered(actor: Actor):
    """A condition on the joined ``User``/``Org``: accounts in the actor's admin scopes (and, for a
    top-level admin, names no account has)."""
    visible = [Org.path.startswith(p) for p in _require_any_admin(actor)]
    if _is_top_admin(actor):
        visible.append(User.id.is_(None))
    return or_(*visible)


def list_locks(session: Session, *, actor: Actor, username: str | None = None,
               locked_only: bool = True) -> list[LoginLock]:
    """Return the failure counters the actor administers, locked ones only unless ``locked_only`` is False."""
    query = (select(LoginThrottle, User.id).outerjoin(User, User.username == LoginThrottle.username)
             .outerjoin(Org, Org.id == User.org_id).where(_administered(actor)))
    if username is not None:
        query = query.where(LoginThrottle.username == username_key(username))
    if locked_only:
        query = query.where(LoginThrottle.locked_until > clock.now())
    rows = session.execute(query.order_by(LoginThrottle.last_failure_at.desc(), LoginThrottle.id)).all()
    return [LoginLock(r.id, r.username or None, r.source, r.failures, r.lock_count, r.locked_until,
                      r.last_failure_at, user_id) for r, user_id in rows]


def locked_accounts(session: Session, *, usernames: list[str] | None = None) -> dict[str, datetime]:
    """Return, per username locked at some address right now, when its last lock ends."""
    query = (select(LoginThrottle.username, LoginThrottle.locked_until)
             .where(LoginThrottle.locked_until > clock.now(), LoginThrottle.username != WHOLE_SOURCE))
    if usernames is not None:
        query = query.where(LoginThrottle.username.in_(usernames))
    ends: dict[str, datetime] = {}
    for name, until in session.execute(query):
        ends[name] = max(ends.get(name, until), until)
    return ends


def unlock_user(session: Session, *, actor: Actor, username: str) -> int:
    """Clear every failure counter and lock of a user, from every source; return how many were cleared."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户 '{username}' 不存在", message_en=f"user '{username}' not found")
    _require_admin(actor, user.org.path)
    rows = list(session.scalars(select(LoginThrottle).where(LoginThrottle.username == user.username)))
    return _clear(session, rows, actor=actor, user_id=user.id, username=user.username)


def clear_lock(session: Session, *, actor: Actor, lock_id: int) -> LoginLock:
    """Clear one failure counter (of a user, an unknown name or a whole source)."""
    row = session.get(LoginThrottle, lock_id)
    visible = {lock.id: lock for lock in list_locks(session, actor=actor, locked_only=False)} if row else {}
    if row is None or lock_id not in visible:
        raise NotFound(f"锁定记录 {lock_id} 不存在", message_en=f"lock {lock_id} not found")
    _clear(session, [row], actor=actor, user_id=visible[lock_id].user_id, username=row.username or None)
    return visible[lock_id]


def _clear(session: Session, rows: list[LoginThrottle], *, actor: Actor, user_id: int | None,
           username: str | None) -> int:
    now = clock.now()
    session.add(SecurityEvent(
        at=now, kind=SecurityEventKind.UNLOCKED, username=username, user_id=user_id, actor=actor.username,
        source=rows[0].source if len(rows) == 1 else None,
        detail={"cleared": [{"source": r.source, "failures": r.failures,
                             "locked_until": r.locked_until.isoformat() if r.locked_until else None}
                            for r in rows]}))
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def _require_admin(actor: Actor, org_path: str) -> None:
    # engine.runtime.admin.require_admin's rule; imported from there it would close an import cycle
    # (admin → auth → lockout → admin).
    if not actor.has_role("admin", org_path):
        raise NotAllowed("需要该组织范围内的系统管理员权限", message_en="requires the admin role over this org")


def security_events(session: Session, *, actor: Actor, username: str | None = None,
                    limit: int = 100) -> list[SecurityEvent]:
    """Return the newest security events about accounts the actor administers (all of them for a top admin)."""
    query = (select(SecurityEvent).outerjoin(User, User.id == SecurityEvent.user_id)
             .outerjoin(Org, Org.id == User.org_id).where(_administered(actor)))
    if username is not None:
        query = query.where(SecurityEvent.username == username_key(username))
    return list(session.scalars(query.order_by(SecurityEvent.at.desc(), SecurityEvent.id.desc()).limit(limit)))

