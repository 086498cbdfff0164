"""The supervision ledger's query and item shapes, shared by the API and the ledger page.

The page reads its query string with the same ``LedgerArgs`` and ``ledger_filter`` as
``GET /api/v1/supervision/items``, so both always ask the engine the same question.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from marshmallow import fields, validate

from engine.board.ledger import SORT_KEYS, Card, ItemStatus, LedgerFilter

from .schemas import KEY, PageArgs, Strict


class LedgerArgs(PageArgs):
    unit = fields.String(validate=KEY, metadata={"description": "单位编码：牵头单位或协办单位"})
    township = fields.String(validate=KEY, metadata={"description": "乡镇/街道编码：案件所属组织在其范围内"})
    source = fields.String(validate=validate.Length(min=1, max=50),
                           metadata={"description": "事项来源（督办立项表单的选项之一，如 领导批示）"})
    card = fields.String(validate=validate.OneOf([c.value for c in Card]),
                         metadata={"description": "none 正常、near 临期、yellow 黄牌、red 红牌"})
    status = fields.String(validate=validate.OneOf([s.value for s in ItemStatus]))
    created_from = fields.Date(metadata={"description": "立项日期从（含，本地日期）"})
    created_to = fields.Date(metadata={"description": "立项日期至（含，本地日期）"})
    sort = fields.String(load_default="due_at", validate=validate.OneOf(SORT_KEYS))
    order = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]))


def ledger_filter(args: dict, *, zone: ZoneInfo) -> LedgerFilter:
    """Turn parsed ``LedgerArgs`` into the engine's filter; dates are local days, the end day included."""
    return LedgerFilter(
        unit=args.get("unit") or None, township=args.get("township") or None, source=args.get("source") or None,
        card=Card(args["card"]) if args.get("card") else None,
        status=ItemStatus(args["status"]) if args.get("status") else None,
        created_from=_start_of(args.get("created_from"), zone),
        created_to=_start_of(args["created_to"] + timedelta(days=1), zone) if args.get("created_to") else None,
        sort=args.get("sort") or "due_at", descending=args.get("order") == "desc",
        limit=args.get("limit", 50), offset=args.get("offset", 0))


def _start_of(day: date | None, zone: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=zone) if day else None


class FeedbackSchema(Strict):
    unit = fields.String(required=True)
    unit_name = fields.String(required=True)
    done = fields.Boolean(required=True, metadata={"description": "该协办单位是否已反馈"})


class LedgerItemSchema(Strict):
    instance_id = fields.Integer(required=True)
    business_key = fields.String(required=True)
    title = fields.String(required=True)
    source = fields.String(required=True)
    lead_unit = fields.String(allow_none=True, metadata={"description": "牵头单位编码"})
    lead_unit_name = fields.String(required=True)
    assisting = fields.List(fields.Nested(FeedbackSchema), required=True, metadata={"description": "协办单位及反馈进度"})
    created_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True, metadata={"description": "办结期限"})
    current_step = fields.String(required=True, metadata={"description": "当前环节（多个以顿号分隔）"})
    holder = fields.String(required=True, metadata={"description": "当前环节的办理人或单位"})
    days_left = fields.Integer(allow_none=True, metadata={"description": "剩余工作日，负数为超期工作日"})
    overdue = fields.Boolean(required=True)
    card = fields.String(required=True, validate=validate.OneOf([c.value for c in Card]))
    urge_count = fields.Integer(required=True, metadata={"description": "催办次数"})
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in ItemStatus]))
    on_time = fields.Boolean(allow_none=True, metadata={"description": "已办结事项是否按期"})


class LedgerSchema(Strict):
    items = fields.List(fields.Nested(LedgerItemSchema), required=True)
    total = fields.Integer(required=True)


class UrgeItemsRequest(Strict):
    instance_ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=2_147_483_647)), required=True,
                               validate=validate.Length(min=1, max=200))
    opinion = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ItemUrgeResultSchema(Strict):
    instance_id = fields.Integer(required=True)
    business_key = fields.String(required=True)
    ok = fields.Boolean(required=True)
    reminded = fields.Integer(required=True)
    message = fields.String(required=True)
    message_en = fields.String(required=True)


class ItemUrgeResultsSchema(Strict):
    results = fields.List(fields.Nested(ItemUrgeResultSchema), required=True)


def item_dict(item) -> dict:
    """Return a ledger item as the API gives it."""
    return {
        "instance_id": item.instance_id, "business_key": item.business_key, "title": item.title, "source": item.source,
        "lead_unit": item.lead_unit, "lead_unit_name": item.lead_unit_name,
        "assisting": [{"unit": f.unit, "unit_name": f.unit_name, "done": f.done} for f in item.assisting],
        "created_at": item.created_at, "due_at": item.due_at, "current_step": item.current_step,
        "holder": item.holder, "days_left": item.days_left, "overdue": item.overdue, "card": item.card.value,
        "urge_count": item.urge_count, "status": item.status.value, "on_time": item.on_time,
    }


__all__ = ["LedgerArgs", "ledger_filter", "LedgerSchema", "UrgeItemsRequest", "ItemUrgeResultsSchema", "item_dict"]
