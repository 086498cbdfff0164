"""One database session per request; the view (the caller) decides when it commits."""
from __future__ import annotations

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.orm import Session

from engine.context import Services


def services() -> Services:
    """Return the engine services the running app was built with."""
    return current_app.extensions["pingan"]


# Requests that must not change anything; their session reads only (never SQLite's write lock).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session() -> Session:
    """Return this request's session, opening it on first use: read-only for GET, HEAD and OPTIONS."""
    if "_pingan_session" not in g:
        svc = services()
        g._pingan_session = (svc.read_session_factory if read_only() else svc.session_factory)()
    return g._pingan_session


def read_only() -> bool:
    """Tell whether this request only reads (its session refuses to write)."""
    return has_request_context() and request.method in SAFE_METHODS


def commit() -> None:
    """Commit this request's work (views call it after the engine function succeeded)."""
    s = g.get("_pingan_session")
    if s is not None:
        s.commit()


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(_exc):
        # Anything not committed by the view is rolled back here: a failed request changes nothing.
        s = g.pop("_pingan_session", None)
        if s is not None:
            s.close()
