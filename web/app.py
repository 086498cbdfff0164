"""The Flask application factory: pages and the JSON API are thin doors onto the engine."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text

from engine.context import Services, open_services
from engine.settings import Settings, load_settings

from . import auth, db, errors

WEB = Path(__file__).resolve().parent
LOCALES = {"zh_CN": "zh_CN", "zh": "zh_CN", "zh-CN": "zh_CN", "zh-cn": "zh_CN", "en": "en", "en_US": "en", "en-US": "en"}
DEFAULT_LOCALE = "zh_CN"

csrf = CSRFProtect()
babel = Babel()


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the app for ``settings`` (from the environment when not given)."""
    settings = settings or (services.settings if services else load_settings())
    services = services or open_services(settings)
    app = Flask(__name__, instance_path=str(Path(settings.instance_path).resolve()))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PINGAN=services,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,  # the timeout counts from the last request, not from sign-in
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="pingan_session",
        # Uploads are the largest bodies; anything bigger is refused before it is read.
        MAX_CONTENT_LENGTH=(settings.attachment_max_mb + 1) * 1024 * 1024,
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

    @app.before_request
    def _remember_language():
        lang = LOCALES.get(request.args.get("lang", ""))
        if lang:
            session["lang"] = lang

    @app.get("/healthz")
    def healthz():
        db.session().execute(text("SELECT 1"))
        return {"status": "ok"}

    from . import api, pages

    api.init_app(app, csrf=csrf)
    app.register_blueprint(pages.bp)
    return app


def select_locale() -> str:
    """Return the language: ``?lang=`` (remembered in the session), else the session's, else zh_CN."""
    return LOCALES.get(request.args.get("lang", "")) or session.get("lang") or DEFAULT_LOCALE
