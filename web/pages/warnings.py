"""预警: the warnings in the viewer's scope, and acknowledge, dismiss (with a reason) and 督办 on each.

The list asks ``engine.board.warnings.list_warnings`` with the API's ``WarningArgs``, so the page and
``GET /api/v1/warnings`` show the same warnings. A refused action shows the list again with that
warning's dialog open, what was typed kept and the message beside the fields.
"""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from marshmallow import EXCLUDE

from engine.board.models import WarningLevel, WarningStatus
from engine.board.warning_rules import KINDS, LEVEL_LABELS
from engine.board.warnings import (
    STATUS_LABELS, acknowledge_warning, dismiss_warning, get_warning, list_warnings, may_see_warnings, may_supervise,
    supervise_warning, supervision_draft, warning_timeline,
)
from engine.errors import Conflict, FormInvalid, NotAllowed, NotFound
from engine.org import choices

from .. import db
from ..api.schemas_warnings import WarningArgs
from . import bp
from .common import actor, local_time, page_number, render, t

PAGE = 20
TABS = [("open", "待处理", "Open"), ("", "全部", "All"), ("dismissed", "已排除", "Dismissed"),
        ("supervised", "已督办", "Supervised"), ("resolved", "已解除", "Resolved")]


@bp.app_template_global("sees_warnings")
def sees_warnings(me) -> bool:
    """Tell whether the menu offers 预警 to this person (leaders, inspectors, administrators)."""
    return me is not None and may_see_warnings(me)


def level_label(level: WarningLevel) -> str:
    return t(*LEVEL_LABELS[WarningLevel(level)])


def status_label(status: WarningStatus) -> str:
    return t(*STATUS_LABELS[WarningStatus(status)])


def _args() -> dict:
    raw = {k: v for k, v in request.args.items() if k in ("status", "level", "rule")}
    raw.setdefault("status", "open")
    schema = WarningArgs(unknown=EXCLUDE)
    bad = schema.validate(raw)
    return {k: v for k, v in raw.items() if k not in bad and v != ""}


def _page(*, status: int = 200, dialog: dict | None = None, one: int | None = None):
    """The list (one page of it), or with ``one`` the detail page of that warning with its history."""
    s, me = db.session(), actor()
    args = _args() if dialog is None else dialog["args"]
    page = page_number()
    if one is None:
        views, total = list_warnings(s, actor=me, status=args.get("status"), level=args.get("level"),
                                     rule=args.get("rule"), limit=PAGE, offset=(page - 1) * PAGE)
        template, history, action_args = "warnings/list.html", [], args
    else:
        views, total = [get_warning(s, warning_id=one, actor=me)], 1
        template, history, action_args = "warnings/detail.html", warning_timeline(s, warning_id=one, actor=me), {"one": one}
    # The 督办 dialog starts from what supervise_warning would fill in.
    drafts = {v.id: supervision_draft(v) for v in views if v.status in (WarningStatus.OPEN, WarningStatus.ACKNOWLEDGED)}
    return render(template, status, warnings=views, total=total, page=page,
                  pages=max(1, -(-total // PAGE)), args=args, action_args=action_args, single=one is not None,
                  history=history, tabs=TABS, drafts=drafts,
                  units=choices.org_choices(s, kind="unit"), level_label=level_label, status_label=status_label,
                  levels=[(lv.value, level_label(lv)) for lv in WarningLevel],
                  rules=[(k, kind.name) for k, kind in KINDS.items()], local_time=local_time,
                  supervises=may_supervise(s, actor=me),
                  dialog=dialog or {"id": None, "op": None, "message": None, "form": {}})


def _one() -> int | None:
    """The warning whose detail page an action came from (``?one=``), if any."""
    raw = request.args.get("one", "")
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


@bp.get("/warnings")
def warnings_page():
    if not may_see_warnings(actor()):
        raise NotAllowed("只有领导、督查员和管理员可以查看预警", message_en="only leaders, inspectors and administrators see warnings")
    return _page()


@bp.get("/warnings/<int(max=2147483647):warning_id>")
def warning_page(warning_id: int):
    """One warning with its evidence and history: where a warning notice leads."""
    if not may_see_warnings(actor()):
        raise NotAllowed("只有领导、督查员和管理员可以查看预警", message_en="only leaders, inspectors and administrators see warnings")
    return _page(one=warning_id)


def _back():
    if _one() is not None:
        return redirect(url_for("pages.warning_page", warning_id=_one()))
    return redirect(url_for("pages.warnings_page", **{k: v for k, v in request.args.items()
                                                      if k in ("status", "level", "rule", "page")}))


def _in_dialog(warning_id: int, op: str, operation):
    """Run one action; if the engine refuses it, show the list again with that warning's dialog open."""
    try:
        return operation()
    except (FormInvalid, NotAllowed, NotFound, Conflict) as exc:
        db.session().rollback()
        if isinstance(exc, NotFound):
            raise
        return _page(status=exc.status, one=_one(), dialog={"id": warning_id, "op": op, "message": exc.message,
                                                           "form": request.form, "args": _args()})


@bp.post("/warnings/<int(max=2147483647):warning_id>/acknowledge")
def warning_acknowledge(warning_id: int):
    refused = _in_dialog(warning_id, "acknowledge", lambda: acknowledge_warning(
        db.session(), warning_id=warning_id, actor=actor()) and None)
    if refused:
        return refused
    db.commit()
    flash(t("已确认该预警", "Warning acknowledged"), "ok")
    return _back()


@bp.post("/warnings/<int(max=2147483647):warning_id>/dismiss")
def warning_dismiss(warning_id: int):
    refused = _in_dialog(warning_id, "dismiss", lambda: dismiss_warning(
        db.session(), warning_id=warning_id, actor=actor(), reason=request.form.get("reason")) and None)
    if refused:
        return refused
    db.commit()
    flash(t("已排除该预警", "Warning dismissed"), "ok")
    return _back()


def _workdays(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 4 else (raw or None)


@bp.post("/warnings/<int(max=2147483647):warning_id>/supervise")
def warning_supervise(warning_id: int):
    started = []

    def run():
        view, instance = supervise_warning(
            db.session(), warning_id=warning_id, actor=actor(), lead_unit=request.form.get("lead_unit") or None,
            time_limit_workdays=_workdays(request.form.get("time_limit_workdays")),
            assisting=[u for u in request.form.getlist("assisting") if u][:10],
            item_title=request.form.get("item_title"), requirements=request.form.get("requirements"))
        started.append(instance)

    refused = _in_dialog(warning_id, "supervise", run)
    if refused:
        return refused
    db.commit()
    instance = started[0]
    flash(t(f"已立项督办：{instance.business_key}，待领导审核", f"Supervision item {instance.business_key} opened"), "ok")
    return redirect(url_for("pages.case_page", instance_id=instance.id))
