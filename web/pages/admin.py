"""Administration pages: org tree, users and roles, hand-over on leaving, sign-in locks, API tokens, versions, errored cases."""
from __future__ import annotations

import json

from flask import abort, flash, redirect, request, url_for

from engine.errors import EngineError
from engine.org import auth as engine_auth, lockout
from engine.org.orgs import ORG_KINDS, ROLES
from engine.runtime import admin, lifecycle

from engine.cases.case_lists import tasks_held_by

from .. import db
from . import bp
from .common import actor, render, t

ORG_KIND_LABELS = {"province": "省", "city": "市", "county": "县", "township": "乡镇/街道", "village": "村/社区",
                   "grid": "网格", "unit": "成员单位"}


@bp.before_request
def _admins_only():
    from flask_login import current_user

    if (request.endpoint or "").startswith("pages.admin") and current_user.is_authenticated and not actor().is_admin:
        abort(403)


def _back(endpoint: str, message: str, **values):
    db.commit()
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))


@bp.get("/admin")
def admin_home():
    s = db.session()
    errored, total_errors = admin.errored_instances(s, limit=5)
    return render("admin/home.html", orgs=len(admin.org_tree(s)), users=len(admin.list_users(s, actor=actor())),
                  definitions=len({d.key for d in admin.list_definitions(s)}), errored=errored, total_errors=total_errors)


@bp.get("/admin/orgs")
def admin_orgs():
    return render("admin/orgs.html", orgs=admin.org_tree(db.session()), kinds=ORG_KINDS, kind_labels=ORG_KIND_LABELS)


@bp.post("/admin/orgs")
def admin_org_add():
    f = request.form
    org = admin.add_org(db.session(), actor=actor(), code=f.get("code", "").strip(), name=f.get("name", "").strip(),
                        kind=f.get("kind", ""), parent_code=f.get("parent") or None)
    return _back("pages.admin_orgs", t(f"已新建组织“{org.name}”", f"Org {org.name} created"))


@bp.get("/admin/users")
def admin_users():
    s = db.session()
    org = request.args.get("org") or None
    return render("admin/users.html", users=admin.list_users(s, actor=actor(), org_code=org), org=org,
                  orgs=admin.org_tree(s), roles=ROLES, locked=lockout.locked_accounts(s))


@bp.post("/admin/users")
def admin_user_add():
    f = request.form
    roles = [(f.get("role"), f.get("role_org") or f.get("org"))] if f.get("role") else []
    user = admin.add_user(db.session(), actor=actor(), username=f.get("username", "").strip(), name=f.get("name", "").strip(),
                          org_code=f.get("org", ""), password=f.get("password", ""), roles=roles,
                          phone=f.get("phone") or None)
    return _back("pages.admin_user", t(f"已新建用户 {user.name}", f"User {user.username} created"), username=user.username)


@bp.get("/admin/users/<username>")
def admin_user(username: str):
    s = db.session()
    user = admin.get_user(s, username=username)
    admin.require_admin(actor(), user.org.path)
    held = tasks_held_by(s, user_id=user.id)
    others = [u for u in admin.list_users(s, actor=actor(), include_inactive=False) if u.id != user.id]
    return render("admin/user.html", user=user, held=held, others=others, orgs=admin.org_tree(s), roles=ROLES,
                  tokens=engine_auth.list_tokens(s, user_id=user.id),
                  locks=lockout.list_locks(s, actor=actor(), username=user.username))


@bp.post("/admin/users/<username>/<op>")
def admin_user_op(username: str, op: str):
    s, me, f = db.session(), actor(), request.form
    opinion = f.get("opinion") or None
    if op == "role-add":
        admin.add_role(s, actor=me, username=username, role=f.get("role", ""), org_code=f.get("org", ""))
        message = t("已授予角色", "Role granted")
    elif op == "role-remove":
        admin.remove_role(s, actor=me, username=username, role=f.get("role", ""), org_code=f.get("org", ""))
        message = t("已撤销角色", "Role withdrawn")
    elif op == "deactivate":
        result = admin.deactivate_user(s, actor=me, username=username, successor=f.get("successor") or None, opinion=opinion)
        message = _hand_over_text(result, t("已停用", "Deactivated"))
    elif op == "reactivate":
        admin.reactivate_user(s, actor=me, username=username)
        message = t("已恢复启用", "Reactivated")
    elif op == "move":
        result = admin.move_user(s, actor=me, username=username, org_code=f.get("org", ""),
                                 successor=f.get("successor") or None, opinion=opinion)
        message = _hand_over_text(result, t("已调整组织", "Moved"))
    elif op == "password":
        engine_auth.reset_password(s, user_id=admin.get_user(s, username=username).id, new=f.get("password", ""),
                                   actor=me)
        message = t("已重置密码并解除锁定", "Password reset and account unlocked")
    elif op == "unlock":
        lockout.unlock_user(s, actor=me, username=username)
        message = t("已解除锁定", "Unlocked")
    else:
        abort(404)
    return _back("pages.admin_user", message, username=username)


def _hand_over_text(result: admin.HandOver, head: str) -> str:
    parts = [head]
    if result.to_successor:
        parts.append(t(f"{len(result.to_successor)} 个任务移交接替人", f"{len(result.to_successor)} tasks to the successor"))
    if result.to_pool:
        parts.append(t(f"{len(result.to_pool)} 个任务退回角色任务池", f"{len(result.to_pool)} tasks back to the pool"))
    if result.to_owner:
        parts.append(t(f"{len(result.to_owner)} 个委派任务交回委派人", f"{len(result.to_owner)} delegated tasks returned"))
    if result.unstaffed:
        parts.append(t(f"注意：{len(result.unstaffed)} 个任务的任务池暂无人员，请尽快配备",
                       f"warning: {len(result.unstaffed)} tasks are in a pool nobody staffs"))
    return "；".join(parts)


@bp.get("/admin/tokens")
def admin_tokens():
    s = db.session()
    return render("admin/tokens.html", tokens=engine_auth.list_tokens(s),
                  users=admin.list_users(s, actor=actor(), include_inactive=False), new_token=None)


@bp.post("/admin/tokens")
def admin_token_issue():
    s, me = db.session(), actor()
    username = request.form.get("username", "")
    admin.require_admin(me, admin.get_user(s, username=username).org.path)
    token = engine_auth.issue_token(s, username=username, label=request.form.get("label", ""), created_by=me.username)
    db.commit()
    # Shown once, on this response only: it is stored hashed.
    return render("admin/tokens.html", tokens=engine_auth.list_tokens(s),
                  users=admin.list_users(s, actor=me, include_inactive=False), new_token=token, token_user=username)


@bp.post("/admin/tokens/<int:token_id>/revoke")
def admin_token_revoke(token_id: int):
    engine_auth.revoke_token(db.session(), token_id=token_id, actor=actor())
    return _back("pages.admin_tokens", t("令牌已撤销", "Token revoked"))


@bp.get("/admin/locks")
def admin_locks():
    s, me = db.session(), actor()
    return render("admin/locks.html", locks=lockout.list_locks(s, actor=me),
                  events=lockout.security_events(s, actor=me, limit=100))


@bp.post("/admin/locks/<int:lock_id>/clear")
def admin_lock_clear(lock_id: int):
    lock = lockout.clear_lock(db.session(), actor=actor(), lock_id=lock_id)
    return _back("pages.admin_locks", t(f"已解除 {lock.username or '该地址整体'} @ {lock.source} 的锁定",
                                        f"Unlocked {lock.username or 'the whole address'} @ {lock.source}"))


@bp.get("/admin/processes")
def admin_processes():
    s = db.session()
    return render("admin/processes.html", definitions=admin.list_definitions(s), counts=admin.instance_counts(s))


@bp.get("/admin/errors")
def admin_errors():
    rows, total = admin.errored_instances(db.session(), limit=100)
    return render("admin/errors.html", rows=rows, total=total)


@bp.post("/admin/errors/<int:instance_id>/retry")
def admin_retry(instance_id: int):
    raw = request.form.get("data", "").strip()
    try:
        data = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        raise EngineError("更正数据须为 JSON 对象，例如 {\"divisor\": 2}", message_en="corrected data must be a JSON object") from None
    if data is not None and not isinstance(data, dict):
        raise EngineError("更正数据须为 JSON 对象", message_en="corrected data must be a JSON object")
    instance = lifecycle.retry_instance(db.session(), instance_id=instance_id, actor=actor(), data=data)
    if instance.status == "error":
        db.commit()
        flash(t("重试后仍然出错：", "Still failing: ") + str((instance.error or {}).get("message", "")), "error")
        return redirect(url_for("pages.admin_errors"))
    return _back("pages.admin_errors", t(f"案件 {instance.business_key} 已恢复运行", f"{instance.business_key} is running again"))
