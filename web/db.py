"""One database session per request; the view (the caller) decides when it commits."""
from __future__ import annotations

import logging
from typing import Callable

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.orm import Session

from engine.context import Services

log = logging.getLogger(__name__)


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


def rollback() -> None:
    """Roll back this request's work, so that an error page can still read (a failed flush blocks the session)."""
    s = g.get("_pingan_session")
    if s is not None:
        s.rollback()


def after_request_write(write: Callable[[Session], None]) -> None:
    """Run ``write`` in a writing transaction of its own once this (reading) request has ended.

    For bookkeeping a read may cause (a token's last use): the request itself never takes the
    write lock, and the write cannot fail the request.
    """
    g.setdefault("_pingan_after_writes", []).append(write)


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(_exc):
        # Anything not committed by the view is rolled back here: a failed request changes nothing.
        s = g.pop("_pingan_session", None)
        if s is not None:
            s.close()
        for write in g.pop("_pingan_after_writes", []):
            try:
                with services().session() as s:
                    write(s)
            except Exception:  # bookkeeping only: never turn a served request into an error
                log.exception("a write after the request failed")
