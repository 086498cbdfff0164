"""看板 (the board): the counts, charts and rates of what the viewer may see, each figure a link to its list.

The page and ``GET /api/v1/board`` read the same ``board_dict``; the page's charts (web/static/board.js,
ECharts) draw from that JSON, and every bar and slice opens the list behind it.
"""
from __future__ import annotations

from flask import request

from engine.board.figures import board

from .. import db
from ..api.schemas_board import board_dict
from . import bp
from .common import actor, render

# Roles whose home page is the board (and whose menu shows it); 'board' is the right to read it alone.
BOARD_ROLES = {"leader", "inspector", "board"}


@bp.app_template_global("sees_board")
def sees_board(me) -> bool:
    """Tell whether the board is this person's home page and menu line."""
    return me is not None and any(role in BOARD_ROLES for role, _ in me.grants)


@bp.get("/board")
def board_page():
    data = board_dict(board(db.session(), actor=actor(), area=(request.args.get("area") or "").strip()[:64] or None))
    return render("board/board.html", board=data)
