"""What every API module shares: the blueprint class, the acting user, and the error responses to document."""
from __future__ import annotations

from flask_smorest import Blueprint

from engine.org.orgs import Actor

from ..auth import require_actor

# Documented on every operation; the handlers in web.errors produce them.
COMMON_ERRORS = (400, 401, 404, 422)


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint whose operations are tagged with its name and document their errors."""

    def route(self, rule, *, parameters=None, tags=None, **options):
        return super().route(rule, parameters=parameters, tags=tags or [self.name], **options)


def errors(*statuses: int):
    """Document error responses (Pingan's ``Error`` shape) on an operation."""
    responses = {str(s): {"description": _DESCRIPTIONS.get(s, "错误"), "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}} for s in set(COMMON_ERRORS + statuses)}
    return Blueprint.doc(responses=responses)


_DESCRIPTIONS = {
    400: "请求格式不正确（JSON 无法解析、参数不合法）", 401: "未登录或令牌无效", 403: "无权执行该操作",
    404: "不存在，或不在您的可见范围内", 409: "冲突：任务已办理、状态已变化或重复提交", 413: "上传的内容过大",
    422: "数据校验未通过（逐字段错误见 details）",
}


def actor() -> Actor:
    """Return the acting user (the API's before-request hook has made sure there is one)."""
    return require_actor()
