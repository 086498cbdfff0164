"""Supervision items (督办台账): the ledger in the caller's scope, and bulk 催办."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from engine.board.ledger import ledger
from engine.board.urging import urge_items

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas_supervision import LedgerArgs, LedgerSchema, UrgeItemsRequest, ItemUrgeResultsSchema, item_dict, ledger_filter

blp = ApiBlueprint("supervision", __name__, url_prefix="/supervision", description="督办台账 (supervision ledger)")


@blp.route("/items", methods=["GET"])
@blp.arguments(LedgerArgs, location="query")
@blp.response(200, LedgerSchema)
@errors()
def items(args):
    """督办台账：可见范围内的督办事项（与案件查询同一可见规则），含期限、剩余/超期工作日、亮牌、当前环节、催办次数、协办反馈。"""
    flt = ledger_filter(args, zone=ZoneInfo(db.services().settings.timezone))
    found, total = ledger(db.session(), actor=actor(), flt=flt)
    return {"items": [item_dict(i) for i in found], "total": total}


@blp.route("/items/urge", methods=["POST"])
@blp.arguments(UrgeItemsRequest)
@blp.response(200, ItemUrgeResultsSchema)
@errors()
def urge(body):
    """批量催办：逐项催办各事项的当前环节；某项被拒（如 10 分钟内已催办）只在该项结果中说明，不影响其他事项。"""
    results = urge_items(db.session(), instance_ids=body["instance_ids"], actor=actor(), opinion=body.get("opinion"))
    db.commit()
    return {"results": [r.__dict__ for r in results]}
