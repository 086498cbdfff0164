"""Who is asking: page sessions (Flask-Login) and API bearer tokens, both resolved to an engine Actor."""
from __future__ import annotations

from functools import wraps

from flask import Flask, g, redirect, request, session as cookie, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.routing import BuildError

from engine.errors import EngineError, NotAllowed
from engine.org import auth as engine_auth
from engine.org.orgs import Actor, actor_by_id
from engine.store.models import User

from . import db

login_manager = LoginManager()


class NotAuthenticated(EngineError):
    code, status = "not_authenticated", 401


class LoginUser(UserMixin):
    """The signed-in person as Flask-Login sees them; ``actor`` is what engine calls take."""

    def __init__(self, actor: Actor, fingerprint: str):
        self.actor = actor
        self.fingerprint = fingerprint

    def get_id(self) -> str:
        # The password fingerprint ends every other session when the password changes.
        return f"{self.actor.id}:{self.fingerprint}"

    @property
    def username(self) -> str:
        return self.actor.username

    @property
    def name(self) -> str:
        return self.actor.name

    @property
    def is_admin(self) -> bool:
        return self.actor.is_admin

    def has_role(self, role: str) -> bool:
        return self.actor.has_role(role)


def _load_user(user_id: str) -> LoginUser | None:
    raw_id, _, fingerprint = (user_id or "").partition(":")
    if not raw_id.isdigit():
        return None
    user = db.session().get(User, int(raw_id))
    if user is None or not user.active or engine_auth.password_fingerprint(user) != fingerprint:
        return None
    return LoginUser(actor_by_id(db.session(), user_id=user.id), fingerprint)


def _unauthorized():
    if request.path.startswith("/api/"):
        raise NotAuthenticated("请先登录", message_en="authentication required")
    try:
        return redirect(url_for(login_manager.login_view, next=request.full_path.rstrip("?")))
    except BuildError:  # no login page registered (yet)
        raise NotAuthenticated("请先登录", message_en="authentication required") from None


def bearer_token() -> str | None:
    """Return the token of an ``Authorization: Bearer ...`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def current_actor() -> Actor | None:
    """Return the engine Actor of this request: the bearer-token user, else the signed-in user, else None."""
    if "_pingan_actor" in g:
        return g._pingan_actor
    actor = None
    token = bearer_token()
    if token:
        try:
            holder = engine_auth.token_holder(db.session(), token)
            _record_use(holder)
            actor = holder.actor
            g._pingan_via_token = True
        except EngineError:
            actor = None
    elif current_user.is_authenticated:
        actor = current_user.actor
    g._pingan_actor = actor
    return actor


def _record_use(holder: engine_auth.TokenHolder) -> None:
    if not holder.use_due:
        return
    if db.read_only():  # a reading request: stamped after it, in a short transaction of its own
        db.after_request_write(lambda s: engine_auth.record_token_use(s, token_id=holder.token_id))
    else:  # nothing else is done yet: commit now, so the stamp stays even if the request fails
        engine_auth.record_token_use(db.session(), token_id=holder.token_id)
        db.commit()


def require_actor() -> Actor:
    """Return the acting user or raise NotAuthenticated (401)."""
    actor = current_actor()
    if actor is None:
        if bearer_token():
            raise engine_auth.AuthenticationFailed("访问令牌无效或已撤销", message_en="invalid or revoked token")
        raise NotAuthenticated("请先登录", message_en="authentication required")
    return actor


def via_token() -> bool:
    """Tell whether this request authenticated with a bearer token (not a page session)."""
    current_actor()
    return bool(g.get("_pingan_via_token"))


def login_with_password(username: str, password: str) -> Actor:
    """Check the password (with lock-out), start a page session and return the Actor.

    Raises AuthenticationFailed / AccountLocked (EngineError) with a Chinese message; the failure
    counter is committed either way. The source is ``request.remote_addr``: behind a reverse proxy
    the operator wraps the app in werkzeug's ProxyFix so that it is the client's address.
    """
    s = db.session()
    try:
        user = engine_auth.authenticate(s, username=username, password=password, source=request.remote_addr)
    except EngineError:
        s.commit()
        raise
    s.commit()
    actor = actor_by_id(s, user_id=user.id)
    lang = cookie.get("lang")
    cookie.clear()  # a fresh session on sign-in: nothing carried over from before
    if lang:
        cookie["lang"] = lang
    cookie.permanent = True
    login_user(LoginUser(actor, engine_auth.password_fingerprint(user)))
    g._pingan_actor = actor
    return actor


def logout() -> None:
    """End the page session (the language choice is kept)."""
    lang = cookie.get("lang")
    logout_user()
    cookie.clear()
    if lang:
        cookie["lang"] = lang
    g.pop("_pingan_actor", None)


def refresh_login(user_id: int) -> None:
    """Re-issue the session after one's own password change, so this browser stays signed in."""
    user = db.session().get(User, user_id)
    login_user(LoginUser(actor_by_id(db.session(), user_id=user_id), engine_auth.password_fingerprint(user)))


def login_required(view):
    """Require a signed-in user (page session or bearer token); pages redirect to the login page."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_actor() is None:
            return _unauthorized()
        return view(*args, **kwargs)
    return wrapper


def role_required(*roles: str):
    """Require one of ``roles`` held in any org (403 otherwise); implies login_required."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            actor = current_actor()
            if actor is None:
                return _unauthorized()
            if not any(actor.has_role(r) for r in roles):
                raise NotAllowed("您没有执行此操作的权限", message_en=f"requires one of the roles {', '.join(roles)}")
            return view(*args, **kwargs)
        return wrapper
    return decorate


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.login_view = "pages.login"
    login_manager.session_protection = "basic"

    @app.context_processor
    def _inject_actor():
        return {"current_actor": current_actor()}
