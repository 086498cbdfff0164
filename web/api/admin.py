"""Administration for the admin pages: orgs, users and roles, hand-over, API tokens, errored cases, definitions."""
from __future__ import annotations

from engine.cases.summaries import case_summaries, task_summaries
from engine.errors import NotFound
from engine.org import auth as engine_auth, lockout
from engine.runtime import admin, lifecycle
from engine.runtime.admin import HandOver
from engine.store.models import ApiToken, User

from .. import db
from ..auth import role_required
from .common import ApiBlueprint, actor, errors
from .schemas import PageArgs
from .schemas_admin import (
    DeactivateRequest, DefinitionDetailSchema, DefinitionSchema, ErroredListSchema, ErroredSchema, HandOverSchema,
    LoginLockArgs, LoginLockSchema, MoveRequest, NewTokenRequest, NewTokenSchema, NewUserRequest, OrgRequest, OrgSchema,
    PasswordReset, RetryRequest, RoleRequest, SecurityEventArgs, SecurityEventSchema, TokenArgs, TokenRow, UserListArgs,
    UserSchema, UserUpdate,
)

blp = ApiBlueprint("admin", __name__, url_prefix="/admin", description="系统管理 (administration; admin role)")


@blp.before_request
@role_required("admin")
def _admins_only():
    return None


# ---- presenters -----------------------------------------------------------------------------------

def _user(user: User, locks: dict | None = None) -> dict:
    if locks is None:
        locks = lockout.locked_accounts(db.session(), usernames=[user.username])
    return {"username": user.username, "name": user.name, "org": user.org.code, "active": user.active,
            "phone": user.phone, "locked_until": locks.get(user.username),
            "roles": [{"role": g.role, "org": g.org.code} for g in user.roles]}


def _hand_over(s, user: User, result: HandOver) -> dict:
    def rows(tasks):
        return [{"id": t["id"], "instance_id": t["instance_id"], "title": t["title"], "case_title": t["case_title"],
                 "assignee": t["assignee"], "candidate_role": t["candidate_role"], "candidate_org": t["candidate_org"]}
                for t in task_summaries(s, tasks)]
    s.refresh(user)
    return {"user": _user(user), "to_successor": rows(result.to_successor), "to_pool": rows(result.to_pool),
            "to_owner": rows(result.to_owner), "unstaffed": rows(result.unstaffed)}


def _token(row: ApiToken) -> dict:
    return {"id": row.id, "username": row.user.username, "label": row.label, "prefix": row.prefix,
            "created_at": row.created_at, "created_by": row.created_by, "last_used_at": row.last_used_at,
            "revoked_at": row.revoked_at}


# ---- orgs -----------------------------------------------------------------------------------------

@blp.route("/orgs", methods=["GET"])
@blp.response(200, OrgSchema(many=True))
@errors(403)
def list_orgs():
    """组织树（按层级顺序，`parent` 为上级编码，`depth` 为层级）。"""
    orgs = admin.org_tree(db.session())
    codes = {o.id: o.code for o in orgs}
    return [{"code": o.code, "name": o.name, "kind": o.kind, "parent": codes.get(o.parent_id),
             "depth": o.path.count("/") - 2} for o in orgs]


@blp.route("/orgs", methods=["POST"])
@blp.arguments(OrgRequest)
@blp.response(201, OrgSchema)
@errors(403)
def create_org(body):
    """新建组织（在本人管理的组织下）。"""
    org = admin.add_org(db.session(), actor=actor(), code=body["code"], name=body["name"], kind=body["kind"],
                        parent_code=body.get("parent"))
    db.commit()
    return {"code": org.code, "name": org.name, "kind": org.kind, "parent": body.get("parent"),
            "depth": org.path.count("/") - 2}


# ---- users ----------------------------------------------------------------------------------------

@blp.route("/users", methods=["GET"])
@blp.arguments(UserListArgs, location="query")
@blp.response(200, UserSchema(many=True))
@errors(403)
def list_users(args):
    """本人管理范围内的用户及其角色（可按组织筛选，含下级）。"""
    users = admin.list_users(db.session(), actor=actor(), org_code=args.get("org"))
    if "active" in args:
        users = [u for u in users if u.active == args["active"]]
    locks = lockout.locked_accounts(db.session())
    return [_user(u, locks) for u in users]


@blp.route("/users", methods=["POST"])
@blp.arguments(NewUserRequest)
@blp.response(201, UserSchema)
@errors(403)
def create_user(body):
    """新建用户，可同时授予角色。"""
    user = admin.add_user(db.session(), actor=actor(), username=body["username"], name=body["name"],
                          org_code=body["org"], password=body["password"], phone=body.get("phone"),
                          roles=[(r["role"], r["org"]) for r in body["roles"]])
    db.commit()
    return _user(user)


def _visible_user(username: str) -> User:
    user = admin.get_user(db.session(), username=username[:64])
    if not actor().has_role("admin", user.org.path):
        raise NotFound(f"用户 '{username}' 不存在", message_en=f"user '{username}' not found")
    return user


@blp.route("/users/<string:username>", methods=["GET"])
@blp.response(200, UserSchema)
@errors(403)
def get_user(username: str):
    """用户详情。"""
    return _user(_visible_user(username))


@blp.route("/users/<string:username>", methods=["PATCH"])
@blp.arguments(UserUpdate)
@blp.response(200, UserSchema)
@errors(403)
def update_user(body, username: str):
    """修改姓名、电话。"""
    _visible_user(username)
    user = admin.update_user(db.session(), actor=actor(), username=username, name=body.get("name"),
                             phone=body.get("phone"))
    db.commit()
    return _user(user)


@blp.route("/users/<string:username>/roles", methods=["POST"])
@blp.arguments(RoleRequest)
@blp.response(200, UserSchema)
@errors(403, 409)
def add_role(body, username: str):
    """授予角色（在某组织及其下级范围内）。"""
    _visible_user(username)
    user = admin.add_role(db.session(), actor=actor(), username=username, role=body["role"], org_code=body["org"])
    db.commit()
    return _user(user)


@blp.route("/users/<string:username>/roles/<string:role>/<string:org>", methods=["DELETE"])
@blp.response(200, UserSchema)
@errors(403, 409)
def remove_role(username: str, role: str, org: str):
    """收回角色；若其待办任务仍需要该角色，返回 409，请先移交。"""
    _visible_user(username)
    user = admin.remove_role(db.session(), actor=actor(), username=username, role=role[:32], org_code=org[:64])
    db.commit()
    return _user(user)


@blp.route("/users/<string:username>/deactivate", methods=["POST"])
@blp.arguments(DeactivateRequest)
@blp.response(200, HandOverSchema)
@errors(403, 409)
def deactivate(body, username: str):
    """停用用户，并在同一步中把其待办任务交给接替人（或退回角色任务池）；每个案件的历史都有记录，其 API 令牌全部撤销。"""
    user = _visible_user(username)
    result = admin.deactivate_user(db.session(), actor=actor(), username=username, successor=body.get("successor"),
                                   opinion=body.get("opinion"))
    out = _hand_over(db.session(), user, result)
    db.commit()
    return out


@blp.route("/users/<string:username>/reactivate", methods=["POST"])
@blp.response(200, UserSchema)
@errors(403)
def reactivate(username: str):
    """重新启用用户。"""
    _visible_user(username)
    user = admin.reactivate_user(db.session(), actor=actor(), username=username)
    db.commit()
    return _user(user)


@blp.route("/users/<string:username>/move", methods=["POST"])
@blp.arguments(MoveRequest)
@blp.response(200, HandOverSchema)
@errors(403, 409)
def move(body, username: str):
    """调整用户到另一个组织：角色随人迁移（或按 `roles` 重新设定），不再有权办理的待办任务交给接替人或退回任务池。"""
    user = _visible_user(username)
    roles = [(r["role"], r["org"]) for r in body["roles"]] if body.get("roles") is not None else None
    result = admin.move_user(db.session(), actor=actor(), username=username, org_code=body["org"],
                             successor=body.get("successor"), roles=roles, opinion=body.get("opinion"))
    out = _hand_over(db.session(), user, result)
    db.commit()
    return out


@blp.route("/users/<string:username>/unlock", methods=["POST"])
@blp.response(200, UserSchema)
@errors(403)
def unlock(username: str):
    """解除该用户在所有来源地址上的登录锁定（记入安全日志）。"""
    user = _visible_user(username)
    lockout.unlock_user(db.session(), actor=actor(), username=user.username)
    db.commit()
    return _user(user)


@blp.route("/users/<string:username>/password", methods=["POST"])
@blp.arguments(PasswordReset)
@blp.response(204)
@errors(403)
def reset_password(body, username: str):
    """重置密码（同时解除锁定；该用户已登录的页面会话随之失效）。"""
    user = _visible_user(username)
    engine_auth.reset_password(db.session(), user_id=user.id, new=body["password"], actor=actor())
    db.commit()


# ---- sign-in locks and the security log -----------------------------------------------------------

def _lock(lock: lockout.LoginLock) -> dict:
    return {"id": lock.id, "username": lock.username, "source": lock.source, "failures": lock.failures,
            "lock_count": lock.lock_count, "locked_until": lock.locked_until, "last_failure_at": lock.last_failure_at}


@blp.route("/login-locks", methods=["GET"])
@blp.arguments(LoginLockArgs, location="query")
@blp.response(200, LoginLockSchema(many=True))
@errors(403)
def list_login_locks(args):
    """登录锁定（按“用户名 + 来源地址”及来源地址整体计数）；顶级组织的管理员还能看到不存在的用户名和地址整体的锁定。"""
    locks = lockout.list_locks(db.session(), actor=actor(), username=args.get("user"), locked_only=not args["all"])
    return [_lock(x) for x in locks]


@blp.route("/login-locks/<int(max=2147483647):lock_id>", methods=["DELETE"])
@blp.response(200, LoginLockSchema)
@errors(403)
def clear_login_lock(lock_id: int):
    """解除一条登录锁定并清零其失败计数（记入安全日志）。"""
    lock = lockout.clear_lock(db.session(), actor=actor(), lock_id=lock_id)
    db.commit()
    return _lock(lock)


@blp.route("/security-events", methods=["GET"])
@blp.arguments(SecurityEventArgs, location="query")
@blp.response(200, SecurityEventSchema(many=True))
@errors(403)
def list_security_events(args):
    """安全日志：登录失败、锁定、解锁、审计链重签，最新的在前。"""
    rows = lockout.security_events(db.session(), actor=actor(), username=args.get("user"), limit=args["limit"])
    return [{"id": e.id, "at": e.at, "kind": e.kind, "username": e.username, "source": e.source, "actor": e.actor,
             "detail": e.detail or {}} for e in rows]


# ---- API tokens -----------------------------------------------------------------------------------

@blp.route("/tokens", methods=["GET"])
@blp.arguments(TokenArgs, location="query")
@blp.response(200, TokenRow(many=True))
@errors(403)
def list_tokens(args):
    """API 令牌（只显示前缀，不显示令牌本身）。"""
    user_id = _visible_user(args["user"]).id if args.get("user") else None
    who = actor()
    rows = engine_auth.list_tokens(db.session(), user_id=user_id)
    return [_token(r) for r in rows if who.has_role("admin", r.user.org.path)]


@blp.route("/tokens", methods=["POST"])
@blp.arguments(NewTokenRequest)
@blp.response(201, NewTokenSchema)
@errors(403)
def create_token(body):
    """为用户签发 API 令牌（对接系统使用）；令牌只在此返回一次。"""
    user = _visible_user(body["username"])
    s = db.session()
    token = engine_auth.issue_token(s, username=user.username, label=body["label"], created_by=actor().username)
    row = engine_auth.list_tokens(s, user_id=user.id)[0]
    db.commit()
    return {"id": row.id, "token": token, "username": user.username, "label": row.label}


@blp.route("/tokens/<int(max=2147483647):token_id>", methods=["DELETE"])
@blp.response(200, TokenRow)
@errors(403)
def revoke_token(token_id: int):
    """撤销令牌。"""
    row = engine_auth.revoke_token(db.session(), token_id=token_id, actor=actor())
    db.commit()
    return _token(row)


# ---- errored cases --------------------------------------------------------------------------------

@blp.route("/instances/errored", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, ErroredListSchema)
@errors(403)
def errored(args):
    """出错的案件（脚本失败、指派失败等），含出错步骤、信息和任务轨迹。"""
    s = db.session()
    rows, total = admin.errored_instances(s, limit=args["limit"], offset=args["offset"])
    items = [summary | {"error": i.error, "updated_at": i.updated_at} for summary, i in zip(case_summaries(s, rows), rows)]
    return {"items": items, "total": total}


@blp.route("/instances/<int(max=2147483647):instance_id>/retry", methods=["POST"])
@blp.arguments(RetryRequest)
@blp.response(200, ErroredSchema)
@errors(403, 409)
def retry(body, instance_id: int):
    """重试出错的案件，可带更正后的数据。"""
    s = db.session()
    instance = lifecycle.retry_instance(s, instance_id=instance_id, actor=actor(), data=body.get("data"))
    out = case_summaries(s, [instance])[0] | {"error": instance.error, "updated_at": instance.updated_at}
    db.commit()
    return out


# ---- definitions (read-only) ----------------------------------------------------------------------

def _definition(d, counts) -> dict:
    return {"id": d.id, "key": d.key, "version": d.version, "name": d.name, "content_hash": d.content_hash,
            "deployed_at": d.deployed_at, "deployed_by": d.deployed_by, "instances": counts.get(d.id, {})}


@blp.route("/definitions", methods=["GET"])
@blp.response(200, DefinitionSchema(many=True))
@errors(403)
def list_definitions():
    """已部署的全部流程版本（只读），含各状态案件数。"""
    s = db.session()
    counts = admin.instance_counts(s)
    return [_definition(d, counts) for d in admin.list_definitions(s)]


@blp.route("/definitions/<string:key>/<int(max=2147483647):version>", methods=["GET"])
@blp.response(200, DefinitionDetailSchema)
@errors(403)
def get_definition(key: str, version: int):
    """某一版本的源文件、表单和配置（只读）。"""
    from engine.definitions.deployment import get_definition as find

    s = db.session()
    d = find(s, key=key[:100], version=version)
    if d.version != version:
        raise NotFound(f"流程 '{key}' 没有版本 {version}", message_en="no such version")
    return _definition(d, admin.instance_counts(s)) | {"sources": d.sources or {}, "forms": d.forms or {},
                                                      "config": d.config or {}}
