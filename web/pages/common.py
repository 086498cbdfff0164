"""What every page shares: sign-in gate, error pages, the bilingual text helper, dates, vendor assets."""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import abort, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from engine.cases import queries
from engine.cases.personal_data import masked_title
from engine.errors import EngineError
from engine.org.orgs import Actor
from engine.runtime import notifications

from .. import db
from ..errors import too_large_message
from . import bp

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
# Only these folders of node_modules are served; everything else there stays private.
VENDOR = {"htmx": ROOT / "node_modules" / "htmx.org" / "dist", "bpmn-js": ROOT / "node_modules" / "bpmn-js" / "dist",
          "echarts": ROOT / "node_modules" / "echarts" / "dist"}
PUBLIC_ENDPOINTS = {"pages.login", "pages.vendor"}
LIGHT_LABELS = {"green": ("正常", "On track"), "yellow": ("临期", "Due soon"), "red": ("超期", "Overdue")}
ERROR_TITLES = {400: ("请求有误", "Bad request"), 401: ("请先登录", "Please sign in"),
                403: ("无权操作", "Not allowed"), 404: ("页面或案件不存在", "Not found"),
                409: ("操作冲突", "Conflict"), 422: ("填写有误", "Invalid input"), 500: ("系统出错", "Server error")}


def t(zh: str, en: str = "") -> str:
    """Return the Chinese text, or the English one when the page is shown in English."""
    return en if en and locale() == "en" else zh


def locale() -> str:
    try:
        from flask_babel import get_locale

        value = get_locale()
    except Exception:  # Babel not configured (a bare test app): Chinese
        return "zh"
    return "en" if value is not None and value.language == "en" else "zh"


def actor() -> Actor:
    """Return the signed-in person's Actor (the sign-in gate guarantees there is one)."""
    from ..auth import current_actor

    who = current_actor()
    if who is None:
        abort(401)
    return who


def render(template: str, code: int = 200, **context):
    return render_template(template, **context), code


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    return target if target and is_local_path(target) else default


def is_local_path(target: str) -> bool:
    """Tell whether ``target`` is a path on this site (``/…``), as a browser would read it.

    Browsers read a backslash as a slash and drop tabs and newlines, so ``/\\evil.example`` and
    ``/<tab>/evil.example`` lead to another site just as ``//evil.example`` does.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return False
    normal = target.replace("\\", "/")
    if not normal.startswith("/") or normal.startswith("//"):
        return False
    parts = urlsplit(normal)
    return not parts.scheme and not parts.netloc


def is_on_site(location: str) -> bool:
    """Tell whether a redirect to ``location`` stays on this site (a path, or this host's own URL)."""
    if is_local_path(location):
        return True
    parts = urlsplit(location)
    return (parts.scheme in ("http", "https") and parts.netloc == request.host
            and not any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in location))


def page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.before_request
def _require_sign_in():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        if request.headers.get("HX-Request"):
            return "", 401, {"HX-Redirect": url_for("pages.login")}
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def _stay_on_site(response):
    # Defence in depth: whatever a page action was handed as next=, a browser is never sent off site.
    for header in ("Location", "HX-Redirect"):
        target = response.headers.get(header)
        if target and not is_on_site(target):
            log.warning("refused a redirect off site to %r on %s %s", target, request.method, request.path)
            response.headers[header] = url_for("pages.todo")
    return response


@bp.app_template_global("t")
def _t(zh: str, en: str = "") -> str:
    return t(zh, en)


@bp.app_template_filter("local")
def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a UTC moment in the deployment's time zone."""
    if value is None:
        return ""
    zone = ZoneInfo(db.services().settings.timezone)
    return value.astimezone(zone).strftime(fmt)


@bp.app_template_global("timezone")
def deployment_timezone() -> str:
    """The deployment's time zone (IANA name), for times a script on the page formats."""
    return db.services().settings.timezone


@bp.app_template_global("now_local")
def now_local(fmt: str = "%Y-%m-%d %H:%M") -> str:
    from engine import clock

    return local_time(clock.now(), fmt)


@bp.app_template_global("attachment_rows")
def attachment_rows(ids) -> list:
    from .uploads import attachment_info

    return attachment_info(db.session(), ids if isinstance(ids, list) else [ids])


@bp.app_template_filter("masked")
def masked(instance) -> str:
    """A case title for lists: personal data masked (the case page shows it in full to those allowed)."""
    return masked_title(instance)


@bp.app_template_filter("dict_merge")
def dict_merge(base: dict, **changes) -> dict:
    """Return ``base`` updated with ``changes``, empty values dropped (for building query strings)."""
    return {k: v for k, v in {**base, **changes}.items() if v not in (None, "")}


@bp.app_template_filter("local_iso")
def local_iso(value: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format an ISO 8601 moment (as kept in JSON) in the deployment's time zone."""
    if not value:
        return ""
    try:
        return local_time(datetime.fromisoformat(value), fmt)
    except ValueError:
        return value


@bp.app_template_filter("light_label")
def light_label(light: str) -> str:
    return t(*LIGHT_LABELS.get(str(light), (str(light), str(light))))


@bp.app_context_processor
def _header_context():
    if not current_user.is_authenticated:
        return {"me": None, "unread": 0, "todo_total": 0, "lang": locale()}
    from ..auth import current_actor

    me = current_actor()
    if me is None:
        return {"me": None, "unread": 0, "todo_total": 0, "lang": locale()}
    s = db.session()
    return {"me": me, "lang": locale(),
            "unread": notifications.unread_count(s, user_id=me.id),
            "todo_total": queries.todo_counts(s, actor=me)["total"]}


def error_page(status: int, message: str, *, detail: str = "", back: str | None = None):
    title = t(*ERROR_TITLES.get(status, ("出错了", "Error")))
    return render("error.html", status, status=status, title=title, message=message, detail=detail,
                  back=back or request.referrer)


@bp.errorhandler(EngineError)
def _engine_error(exc: EngineError):
    db.session().rollback()
    return error_page(exc.status, t(exc.message, exc.message_en or exc.message),
                      detail="；".join(d.message for d in exc.details[:10]))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.code in (301, 302, 303, 307, 308):
        return exc
    messages = {403: t("您无权访问该页面", "You may not open this page"),
                404: t("您要找的页面或案件不存在，或您无权查看", "The page or case does not exist or is not visible to you"),
                400: t("请求无效：页面可能已过期，请刷新后重试", "Invalid request: the page may have expired; reload and retry"),
                413: t(*too_large_message())}
    return error_page(exc.code or 500, messages.get(exc.code, exc.description or ""))


@bp.get("/assets/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    """Serve a third-party asset installed from npm (see package.json); never committed."""
    folder = VENDOR.get(package)
    if folder is None:
        abort(404)
    response = send_from_directory(folder, filename, max_age=86400)
    return response
