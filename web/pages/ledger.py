"""督办台账: the supervision ledger page, its Excel export, bulk 催办, and the printable 督办单 and 督办通报.

The query string is read by the API's ``LedgerArgs`` and turned into the engine's filter by the
same ``ledger_filter``, so this page and ``GET /api/v1/supervision/items`` show the same rows.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, flash, redirect, request, url_for
from marshmallow import EXCLUDE

from engine.board.ledger import CARD_LABELS, STATUS_LABELS, Card, ItemStatus, LedgerItem, ledger, source_choices
from engine.board.notice import supervision_notice, supervision_sheet
from engine.board.urging import urge_items
from engine.cases.exports import build_workbook
from engine.org import choices

from .. import db
from ..api.schemas_supervision import LedgerArgs, ledger_filter
from . import bp
from .common import actor, local_time, page_number, render, t

PAGE = 30
EXPORT_LIMIT = 5000
# Roles that track supervision items; a unit's handler sees the items of the unit.
LEDGER_ROLES = {"inspector", "leader", "admin", "handler"}
# The ledger's columns, in order: the page's table and the Excel export both use exactly these.
COLUMNS = [
    ("business_key", "业务编号", "Item no."), ("title", "督办事项", "Item"), ("source", "事项来源", "Source"),
    ("lead_unit", "牵头单位", "Lead unit"), ("feedback", "协办单位及反馈", "Assisting units (feedback)"),
    ("created_at", "立项日期", "Created"), ("due_at", "办结期限", "Due"), ("current_step", "当前环节", "Current step"),
    ("holder", "办理人/单位", "Held by"), ("days_left", "剩余/超期", "Days left"), ("card", "亮牌", "Card"),
    ("urge_count", "催办次数", "Urged"), ("status", "状态", "Status"),
]


@bp.app_template_global("sees_ledger")
def sees_ledger(me) -> bool:
    """Tell whether the menu offers the ledger to this person."""
    return me is not None and any(role in LEDGER_ROLES for role, _ in me.grants)


def card_label(card: Card) -> str:
    return t(*CARD_LABELS[card])


def status_label(status: ItemStatus) -> str:
    return t(*STATUS_LABELS[status])


def days_text(item: LedgerItem) -> str:
    """Say how many working days are left, or how many overdue."""
    if item.days_left is None:
        if item.on_time is not None:
            return t("按期办结", "Closed on time") if item.on_time else t("超期办结", "Closed late")
        return ""
    if item.overdue:
        n = -item.days_left
        return t(f"超期 {n} 个工作日", f"{n} working days overdue") if n else t("今日已超期", "Overdue today")
    if item.days_left == 0:
        return t("今日到期", "Due today")
    return t(f"剩 {item.days_left} 个工作日", f"{item.days_left} working days left")


def cells(item: LedgerItem) -> dict[str, object]:
    """Return what each column shows for an item (names, never codes; local dates)."""
    return {
        "business_key": item.business_key, "title": item.title, "source": item.source,
        "lead_unit": item.lead_unit_name, "feedback": item.feedback or t("无", "None"),
        "created_at": local_time(item.created_at, "%Y-%m-%d"), "due_at": local_time(item.due_at),
        "current_step": item.current_step, "holder": item.holder, "days_left": days_text(item),
        "card": card_label(item.card), "urge_count": item.urge_count, "status": status_label(item.status),
    }


def _zone() -> ZoneInfo:
    return ZoneInfo(db.services().settings.timezone)


def _args() -> tuple[dict, dict]:
    """Parse the filters like the API does; a value it would refuse is dropped here (a page never 422s)."""
    raw = {k: v for k, v in request.args.items() if k not in ("page", "limit", "offset") and v != ""}
    schema = LedgerArgs(unknown=EXCLUDE)
    bad = schema.validate(raw)
    # Only the filters' own names go on: the rest of the query string is never echoed into links.
    kept = {k: v for k, v in raw.items() if k in schema.fields and k not in bad}
    return schema.load(kept), kept


def _rows(limit: int, offset: int):
    parsed, kept = _args()
    flt = ledger_filter({**parsed, "limit": limit, "offset": offset}, zone=_zone())
    items, total = ledger(db.session(), actor=actor(), flt=flt)
    return items, total, kept


@bp.get("/ledger")
def ledger_page():
    page = page_number()
    items, total, args = _rows(PAGE, (page - 1) * PAGE)
    s = db.session()
    return render("ledger/ledger.html", items=items, total=total, args=args, page=page,
                  pages=max(1, -(-total // PAGE)), columns=COLUMNS, cells=cells,
                  sort_base={k: v for k, v in args.items() if k not in ("sort", "order")},
                  units=choices.org_choices(s, kind="unit"), townships=choices.org_choices(s, kind="township"),
                  sources=source_choices(s), cards=[(c.value, card_label(c)) for c in Card],
                  statuses=[(st.value, status_label(st)) for st in ItemStatus])


@bp.get("/ledger/export.xlsx")
def ledger_export():
    items, total, _ = _rows(EXPORT_LIMIT, 0)
    header = [t(zh, en) for _, zh, en in COLUMNS]
    table = ([cells(i)[key] for key, _, _ in COLUMNS] for i in items)
    note = t(f"共 {total} 项，仅导出前 {len(items)} 项，请缩小查询范围",
             f"{total} items; only the first {len(items)} exported") if total > len(items) else None
    # Titles and units are typed by users: build_workbook keeps every text cell text, never a formula.
    content = build_workbook(title=t("督办台账", "Supervision ledger"), header=header, rows=table, note=note,
                             widths=[22, 30, 10, 16, 30, 12, 17, 18, 16, 16, 8, 8, 10])
    stamp = datetime.now(_zone()).strftime("%Y%m%d-%H%M")
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=supervision-{stamp}.xlsx"})


@bp.post("/ledger/urge")
def ledger_urge():
    ids = [int(v) for v in request.form.getlist("item") if v.isdigit() and len(v) <= 10][:200]
    back = url_for("pages.ledger_page", **_args()[1])
    if not ids:
        flash(t("请先勾选要催办的事项", "Choose the items to urge first"), "error")
        return redirect(back)
    results = urge_items(db.session(), instance_ids=ids, actor=actor(),
                         opinion=(request.form.get("opinion") or "").strip()[:500] or None)
    db.commit()
    for r in results:
        text = t(r.message, r.message_en)
        flash(f"{r.business_key or r.instance_id}：{text}", "ok" if r.ok else "error")
    return redirect(back)


@bp.get("/ledger/<int(max=2147483647):instance_id>/print")
def ledger_sheet(instance_id: int):
    sheet = supervision_sheet(db.session(), actor=actor(), instance_id=instance_id)
    return render("ledger/sheet.html", sheet=sheet, item=sheet.item, cells=cells(sheet.item))


@bp.get("/ledger/notice")
def ledger_notice():
    parsed, args = _args()
    flt = ledger_filter(parsed, zone=_zone())
    sections = supervision_notice(db.session(), actor=actor(), created_from=flt.created_from,
                                  created_to=flt.created_to)
    return render("ledger/notice.html", sections=sections, args=args, cells=cells,
                  period=(args.get("created_from", ""), args.get("created_to", "")))
