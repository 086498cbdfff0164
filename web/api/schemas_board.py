"""The board's shape, shared by ``GET /api/v1/board`` and the /board page (which draws its charts from it).

Each figure carries ``url``: the 案件查询 or 督办台账 page with the figure's filters, whose total is
the figure's value, and ``list``/``params``: the same filters for a client building its own link.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import g, url_for
from marshmallow import fields

from engine.board.figures import Area, Board, Count, ListLink, Row

from .schemas import Strict

PAGES = {"search": "pages.search", "ledger": "pages.ledger_page"}


def link_url(link: ListLink) -> str:
    """Return the page a figure links to, with its filters.

    As ``url_for(page, **params)`` writes it, but the page's address is built once per request: a
    leader over many townships has thousands of figures, and ``url_for`` costs about 0.1 ms each.
    """
    bases = g.setdefault("board_page_urls", {})
    base = bases.get(link.page)
    if base is None:
        base = bases[link.page] = url_for(PAGES[link.page])
    items = [(k, v) for k, v in link.params.items() if v is not None]
    return f"{base}?{urlencode(items, safe=_SAFE)}" if items else base


_SAFE = "!$'()*,/:;?@"  # what werkzeug leaves unquoted in a built URL's query (werkzeug.urls._urlencode)


class CountSchema(Strict):
    key = fields.String(required=True)
    label = fields.String(required=True)
    label_en = fields.String(required=True)
    value = fields.Integer(required=True)
    list = fields.String(required=True, metadata={"description": "search 案件查询，ledger 督办台账"})
    params = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "该列表的筛选条件（查询参数）"})
    url = fields.String(required=True, metadata={"description": "列表页地址（含筛选条件），其总数即 value"})


class RowSchema(Strict):
    code = fields.String(required=True, metadata={"description": "组织编码"})
    name = fields.String(required=True)
    counts = fields.List(fields.Nested(CountSchema), required=True,
                         metadata={"description": "在办、3个工作日内到期、已超期、本月办结"})
    board_url = fields.String(allow_none=True, metadata={
        "description": "该地区自己的看板（`?area=组织编码`）；地区不全在您的查看范围内时（如借阅、抄送所见），及成员单位行，为空"})


class AreaLinkSchema(Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    board_url = fields.String(required=True)


class AreaSchema(Strict):
    code = fields.String(required=True, metadata={"description": "看板限定的地区（组织编码）"})
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "county 县（市、区）、township 乡镇（街道）等"})
    trail = fields.List(fields.Nested(AreaLinkSchema), required=True,
                        metadata={"description": "其上级地区中您可查看者（由外到内），供逐级返回"})
    up_url = fields.String(required=True, metadata={"description": "上一级看板的地址（最外一级为您的全部范围）"})


class BoardArgs(Strict):
    area = fields.String(metadata={"description": "只看该地区（县、乡镇等组织编码，须在您的查看范围内）；不填为全部范围"})


class TrendSchema(Strict):
    key = fields.String(required=True)
    label = fields.String(required=True)
    label_en = fields.String(required=True)
    current = fields.Nested(CountSchema, required=True, metadata={"description": "本月1日至今"})
    previous = fields.Nested(CountSchema, required=True, metadata={"description": "上月同期"})
    change = fields.Float(allow_none=True, metadata={"description": "相对上月同期的变化（0.25 即增加 25%）；上期为 0 时为空"})


class RateSchema(Strict):
    key = fields.String(required=True)
    label = fields.String(required=True)
    label_en = fields.String(required=True)
    value = fields.Float(allow_none=True, metadata={"description": "比率（%）、平均工作时或件数；无可计算的案件时为空"})
    unit = fields.String(required=True)
    numerator = fields.Integer(required=True)
    denominator = fields.Integer(required=True)
    previous = fields.Float(allow_none=True, metadata={"description": "上月同期的值"})


class BoardSchema(Strict):
    as_of = fields.DateTime(required=True, metadata={"description": "统计时刻"})
    month_start = fields.Date(required=True)
    window_start = fields.Date(required=True, metadata={"description": "图表统计的起始日（含本月共6个月）"})
    counts = fields.List(fields.Nested(CountSchema), required=True,
                         metadata={"description": "在办案件、3个工作日内到期、已超期、本月办结"})
    area = fields.Nested(AreaSchema, allow_none=True, required=True,
                         metadata={"description": "看板限定的地区；为空表示您的全部查看范围"})
    area_level = fields.String(required=True, metadata={
        "description": "by_area 的层级：township 按乡镇（街道）；范围跨多个县时为 county 按县（市、区），每行可打开该县的看板"})
    by_area = fields.List(fields.Nested(RowSchema), required=True,
                          metadata={"description": "按地区（见 area_level）：在办、3个工作日内到期、已超期、本月办结"})
    by_unit = fields.List(fields.Nested(RowSchema), required=True,
                          metadata={"description": "按成员单位：该单位办理过或正在办理其环节的案件"})
    by_type = fields.List(fields.Nested(CountSchema), required=True, metadata={"description": "统计期内新增案件，按流程"})
    area_started = fields.List(fields.Nested(CountSchema), required=True,
                               metadata={"description": "统计期内新增案件，按地区（见 area_level）"})
    started_by_month = fields.List(fields.Nested(CountSchema), required=True)
    closed_by_month = fields.List(fields.Nested(CountSchema), required=True)
    cards = fields.List(fields.Nested(CountSchema), required=True, metadata={"description": "办理中的督办事项，按亮牌"})
    trends = fields.List(fields.Nested(TrendSchema), required=True)
    rates = fields.List(fields.Nested(RateSchema), required=True,
                        metadata={"description": "本月指标：按期办结率、调解成功率、网格事件结案率、平均处置用时（工作时）等"})


def count_dict(c: Count) -> dict:
    return {"key": c.key, "label": c.label, "label_en": c.label_en, "value": c.value, "list": c.link.page,
            "params": dict(c.link.params), "url": link_url(c.link)}


def board_url(code: str | None) -> str:
    """Return the board's page for the area ``code`` (None: the viewer's whole scope)."""
    bases = g.setdefault("board_page_urls", {})
    base = bases.get("board")
    if base is None:
        base = bases["board"] = url_for("pages.board_page")
    return base if code is None else f"{base}?{urlencode([('area', code)], safe=_SAFE)}"


def _row(r: Row) -> dict:
    return {"code": r.code, "name": r.name, "counts": [count_dict(c) for c in r.counts],
            "board_url": board_url(r.code) if r.drill else None}


def _area(a: Area | None) -> dict | None:
    if a is None:
        return None
    trail = [{"code": code, "name": name, "board_url": board_url(code)} for code, name in a.trail]
    return {"code": a.code, "name": a.name, "kind": a.kind, "trail": trail,
            "up_url": trail[-1]["board_url"] if trail else board_url(None)}


def board_dict(b: Board) -> dict:
    """Return the board as the API gives it (and the page's charts read it)."""
    return {
        "as_of": b.now, "month_start": b.month_start, "window_start": b.window_start,
        "counts": [count_dict(c) for c in b.counts],
        "area": _area(b.area), "area_level": b.area_level,
        "by_area": [_row(r) for r in b.by_area], "by_unit": [_row(r) for r in b.by_unit],
        "by_type": [count_dict(c) for c in b.by_type], "area_started": [count_dict(c) for c in b.area_started],
        "started_by_month": [count_dict(c) for c in b.started_by_month],
        "closed_by_month": [count_dict(c) for c in b.closed_by_month],
        "cards": [count_dict(c) for c in b.cards],
        "trends": [{"key": t.key, "label": t.label, "label_en": t.label_en, "current": count_dict(t.current),
                    "previous": count_dict(t.previous), "change": t.change} for t in b.trends],
        "rates": [{"key": r.key, "label": r.label, "label_en": r.label_en, "value": r.value, "unit": r.unit,
                   "numerator": r.numerator, "denominator": r.denominator, "previous": r.previous}
                  for r in b.rates],
    }


__all__ = ["BoardArgs", "BoardSchema", "board_dict", "board_url", "count_dict", "link_url"]
