"""Request and response shapes of the administration API."""
from __future__ import annotations

from marshmallow import fields, validate

from engine.org.orgs import ORG_KINDS, ROLES

from .schemas import KEY, TEXT, RoleGrantSchema, Strict

USERNAME = validate.Regexp(r"^[A-Za-z0-9_.\-]{2,64}$", error="用户名只能包含字母、数字、点、下划线和连字符（2–64 位）")


class OrgSchema(Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    parent = fields.String(allow_none=True)
    depth = fields.Integer()


class OrgRequest(Strict):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_\-]{1,64}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    parent = fields.String(load_default=None, allow_none=True, validate=KEY)


class UserSchema(Strict):
    username = fields.String(required=True)
    name = fields.String(required=True)
    org = fields.String(required=True)
    active = fields.Boolean()
    phone = fields.String(allow_none=True)
    locked_until = fields.DateTime(allow_none=True)
    roles = fields.List(fields.Nested(RoleGrantSchema))


class UserListArgs(Strict):
    org = fields.String(validate=KEY)
    active = fields.Boolean()


class RoleRequest(Strict):
    role = fields.String(required=True, validate=validate.OneOf(list(ROLES)))
    org = fields.String(required=True, validate=KEY)


class NewUserRequest(Strict):
    username = fields.String(required=True, validate=USERNAME)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    org = fields.String(required=True, validate=KEY)
    password = fields.String(required=True, validate=validate.Length(min=8, max=200))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    roles = fields.List(fields.Nested(RoleRequest), load_default=list, validate=validate.Length(max=50))


class UserUpdate(Strict):
    name = fields.String(validate=validate.Length(min=1, max=100))
    phone = fields.String(allow_none=True, validate=validate.Length(max=32))


class DeactivateRequest(Strict):
    successor = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "接替人用户名；不填则任务退回角色任务池"})
    opinion = fields.String(load_default=None, allow_none=True, validate=TEXT)


class MoveRequest(DeactivateRequest):
    org = fields.String(required=True, validate=KEY, metadata={"description": "新所在组织编码"})
    roles = fields.List(fields.Nested(RoleRequest), load_default=None, allow_none=True,
                        metadata={"description": "新的角色；不填则原所在组织的角色随人转到新组织"})


class HandOverSchema(Strict):
    user = fields.Nested(UserSchema)
    to_successor = fields.List(fields.Dict())
    to_pool = fields.List(fields.Dict())
    to_owner = fields.List(fields.Dict())
    unstaffed = fields.List(fields.Dict(), metadata={"description": "退回任务池、但池中已无人具备该角色的任务：请尽快安排人员"})


class PasswordReset(Strict):
    password = fields.String(required=True, validate=validate.Length(min=8, max=200))


class LoginLockSchema(Strict):
    id = fields.Integer()
    username = fields.String(allow_none=True, metadata={"description": "输入的用户名（可能不存在）；为空表示该地址整体"})
    source = fields.String(metadata={"description": "来源地址"})
    failures = fields.Integer(metadata={"description": "连续失败次数"})
    lock_count = fields.Integer(metadata={"description": "已被锁定的次数（每次时长加倍）"})
    locked_until = fields.DateTime(allow_none=True)
    last_failure_at = fields.DateTime()


class LoginLockArgs(Strict):
    user = fields.String(validate=validate.Length(min=1, max=64))
    all = fields.Boolean(load_default=False, metadata={"description": "也列出未锁定、只有失败计数的记录"})


class SecurityEventSchema(Strict):
    id = fields.Integer()
    at = fields.DateTime()
    kind = fields.String(metadata={"description": "login_failed / login_locked / login_unlocked / audit_rekeyed"})
    username = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    detail = fields.Dict()


class SecurityEventArgs(Strict):
    user = fields.String(validate=validate.Length(min=1, max=64))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class TokenRow(Strict):
    id = fields.Integer()
    username = fields.String()
    label = fields.String()
    prefix = fields.String()
    created_at = fields.DateTime()
    created_by = fields.String(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class TokenArgs(Strict):
    user = fields.String(validate=validate.Length(min=1, max=64))


class NewTokenRequest(Strict):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    label = fields.String(load_default="", validate=validate.Length(max=100))


class NewTokenSchema(Strict):
    id = fields.Integer()
    token = fields.String(required=True, metadata={"description": "只显示这一次，请妥善保存"})
    username = fields.String()
    label = fields.String()


class ErroredSchema(Strict):
    id = fields.Integer()
    process = fields.String()
    version = fields.Integer()
    business_key = fields.String(allow_none=True)
    title = fields.String()
    status = fields.String()
    org = fields.String()
    started_at = fields.DateTime()
    started_by = fields.String(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    error = fields.Dict(allow_none=True)
    updated_at = fields.DateTime()


class ErroredListSchema(Strict):
    items = fields.List(fields.Nested(ErroredSchema))
    total = fields.Integer()


class RetryRequest(Strict):
    data = fields.Dict(keys=fields.String(), load_default=None, allow_none=True,
                       metadata={"description": "更正后的数据，写入出错的步骤后重试"})


class DefinitionSchema(Strict):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    content_hash = fields.String()
    deployed_at = fields.DateTime()
    deployed_by = fields.String(allow_none=True)
    instances = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "各状态的案件数"})


class DefinitionDetailSchema(DefinitionSchema):
    sources = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "BPMN/DMN/配置文件原文"})
    forms = fields.Dict()
    config = fields.Dict()
