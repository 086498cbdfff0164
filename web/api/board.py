"""The board (看板): its counts and series in the caller's scope, each with the list behind it."""
from __future__ import annotations

from engine.board.figures import board as board_figures

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas_board import BoardArgs, BoardSchema, board_dict

blp = ApiBlueprint("board", __name__, url_prefix="/board", description="看板 (the board of leaders and inspectors)")


@blp.route("", methods=["GET"])
@blp.arguments(BoardArgs, location="query")
@blp.response(200, BoardSchema)
@errors(403)
def board(args):
    """看板：可见范围内（与案件查询同一可见规则）的在办、3个工作日内到期、已超期、本月办结，按地区（乡镇；范围跨多个县时按县）和成员单位的分组，近6个月按类型、地区、月份的新增与办结，办理中督办事项的亮牌，与上月同期比较，以及本月指标。每个数字附带其背后列表的筛选条件和地址，列表总数即该数字。`area` 限定到范围内的某个县或乡镇（逐级下钻），各数字的列表同样限定到该地区。"""
    return board_dict(board_figures(db.session(), actor=actor(), area=args.get("area") or None))
