"""The staff pages: server-rendered Jinja, one module per area, each view calling one engine function."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)

from . import common  # noqa: E402  (registers the blueprint's error handlers and template helpers)
# One area per line, so adding an area is adding a line.
from . import account  # noqa: E402,F401
from . import admin  # noqa: E402,F401
from . import board  # noqa: E402,F401
from . import case  # noqa: E402,F401
from . import ledger  # noqa: E402,F401
from . import lists  # noqa: E402,F401
from . import notices  # noqa: E402,F401
from . import search  # noqa: E402,F401
from . import start  # noqa: E402,F401
from . import studio  # noqa: E402,F401
from . import task  # noqa: E402,F401

from . import warnings  # noqa: E402,F401
__all__ = ["bp"]
