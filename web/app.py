"""The Flask application factory: pages and the JSON API are thin doors onto the engine."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from flask import Flask, redirect, request, session, url_for
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text

from engine.context import Services, open_services
from engine.settings import DEFAULT_SECRET_KEY, Settings, load_settings
from engine.store.audit import check_audit_key

from . import auth, db, errors

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent
LOCALES = {"zh_CN": "zh_CN", "zh": "zh_CN", "zh-CN": "zh_CN", "zh-cn": "zh_CN", "en": "en", "en_US": "en", "en-US": "en"}
DEFAULT_LOCALE = "zh_CN"

csrf = CSRFProtect()
babel = Babel()


class UnsafeSettings(RuntimeError):
    """The settings would serve the app unsafely (told to the operator at start, in both languages)."""

    def __init__(self, message: str, *, message_en: str):
        super().__init__(f"{message} ({message_en})")
        self.message, self.message_en = message, message_en


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the app for ``settings`` (from the environment when not given)."""
    settings = settings or (services.settings if services else load_settings())
    refuse_unsafe(settings)
    check_audit_key(settings)  # the audit chain's HMAC key, by the same rule (engine/store/audit.py)
    services = services or open_services(settings)
    # Behind HTTPS (anything but a developer's machine) the browser must never send them in clear.
    secure_cookies = settings.secure_cookies if settings.secure_cookies is not None else not settings.development
    app = Flask(__name__, instance_path=str(Path(settings.instance_path).resolve()))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PINGAN=services,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,  # the timeout counts from the last request, not from sign-in
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="pingan_session",
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # Uploads are the largest bodies; anything bigger is refused before it is read.
        MAX_CONTENT_LENGTH=(settings.attachment_max_mb + 1) * 1024 * 1024,
        PINGAN_ATTACHMENT_MAX_MB=settings.attachment_max_mb,  # what the 413 message tells the user
        MAX_FORM_MEMORY_SIZE=2 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (timed-out) session
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
        BABEL_DEFAULT_LOCALE=DEFAULT_LOCALE,
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(WEB / "translations"),
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["pingan"] = services

    db.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: settings.timezone)

    @app.after_request
    def _no_sniffing(response):
        # A browser must take the declared type at its word: an uploaded "image" is never run as HTML.
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.before_request
    def _remember_language():
        lang = LOCALES.get(request.args.get("lang", ""))
        if lang:
            session["lang"] = lang

    @app.get("/favicon.ico")
    def favicon():
        # Browsers and tools ask for it whatever the pages link to; answer with the icon, not a 404.
        return redirect(url_for("static", filename="favicon.svg"), 301)

    @app.get("/healthz")
    def healthz():
        db.session().execute(text("SELECT 1"))
        return {"status": "ok"}

    from . import api, pages

    api.init_app(app, csrf=csrf)
    app.register_blueprint(pages.bp)
    return app


def refuse_unsafe(settings: Settings) -> None:
    """Refuse to serve with the well-known default secret key unless in development mode.

    Anyone who has read the source could sign a session cookie for any user with it.
    """
    if settings.secret_key and settings.secret_key != DEFAULT_SECRET_KEY:
        return
    if settings.secret_key and settings.development:
        log.warning("!!! 会话使用公开的默认密钥，仅限开发模式；部署时必须设置 PINGAN_SECRET_KEY "
                    "(sessions are signed with the public default key: development only) !!!")
        return
    raise UnsafeSettings(
        "未设置 PINGAN_SECRET_KEY（或仍是默认值），拒绝启动：用公开的默认密钥，任何人都能伪造登录会话。"
        "请把它设为随机长字符串，例如 python -c \"import secrets; print(secrets.token_urlsafe(32))\" 的输出；"
        "仅在本机开发或演示时可设置 PINGAN_DEVELOPMENT=1。",
        message_en="PINGAN_SECRET_KEY is not set (or is the default): refusing to start, since anyone could forge "
                   "a session with the published default. Set it to a long random string, e.g. the output of "
                   "python -c \"import secrets; print(secrets.token_urlsafe(32))\"; only on a developer's machine or "
                   "for the demo set PINGAN_DEVELOPMENT=1 instead.")


def select_locale() -> str:
    """Return the language: ``?lang=`` (remembered in the session), else the session's, else zh_CN."""
    return LOCALES.get(request.args.get("lang", "")) or session.get("lang") or DEFAULT_LOCALE
