"""Sign in for the API: exchange a password for a bearer token; who am I; change my password."""
from __future__ import annotations

from flask import request

from engine.errors import EngineError
from engine.org import auth as engine_auth
from engine.store.models import User

from .. import db
from ..auth import bearer_token
from .common import ApiBlueprint, actor, errors
from .schemas import MeSchema, PasswordRequest, TokenRequest, TokenSchema

blp = ApiBlueprint("auth", __name__, url_prefix="/auth", description="登录与令牌 (authentication)")


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenRequest)
@blp.response(201, TokenSchema)
@blp.doc(security=[])
@errors(403)
def issue_token(body):
    """用用户名和密码换取访问令牌（与登录页相同的锁定规则：同一地址对同一账号失败 5 次后暂停 1 分钟，此后每再错一次加倍，最长 1 小时）。"""
    s = db.session()
    try:
        user = engine_auth.authenticate(s, username=body["username"], password=body["password"],
                                        source=request.remote_addr)
    except EngineError:
        db.commit()  # keep the failed-attempt count
        raise
    token = engine_auth.issue_token(s, username=user.username, label=body["label"] or "api")
    db.commit()
    return {"token": token, "username": user.username, "label": body["label"] or "api"}


@blp.route("/token", methods=["DELETE"])
@blp.response(204)
@errors()
def revoke_current_token():
    """撤销本次请求所用的令牌（退出）。"""
    token = bearer_token()
    if token:
        engine_auth.revoke_token_value(db.session(), token=token)
        db.commit()


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
@errors()
def me():
    """当前用户：用户名、姓名、所在组织和角色。"""
    who = actor()
    user = db.session().get(User, who.id)
    return {"username": user.username, "name": user.name, "org": user.org.code,
            "roles": [{"role": g.role, "org": g.org.code} for g in user.roles]}


@blp.route("/password", methods=["POST"])
@blp.arguments(PasswordRequest)
@blp.response(204)
@errors()
def change_password(body):
    """修改自己的密码（需要原密码；新密码至少 8 位）。"""
    engine_auth.change_password(db.session(), user_id=actor().id, old=body["old_password"], new=body["new_password"])
    db.commit()
