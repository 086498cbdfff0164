"""Sign-in: passwords (throttled by engine/org/lockout.py), password changes, and API tokens stored hashed."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, aliased

from .. import clock
from ..errors import EngineError, FormInvalid, NotAllowed, NotFound, Problem
from ..store.models import ApiToken, Org, RoleAssignment, User
from . import lockout
from .lockout import AccountLocked  # noqa: F401  (raised by authenticate; callers import it from here)
from .orgs import Actor, check_password, set_password

TOKEN_PREFIX = "pa_"
TOKEN_USE_GRANULARITY = timedelta(minutes=10)
_hasher = PasswordHasher()
# Verified against unknown usernames so a wrong name costs the same argon2 work as a wrong password.
_DUMMY_HASH = _hasher.hash("pingan-no-such-user")


class AuthenticationFailed(EngineError):
    code, status = "authentication_failed", 401


def authenticate(session: Session, *, username: str, password: str, source: str | None) -> User:
    """Check a username and password sent from ``source`` (the client's address), with lock-out.

    A wrong password gets the same answer whether or not the username exists: one message that
    counts nothing down, the same argon2 work (a dummy hash for unknown names), and the same
    throttling by (username, source) and by source (engine/org/lockout.py). Failures are recorded in
    the session even though this raises: the caller commits before it reports the error.
    """
    name = (username or "").strip()
    lockout.check(session, username=name, source=source)
    user = session.scalar(select(User).where(User.username == name))
    if user is not None and user.active:
        ok = check_password(user, password or "")
    else:
        _waste_time(password)
        ok = False
    if not ok:
        until = lockout.record_failure(session, username=name, source=source,
                                       user_id=user.id if user is not None else None)
        if until is not None:
            raise lockout.locked_error(session, until)
        raise AuthenticationFailed("用户名或密码错误", message_en="wrong username or password")
    lockout.record_success(session, username=name, source=source)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.flush()
    return user


def _waste_time(password: str | None) -> None:
    try:
        _hasher.verify(_DUMMY_HASH, password or "")
    except Exception:  # always a mismatch; only the time spent matters
        pass


def change_password(session: Session, *, user_id: int, old: str, new: str) -> None:
    """Change one's own password after checking the current one."""
    user = _user(session, user_id)
    problems = []
    if not check_password(user, old or ""):
        problems.append(Problem("原密码不正确", "the current password is wrong", field="old_password"))
    problems += _password_problems(user, new)
    if not problems and new == old:
        problems.append(Problem("新密码不能与原密码相同", "the new password must differ", field="new_password"))
    if problems:
        raise FormInvalid("修改密码失败", message_en="the password was not changed", details=problems)
    set_password(user, new)
    session.flush()


def reset_password(session: Session, *, user_id: int, new: str, actor: Actor) -> None:
    """Set a user's password without the old one (an administrator's action); also unlocks, audited."""
    user = _user(session, user_id)
    problems = _password_problems(user, new)
    if problems:
        raise FormInvalid("密码不符合要求", message_en="the password was not accepted", details=problems)
    set_password(user, new)
    lockout.unlock_user(session, actor=actor, username=user.username)
    session.flush()


def _password_problems(user: User, new: str | None) -> list[Problem]:
    new = new or ""
    if len(new) < 8:
        return [Problem("新密码至少 8 位", "at least 8 characters", field="new_password")]
    if len(new) > 200:
        return [Problem("新密码最多 200 位", "at most 200 characters", field="new_password")]
    if new.lower() == user.username.lower():
        return [Problem("密码不能与用户名相同", "the password must differ from the username", field="new_password")]
    return []


def password_fingerprint(user: User) -> str:
    """Return a short digest of the stored hash: a page session ends when the password changes."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def issue_token(session: Session, *, username: str, label: str = "", created_by: str | None = None) -> str:
    """Create an API token for an active user and return it; only its hash is stored."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(f"用户 '{username}' 不存在或已停用", message_en=f"user '{username}' not found or inactive")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, label=(label or "")[:100], token_hash=_digest(token),
                         prefix=token[:10], created_at=clock.now(), created_by=created_by or username))
    session.flush()
    return token


_user_org, _grant_org = aliased(Org), aliased(Org)
# Built once: every API request runs it, and building the statement cost more than running it.
_TOKEN_HOLDER = (
    select(ApiToken.id, ApiToken.revoked_at, ApiToken.last_used_at, User.id, User.username, User.name,
           User.org_id, User.active, _user_org.path, RoleAssignment.role, _grant_org.path)
    .join(User, User.id == ApiToken.user_id).join(_user_org, _user_org.id == User.org_id)
    .outerjoin(RoleAssignment, RoleAssignment.user_id == User.id)
    .outerjoin(_grant_org, _grant_org.id == RoleAssignment.org_id)
    .where(ApiToken.token_hash == bindparam("token_hash")).order_by(RoleAssignment.id)
)


@dataclass(frozen=True)
class TokenHolder:
    """Who a bearer token stands for, and whether its last use is due to be recorded."""

    actor: Actor
    token_id: int
    use_due: bool


def token_holder(session: Session, token: str) -> TokenHolder:
    """Resolve a bearer token in one query (token, user, org, grants) or raise AuthenticationFailed.

    Reads only: a request that merely reads records the use through a writing session of its own
    (``record_token_use``), so the check never takes SQLite's write lock.
    """
    rows = session.connection().execute(_TOKEN_HOLDER, {"token_hash": _digest(token or "")}).all()
    if not rows or rows[0][1] is not None or not rows[0][7]:
        raise AuthenticationFailed("访问令牌无效或已撤销", message_en="invalid or revoked token")
    token_id, _revoked, last_used, user_id, username, name, org_id, _active, org_path = rows[0][:9]
    actor = Actor(id=user_id, username=username, name=name, org_id=org_id, org_path=org_path,
                  grants=tuple((row[9], row[10]) for row in rows if row[9] is not None))
    # Record use coarsely: a write on every request would serialise readers on SQLite.
    due = last_used is None or clock.now() - last_used > TOKEN_USE_GRANULARITY
    return TokenHolder(actor, token_id, due)


def record_token_use(session: Session, *, token_id: int) -> None:
    """Stamp a token's last use with the current time."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=clock.now()))


def actor_for_token(session: Session, token: str) -> Actor:
    """Return the Actor a bearer token stands for (recording its use in ``session``), or raise AuthenticationFailed."""
    holder = token_holder(session, token)
    if holder.use_due:
        record_token_use(session, token_id=holder.token_id)
    return holder.actor


def list_tokens(session: Session, *, user_id: int | None = None) -> list[ApiToken]:
    """Return API tokens (of one user, or all), newest first."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_token(session: Session, *, token_id: int, actor: Actor) -> ApiToken:
    """Revoke a token: its owner or an administrator may."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"令牌 {token_id} 不存在", message_en=f"token {token_id} not found")
    if row.user_id != actor.id and not actor.has_role("admin", row.user.org.path):
        raise NotAllowed("只能撤销自己的令牌", message_en="you may only revoke your own tokens")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
    return row


def revoke_token_value(session: Session, *, token: str) -> None:
    """Revoke the token given (signing out of the API)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token or "")))
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()


def revoke_user_tokens(session: Session, *, user_id: int) -> int:
    """Revoke every live token of a user (on deactivation); return how many."""
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))).all()
    now = clock.now()
    for row in rows:
        row.revoked_at = now
    session.flush()
    return len(rows)


def _digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash cannot be brute-forced; it keeps lookups indexed.
    return hashlib.sha256(token.encode()).hexdigest()


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在", message_en=f"user {user_id} not found")
    return user
