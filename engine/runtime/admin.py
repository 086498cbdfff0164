"""Administration: the org tree, users and their roles, handing a leaver's tasks on, errored cases, definitions."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from ..errors import Conflict, EngineError, NotAllowed, NotFound, Problem
from ..org.auth import revoke_user_tokens
from ..org.orgs import ROLES, Actor, actor_by_id, create_org, create_user, get_org, grant_role, users_with_role
from ..store import audit, tallies
from ..store.audit import EntryKind
from ..store.models import HumanTask, Instance, InstanceStatus, Org, ProcessDefinition, RoleAssignment, TaskStatus, User
from .lifecycle import lock_instance
from .notifications import NotificationKind, notify


def require_admin(actor: Actor, org_path: str = "/") -> None:
    """Refuse unless the actor is an administrator over the org at ``org_path``."""
    if not actor.has_role("admin", org_path):
        raise NotAllowed("需要该组织范围内的系统管理员权限", message_en="requires the admin role over this org")


def get_user(session: Session, *, username: str) -> User:
    """Return a user, active or not, or raise NotFound."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户 '{username}' 不存在", message_en=f"user '{username}' not found")
    return user


# ---- orgs -----------------------------------------------------------------------------------------

def org_tree(session: Session) -> list[Org]:
    """Return every org in tree order (parents before their children)."""
    return list(session.scalars(select(Org).order_by(Org.path)))


def add_org(session: Session, *, actor: Actor, code: str, name: str, kind: str, parent_code: str | None) -> Org:
    """Create an org under a parent the actor administers (only a root admin may add a new root)."""
    parent = get_org(session, code=parent_code) if parent_code else None
    require_admin(actor, parent.path if parent else "/")
    if not parent and not actor.has_role("admin", "/"):
        raise NotAllowed("只有根组织的管理员可以新建顶级组织", message_en="only a root admin may add a top-level org")
    return create_org(session, code=code, name=name, kind=kind, parent_code=parent_code)


# ---- users and roles ------------------------------------------------------------------------------

def list_users(session: Session, *, actor: Actor, org_code: str | None = None,
               include_inactive: bool = True) -> list[User]:
    """Return the users the actor administers (home org in the subtree of ``org_code`` when given)."""
    scopes = [p for r, p in actor.grants if r == "admin"]
    if not scopes:
        raise NotAllowed("需要系统管理员权限", message_en="requires the admin role")
    query = select(User).join(Org, Org.id == User.org_id).where(or_(*[Org.path.startswith(p) for p in scopes]))
    if org_code:
        query = query.where(Org.path.startswith(get_org(session, code=org_code).path))
    if not include_inactive:
        query = query.where(User.active.is_(True))
    return list(session.scalars(query.order_by(Org.path, User.username)))


def add_user(session: Session, *, actor: Actor, username: str, name: str, org_code: str, password: str,
             roles: list[tuple[str, str]] = (), phone: str | None = None) -> User:
    """Create a user in an org the actor administers, with roles in orgs they administer."""
    require_admin(actor, get_org(session, code=org_code).path)
    for _, code in roles:
        require_admin(actor, get_org(session, code=code).path)
    if len(password or "") < 8:
        raise EngineError("初始密码至少 8 位", message_en="the initial password needs at least 8 characters",
                          details=[Problem("初始密码至少 8 位", "at least 8 characters", field="password")])
    return create_user(session, username=username, name=name, org_code=org_code, password=password,
                       roles=list(roles), phone=phone)


def update_user(session: Session, *, actor: Actor, username: str, name: str | None = None,
                phone: str | None = None) -> User:
    """Change a user's name or phone number."""
    user = get_user(session, username=username)
    require_admin(actor, user.org.path)
    if name is not None:
        if not name.strip():
            raise EngineError("姓名不能为空", message_en="the name may not be empty")
        user.name = name.strip()[:100]
    if phone is not None:
        user.phone = phone.strip()[:32] or None
    session.flush()
    return user


def add_role(session: Session, *, actor: Actor, username: str, role: str, org_code: str) -> User:
    """Grant a role within an org subtree."""
    user = get_user(session, username=username)
    org = get_org(session, code=org_code)
    require_admin(actor, org.path)
    if role not in ROLES:
        raise EngineError(f"未知角色 '{role}'，可选：{'、'.join(ROLES)}", message_en=f"unknown role '{role}'")
    if any(g.role == role and g.org_id == org.id for g in user.roles):
        raise Conflict(f"{user.name} 已在“{org.name}”担任该角色", message_en="the user already holds this role there")
    grant_role(session, user=user, role=role, org_code=org_code)
    return user


def remove_role(session: Session, *, actor: Actor, username: str, role: str, org_code: str) -> User:
    """Withdraw a role; tasks the user can then no longer act on must be handed over first (see move_user)."""
    user = get_user(session, username=username)
    org = get_org(session, code=org_code)
    require_admin(actor, org.path)
    grant = next((g for g in user.roles if g.role == role and g.org_id == org.id), None)
    if grant is None:
        raise NotFound(f"{user.name} 在“{org.name}”没有角色 {role}", message_en="no such role assignment")
    remaining = [(g.role, g.org.path) for g in user.roles if g is not grant]
    stuck = [t for t in _held_tasks(session, user.id) if not _may_hold(t, user.id, remaining)]
    if stuck:
        raise Conflict(f"{user.name} 还有 {len(stuck)} 个待办任务需要该角色，请先移交（调整组织/停用时可指定接替人）",
                       message_en=f"{len(stuck)} open tasks need this role; hand them over first",
                       details=[Problem(f"{t.title}（案件 {t.instance_id}）", t.id) for t in stuck[:20]])
    user.roles.remove(grant)
    session.flush()
    return user


@dataclass
class HandOver:
    """What happened to a leaver's open tasks."""

    to_successor: list[HumanTask] = field(default_factory=list)
    to_pool: list[HumanTask] = field(default_factory=list)
    to_owner: list[HumanTask] = field(default_factory=list)
    # Back in a role pool that nobody else is in: an administrator must staff it.
    unstaffed: list[HumanTask] = field(default_factory=list)


def deactivate_user(session: Session, *, actor: Actor, username: str, successor: str | None = None,
                    opinion: str | None = None) -> HandOver:
    """Deactivate a user and, in the same step, hand their open tasks to ``successor`` or back to the pools."""
    user = get_user(session, username=username)
    require_admin(actor, user.org.path)
    if user.id == actor.id:
        raise EngineError("不能停用自己的账号", message_en="you cannot deactivate yourself")
    if not user.active:
        raise Conflict(f"{user.name} 已停用", message_en="the user is already inactive")
    heir = _successor(session, successor, user)
    result = _hand_over(session, user=user, heir=heir, actor=actor, keep=lambda t: False,
                        reason="deactivated", opinion=opinion)
    user.active = False
    revoke_user_tokens(session, user_id=user.id)
    session.flush()
    return result


def reactivate_user(session: Session, *, actor: Actor, username: str) -> User:
    """Let a deactivated user sign in again."""
    user = get_user(session, username=username)
    require_admin(actor, user.org.path)
    user.active, user.failed_logins, user.locked_until = True, 0, None
    session.flush()
    return user


def move_user(session: Session, *, actor: Actor, username: str, org_code: str, successor: str | None = None,
              roles: list[tuple[str, str]] | None = None, opinion: str | None = None) -> HandOver:
    """Move a user to another org; their roles follow (or are replaced by ``roles``), and tasks they can
    no longer act on go to ``successor`` or back to the pools, in the same step."""
    user = get_user(session, username=username)
    target = get_org(session, code=org_code)
    require_admin(actor, user.org.path)
    require_admin(actor, target.path)
    if not user.active:
        raise Conflict(f"{user.name} 已停用", message_en="the user is inactive")
    old_org_id = user.org_id
    if roles is None:
        # Roles held at the old home org move to the new one; roles held elsewhere stay.
        roles = [(g.role, target.code if g.org_id == old_org_id else g.org.code) for g in user.roles]
    for _, code in roles:
        require_admin(actor, get_org(session, code=code).path)
    grants = [(role, get_org(session, code=code).path) for role, code in dict.fromkeys(roles)]
    heir = _successor(session, successor, user)
    result = _hand_over(session, user=user, heir=heir, actor=actor, reason="moved", opinion=opinion,
                        keep=lambda t: _may_hold(t, user.id, grants))
    session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user.id))
    session.expire(user, ["roles"])
    user.org_id = target.id
    session.flush()
    for role, code in dict.fromkeys(roles):
        grant_role(session, user=user, role=role, org_code=code)
    session.expire(user, ["org", "roles"])
    return result


def _successor(session: Session, username: str | None, leaver: User) -> User | None:
    if not username:
        return None
    heir = get_user(session, username=username)
    if not heir.active:
        raise EngineError(f"接替人 {heir.name} 已停用", message_en="the successor is inactive")
    if heir.id == leaver.id:
        raise EngineError("接替人不能是本人", message_en="the successor must be someone else")
    return heir


def _held_tasks(session: Session, user_id: int) -> list[HumanTask]:
    return list(session.scalars(select(HumanTask).where(
        HumanTask.status == TaskStatus.OPEN, or_(HumanTask.assignee_id == user_id, HumanTask.owner_id == user_id))
        .order_by(HumanTask.instance_id, HumanTask.created_at)))


def _task_org_path(task: HumanTask) -> str:
    return task.candidate_org.path if task.candidate_org else "/"


def _may_hold(task: HumanTask, user_id: int, grants: list[tuple[str, str]]) -> bool:
    """Whether the user could still act on a task they hold, with ``grants`` as their roles."""
    if task.assignee_id == user_id and task.owner_id not in (None, user_id):
        return True  # a delegate needs no role of their own
    if task.candidate_role is None:
        return True  # assigned by name in the process, not through a role
    path = _task_org_path(task)
    return any(r == task.candidate_role and path.startswith(p) for r, p in grants)


def _hand_over(session: Session, *, user: User, heir: User | None, actor: Actor, keep, reason: str,
               opinion: str | None) -> HandOver:
    tasks = [t for t in _held_tasks(session, user.id) if not keep(t)]
    heir_actor = actor_by_id(session, user_id=heir.id) if heir else None
    problems = []
    for t in tasks:
        delegate_of_someone = t.assignee_id == user.id and t.owner_id not in (None, user.id)
        if delegate_of_someone:
            continue
        if heir_actor is not None and t.candidate_role and not heir_actor.has_role(t.candidate_role, _task_org_path(t)):
            problems.append(Problem(f"“{t.title}”（案件 {t.instance_id}）需要角色 {ROLES.get(t.candidate_role, t.candidate_role)}，"
                                    f"{heir.name} 不具备", f"{heir.username} lacks role {t.candidate_role} for task {t.id}"))
        if heir_actor is None and t.candidate_role is None:
            problems.append(Problem(f"“{t.title}”（案件 {t.instance_id}）是指定给本人的任务，没有角色任务池，请指定接替人",
                                    f"task {t.id} has no role pool; name a successor"))
    if problems:
        raise Conflict("部分任务无法按要求移交，未做任何更改", message_en="some tasks cannot be handed over; nothing changed",
                       details=problems)
    result = HandOver()
    for t in tasks:
        instance = lock_instance(session, instance_id=t.instance_id)
        session.refresh(t)
        if t.status != TaskStatus.OPEN:
            continue
        if t.assignee_id == user.id and t.owner_id not in (None, user.id):
            t.assignee_id, t.owner_id, to, bucket = t.owner_id, None, session.get(User, t.owner_id), result.to_owner
        elif heir is not None:
            if t.owner_id == user.id and t.assignee_id != user.id:
                t.owner_id = heir.id  # the delegate finishes their part and hands it to the successor
            else:
                t.assignee_id, t.owner_id = heir.id, None
            to, bucket = heir, result.to_successor
        else:
            t.assignee_id, t.owner_id, to, bucket = None, None, None, result.to_pool
        bucket.append(t)
        audit.record(session, instance=instance, kind=EntryKind.REASSIGNED, actor=actor.username, task_id=t.id,
                     element_id=t.element_id, opinion=opinion,
                     payload={"from": user.username, "to": to.username if to else None, "reason": reason,
                              "pool": to is None, "title": t.title})
        if to is not None:
            notify(session, user_ids=[to.id], kind=NotificationKind.TASK, instance_id=t.instance_id, task_id=t.id,
                   text=f"{user.name} 的任务“{t.title}”已移交给您（{instance.title}）")
    session.flush()
    for t in result.to_pool:
        others = [u for u in users_with_role(session, role=t.candidate_role or "", org_path=_task_org_path(t))
                  if u.id != user.id]
        if not others:
            result.unstaffed.append(t)
    return result


# ---- errored cases and definitions ----------------------------------------------------------------

def errored_instances(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[Instance], int]:
    """Return cases in error, most recently failed first, and how many there are."""
    query = select(Instance).where(Instance.status == InstanceStatus.ERROR)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(Instance.updated_at.desc()).limit(limit).offset(offset))), total


def list_definitions(session: Session) -> list[ProcessDefinition]:
    """Return every deployed version, by key, newest version first."""
    return list(session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())))


def instance_counts(session: Session) -> dict[int, dict[str, int]]:
    """Return case counts by status for each definition id."""
    # Summed from the tallies the database keeps, not counted from a million finished cases.
    return tallies.instance_counts(session)
