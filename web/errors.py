"""Errors as the caller sees them: JSON ``{"error", "message", "details"}`` under /api, a page elsewhere."""
from __future__ import annotations

import logging
import re

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from engine.errors import EngineError

from . import db

log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    400: ("请求格式不正确", "bad request"),
    401: ("请先登录", "authentication required"),
    403: ("您没有执行此操作的权限", "forbidden"),
    404: ("请求的资源不存在", "not found"),
    405: ("不支持该请求方法", "method not allowed"),
    406: ("不支持请求的返回格式", "not acceptable"),
    409: ("数据已被他人修改，请刷新后重试", "conflict"),
    413: ("上传的内容过大", "payload too large"),
    415: ("不支持的内容类型", "unsupported media type"),
    422: ("请求数据有误", "unprocessable request"),
    429: ("请求过于频繁，请稍后再试", "too many requests"),
}
# marshmallow / webargs messages, so API clients get Chinese first like everywhere else.
_FIELD_MESSAGES = {
    "Missing data for required field.": "此项为必填项",
    "Unknown field.": "未知字段",
    "Field may not be null.": "此项不能为空",
    "Not a valid string.": "请输入文字",
    "Not a valid integer.": "请输入整数",
    "Not a valid number.": "请输入数字",
    "Not a valid boolean.": "请选择是或否",
    "Not a valid mapping type.": "应为对象（JSON object）",
    "Not a valid list.": "应为列表",
    "Not a valid datetime.": "时间格式不正确",
    "Not a valid date.": "日期格式不正确",
    "Invalid input type.": "类型不正确",
    "Invalid JSON body.": "JSON 格式不正确",
    "Invalid value.": "取值不正确",
}


def is_api_request() -> bool:
    """Tell whether the current request is for the JSON API."""
    return request.path.startswith("/api/")


def json_error(code: str, message: str, status: int, *, message_en: str = "", details: list | None = None,
               headers: dict | None = None):
    """Build the API's error response."""
    body = {"error": code, "message": message, "message_en": message_en, "details": details or []}
    return body, status, headers or {}


def _page_error(status: int, message: str):
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # no error page yet, or it failed itself: a plain one still tells the user
        log.exception("the error page could not be rendered")
        return (f"<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{status}</title>"
                f"<p>{escape(message)}</p><p><a href=\"/\">返回首页</a></p></html>"), status


def engine_error(exc: EngineError):
    """Answer an EngineError: JSON under /api, an error page elsewhere (blueprints may override)."""
    if is_api_request():
        return exc.as_dict(), exc.status
    return _page_error(exc.status, exc.message)


def _webargs_details(data: dict) -> list[dict]:
    details = []

    def walk(prefix: str, value, location: str):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner, location)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, (dict, list)):
                    walk(prefix, item, location)
                else:
                    text = str(item)
                    details.append({"field": prefix.replace("._schema", "") or None, "location": location,
                                    "message": _FIELD_MESSAGES.get(text, text), "message_en": text})

    for location, errors in (data.get("messages") or data.get("errors") or {}).items():
        walk("", errors, location)
    return details


def http_error(exc: HTTPException):
    if not is_api_request():
        if isinstance(exc, CSRFError):
            return _page_error(400, "页面已过期或来源无法确认，请刷新页面后重试")
        return exc
    zh, en = _HTTP_MESSAGES.get(exc.code or 500, (exc.name, exc.name))
    data = getattr(exc, "data", None) or {}
    details = _webargs_details(data) if isinstance(data, dict) else []
    code = exc.name.lower().replace(" ", "_")
    if isinstance(exc, CSRFError):
        zh, en, code = "缺少或无效的 CSRF 令牌：使用浏览器会话调用接口时须带 X-CSRFToken 请求头", exc.description, "csrf_failed"
    elif exc.code == 413:
        zh, en = too_large_message()
    elif exc.code == 400 and details:
        zh, en = details[0]["message"], details[0]["message_en"]
    elif exc.code == 422 and details:
        zh = "请求数据有误：" + "；".join(f"{d['field'] or d['location']}：{d['message']}" for d in details[:5])
    headers = dict(data.get("headers") or {}) if isinstance(data, dict) else {}
    if exc.code == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return json_error(code, zh, exc.code or 500, message_en=en, details=details, headers=headers)


def too_large_message() -> tuple[str, str]:
    """Say what an upload may weigh, from the limits this app was built with (Chinese, English)."""
    per_file = current_app.config.get("PINGAN_ATTACHMENT_MAX_MB")
    total = current_app.config.get("MAX_CONTENT_LENGTH")
    zh, en = [_HTTP_MESSAGES[413][0]], [_HTTP_MESSAGES[413][1]]
    if per_file:
        zh.append(f"每个文件不超过 {per_file} MB")
        en.append(f"at most {per_file} MB per file")
    if total:
        zh.append(f"一次提交合计不超过 {_size(total)}")
        en.append(f"at most {_size(total)} per request")
    return "：".join([zh[0], "，".join(zh[1:])]) if len(zh) > 1 else zh[0], "; ".join(en)


def _size(n: int) -> str:
    mb = 1024 * 1024
    if n >= mb:
        return f"{n // mb} MB" if n % mb == 0 else f"{n / mb:.1f} MB"
    return f"{max(1, n // 1024)} KB"


# Unique keys that mean "someone else did the same thing first": the one who lost the race is told
# to reload (409). Any other broken constraint (NOT NULL, foreign key, a unique key nobody races
# for) is a bug, and must be seen as one: logged with its traceback and answered 500.
CONFLICT_KEYS = frozenset({
    ("idempotency_keys", ("key", "user_id")),  # a retried request racing its original
    ("audit_entries", ("instance_id", "seq")),  # two changes to one case at once
    ("carbon_copies", ("instance_id", "user_id")),  # the same person copied twice at once
    ("process_definitions", ("key", "version")),  # two deployments of one process at once
    ("process_definitions", ("content_hash", "key")),
    ("users", ("username",)),  # two admins creating the same user, org or role at once
    ("orgs", ("code",)),
    ("role_assignments", ("org_id", "role", "user_id")),
})
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_PG_KEY = re.compile(r"Key \((.+?)\)=")


def violated_unique_key(exc: IntegrityError) -> tuple[str, tuple[str, ...]] | None:
    """Return (table, sorted columns) of the unique key ``exc`` broke; None for any other violation."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        diag = orig.diag
        found = _PG_KEY.search(diag.message_detail or "")
        if diag.table_name and found:
            return diag.table_name, tuple(sorted(c.strip().strip('"') for c in found.group(1).split(",")))
        return None
    found = _SQLITE_UNIQUE.search(str(orig))
    if found:
        pairs = [c.strip().split(".", 1) for c in found.group(1).split(",")]
        if all(len(p) == 2 for p in pairs) and len({t for t, _ in pairs}) == 1:
            return pairs[0][0], tuple(sorted(c for _, c in pairs))
    return None


def integrity_error(exc: IntegrityError):
    """A unique key someone else took first is a conflict (409); any other broken constraint is a bug (500)."""
    db.rollback()
    if violated_unique_key(exc) in CONFLICT_KEYS:
        return conflict_error(exc)
    return server_error(exc)


def conflict_error(exc: Exception):
    """A concurrent change got there first: tell the caller to reload, never a 500."""
    log.info("concurrent update refused: %s", exc)
    db.rollback()
    if is_api_request():
        return json_error("conflict", _HTTP_MESSAGES[409][0], 409, message_en="the data was changed meanwhile; reload")
    return _page_error(409, _HTTP_MESSAGES[409][0])


def bad_value_error(exc: Exception):
    """A value the database cannot hold (out of range, too long, too deeply nested): bad input, not a crash."""
    log.info("refused a value the database cannot hold: %s", exc)
    if is_api_request():
        return json_error("bad_request", "数据超出允许的范围或格式", 400, message_en="a value is out of range or malformed")
    return _page_error(400, "数据超出允许的范围或格式")


def server_error(exc: Exception):
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    if is_api_request():
        return json_error("internal_error", "服务器内部错误，已记录，请联系管理员", 500, message_en="internal server error")
    return _page_error(500, "服务器内部错误，已记录，请联系管理员")


def init_app(app: Flask) -> None:
    app.register_error_handler(EngineError, engine_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(StaleDataError, conflict_error)
    app.register_error_handler(IntegrityError, integrity_error)
    for kind in (DataError, OverflowError, RecursionError):
        app.register_error_handler(kind, bad_value_error)
    app.register_error_handler(Exception, server_error)
