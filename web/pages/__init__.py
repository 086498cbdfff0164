"""The staff pages: server-rendered Jinja, one module per area, each view calling one engine function."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)

from . import common  # noqa: E402  (registers the blueprint's error handlers and template helpers)
from . import account, admin, case, ledger, lists, notices, search, start, task  # noqa: E402,F401

__all__ = ["bp"]
