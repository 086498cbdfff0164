"""Organisations, users and roles: who may act where."""
from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import EngineError, NotFound
from ..store.models import Org, RoleAssignment, User

ROLES: dict[str, str] = {
    "admin": "系统管理员",
    "designer": "流程设计员",
    "dispatcher": "调度员",
    "grid_worker": "网格员",
    "mediator": "调解员",
    "handler": "承办人",
    "inspector": "督查员",
    "assessor": "考核员",
    "leader": "领导",
    "board": "看板查看",
}
# Lanes may be named by key or by Chinese label; a few common synonyms are accepted too.
_ROLE_ALIASES = {label: key for key, label in ROLES.items()} | {
    "受理员": "dispatcher", "综治中心受理员": "dispatcher", "人民调解员": "mediator",
    "成员单位承办人": "handler", "系统": None,
}

ORG_KINDS = ("province", "city", "county", "township", "village", "grid", "unit")

_hasher = PasswordHasher()


def role_for_lane(lane: str | None) -> str | None:
    """Return the role key a lane name stands for, or None if the lane is not a role."""
    if lane is None:
        return None
    lane = lane.strip()
    if lane in ROLES:
        return lane
    # "调解员 mediator" or "调解员（mediator）" style names: any known word wins.
    if lane in _ROLE_ALIASES:
        return _ROLE_ALIASES[lane]
    for word in lane.replace("（", " ").replace("(", " ").replace("）", " ").replace(")", " ").split():
        if word in ROLES:
            return word
        if _ROLE_ALIASES.get(word):
            return _ROLE_ALIASES[word]
    return None


@dataclass(frozen=True)
class Actor:
    """The person acting: resolved once per request or command."""

    id: int
    username: str
    name: str
    org_id: int
    org_path: str
    # (role, org path) pairs: a role held in an org applies to its whole subtree.
    grants: tuple[tuple[str, str], ...]

    def has_role(self, role: str, org_path: str | None = None) -> bool:
        """Tell whether the actor holds ``role`` over the org at ``org_path`` (or anywhere)."""
        return any(r == role and (org_path is None or org_path.startswith(p)) for r, p in self.grants)

    @property
    def is_admin(self) -> bool:
        return any(r == "admin" for r, _ in self.grants)


SYSTEM = Actor(id=0, username="system", name="系统", org_id=0, org_path="/", grants=())


def actor_for(session: Session, *, username: str) -> Actor:
    """Load the acting user with their role grants."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(f"用户 '{username}' 不存在或已停用", message_en=f"user '{username}' not found or inactive")
    return _actor(user)


def actor_by_id(session: Session, *, user_id: int) -> Actor:
    """Load an acting user by id."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(f"用户 {user_id} 不存在或已停用", message_en=f"user {user_id} not found or inactive")
    return _actor(user)


def _actor(user: User) -> Actor:
    return Actor(id=user.id, username=user.username, name=user.name, org_id=user.org_id,
                 org_path=user.org.path, grants=tuple((g.role, g.org.path) for g in user.roles))


def get_org(session: Session, *, code: str) -> Org:
    """Return the org with ``code`` or raise NotFound."""
    org = session.scalar(select(Org).where(Org.code == code))
    if org is None:
        raise NotFound(f"组织 '{code}' 不存在", message_en=f"org '{code}' not found")
    return org


def org_names(session: Session, *, codes: list[str]) -> dict[str, str]:
    """Return org names by code for the codes that exist."""
    if not codes:
        return {}
    return dict(session.execute(select(Org.code, Org.name).where(Org.code.in_(codes))).all())


def user_names(session: Session, *, usernames: list[str]) -> dict[str, str]:
    """Return display names by username for the usernames that exist."""
    if not usernames:
        return {}
    return dict(session.execute(select(User.username, User.name).where(User.username.in_(usernames))).all())


def list_users(session: Session) -> list[User]:
    """Return every user, active or not, by username, with their role grants loaded."""
    return list(session.scalars(select(User).order_by(User.username)))


def create_org(session: Session, *, code: str, name: str, kind: str, parent_code: str | None = None) -> Org:
    """Create an org under its parent and give it its materialised path."""
    if kind not in ORG_KINDS:
        raise EngineError(f"未知的组织类型 '{kind}'", message_en=f"unknown org kind '{kind}'")
    if session.scalar(select(Org.id).where(Org.code == code)) is not None:
        raise EngineError(f"组织编码 '{code}' 已存在", message_en=f"org code '{code}' already exists")
    parent = get_org(session, code=parent_code) if parent_code else None
    org = Org(code=code, name=name, kind=kind, parent_id=parent.id if parent else None)
    session.add(org)
    session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    session.flush()
    return org


def create_user(session: Session, *, username: str, name: str, org_code: str, password: str,
                roles: list[tuple[str, str]] = (), phone: str | None = None) -> User:
    """Create a user in an org with (role, org code) grants."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise EngineError(f"用户名 '{username}' 已存在", message_en=f"username '{username}' already exists")
    user = User(username=username, name=name, org_id=get_org(session, code=org_code).id,
                password_hash=_hasher.hash(password), phone=phone)
    session.add(user)
    session.flush()
    for role, code in roles:
        grant_role(session, user=user, role=role, org_code=code)
    return user


def grant_role(session: Session, *, user: User, role: str, org_code: str) -> None:
    """Give ``user`` a role within an org subtree."""
    if role not in ROLES:
        raise EngineError(f"未知角色 '{role}'", message_en=f"unknown role '{role}'")
    session.add(RoleAssignment(user_id=user.id, role=role, org_id=get_org(session, code=org_code).id))
    session.flush()
    session.expire(user, ["roles"])


def check_password(user: User, password: str) -> bool:
    """Verify a password against the stored argon2 hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(user: User, password: str) -> None:
    """Store a new argon2 hash for the user's password."""
    if len(password) < 8:
        raise EngineError("密码至少 8 位", message_en="password must be at least 8 characters")
    user.password_hash = _hasher.hash(password)


def users_with_role(session: Session, *, role: str, org_path: str) -> list[User]:
    """Return active users holding ``role`` over the org at ``org_path``."""
    rows = session.scalars(
        select(User).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(Org, Org.id == RoleAssignment.org_id)
        .where(RoleAssignment.role == role, User.active.is_(True))
    ).unique().all()
    return [u for u in rows if any(g.role == role and org_path.startswith(g.org.path) for g in u.roles)]
