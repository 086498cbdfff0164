"""Case search (案件查询): filters, paging, and the same result as an Excel workbook."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Response, request

from engine.cases import case_file, case_lists, exports, personal_data, queries
from engine.definitions.deployment import latest_definitions
from engine.org import choices
from engine.store.models import InstanceStatus

from .. import db
from . import bp
from .common import actor, local_time, page_number, render, t

PAGE = 20
EXPORT_LIMIT = 5000
# Folded under 更多条件 on a phone; the summary says how many of them are set.
MORE_FILTERS = ("org", "deadline", "unit", "from", "to", "closed_from", "closed_to")
DEADLINES = {queries.Deadline.SOON: ("3个工作日内到期", "Due within 3 working days"),
             queries.Deadline.OVERDUE: ("已超期", "Overdue")}


def _day(text: str | None, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime((text or "").strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=zone)


def _criteria(fields: list[tuple[str, str, bool]], *, limit: int, offset: int) -> queries.CaseSearch:
    zone = ZoneInfo(db.services().settings.timezone)
    status = request.args.get("status") or None
    deadline = request.args.get("deadline") or None
    wanted = tuple((name, request.args.get(f"cf.{name}", "").strip()) for name, _, _ in fields
                   if request.args.get(f"cf.{name}", "").strip())
    return queries.CaseSearch(
        business_key=request.args.get("key", "").strip() or None,
        process=request.args.get("process") or None,
        status=InstanceStatus(status) if status in {s.value for s in InstanceStatus} else None,
        org_code=request.args.get("org") or None,
        started_from=_day(request.args.get("from"), zone),
        started_to=_day(request.args.get("to"), zone, end=True),
        fields=wanted,
        deadline=queries.Deadline(deadline) if deadline in {d.value for d in queries.Deadline} else None,
        closed_from=_day(request.args.get("closed_from"), zone),
        closed_to=_day(request.args.get("closed_to"), zone, end=True),
        unit=request.args.get("unit") or None, limit=limit, offset=offset)


def _run(limit: int, offset: int):
    s, me = db.session(), actor()
    definitions = latest_definitions(s)
    chosen = [d for d in definitions if d.key == request.args.get("process")]
    every = case_lists.search_fields(definitions)
    # One process chosen: its own search fields. None: only the fields already being searched on,
    # since the union over every process is too long to read.
    fields = case_lists.search_fields(chosen) if chosen else [f for f in every if request.args.get(f"cf.{f[0]}")]
    specs = case_lists.search_field_specs(chosen or definitions)
    rows, total = queries.search_cases(s, actor=me, search=_criteria(fields, limit=limit, offset=offset))
    values = case_lists.projected_values(s, instance_ids=[r.id for r in rows])
    shown = {r.id: {name: "、".join(personal_data.mask(v) if sensitive else str(case_file.display_value(s, specs.get(name), v))
                                   for v in values[r.id].get(name, []))
                    for name, _, sensitive in fields} for r in rows}
    starters = case_lists.user_names(s, user_ids={r.started_by_id for r in rows})
    pickers = {name: choices.org_choices(s, kind=f.kind) for name, f in specs.items()
               if f is not None and f.type.value == "org"}
    return definitions, fields, rows, total, shown, starters, pickers


@bp.get("/search")
def search():
    searched = bool(request.args)
    definitions, fields, rows, total, shown, starters, pickers = _run(PAGE, (page_number() - 1) * PAGE)
    args = {k: v for k, v in request.args.items() if k != "page"}
    filters_set = sum(1 for value in args.values() if value.strip())
    more_set = sum(1 for name in MORE_FILTERS if args.get(name, "").strip())
    return render("search/search.html", definitions=definitions, fields=fields, rows=rows, total=total,
                  filters_set=filters_set, more_set=more_set, shown=shown, starters=starters, page=page_number(),
                  pages=max(1, -(-total // PAGE)), args=args, searched=searched, pickers=pickers, statuses=case_file.STATUS_LABELS,
                  townships=choices.org_choices(db.session(), kind="township"),
                  units=choices.org_choices(db.session(), kind="unit"), deadlines=DEADLINES)


@bp.get("/search/export.xlsx")
def search_export():
    definitions, fields, rows, total, shown, starters, _ = _run(EXPORT_LIMIT, 0)
    names = {d.key: d.name for d in definitions}
    header = [t("案件编号", "Case no."), t("标题", "Title"), t("流程", "Process"), t("状态", "Status"),
              t("所属组织", "Org"), t("发起人", "Started by"), t("发起时间", "Started at"), t("办结时间", "Ended at")]
    header += [label for _, label, _ in fields]
    table = ([r.business_key, r.title, names.get(r.process_key, r.process_key),
              case_file.STATUS_LABELS.get(r.status, r.status), r.org.name, starters.get(r.started_by_id, ""),
              local_time(r.started_at), local_time(r.ended_at)] + [shown[r.id][n] for n, _, _ in fields] for r in rows)
    note = t(f"共 {total} 条，仅导出前 {len(rows)} 条，请缩小查询范围",
             f"{total} cases; only the first {len(rows)} exported") if total > len(rows) else None
    # Case data is typed by users: exports.build_workbook keeps every text cell text, never a formula.
    content = exports.build_workbook(title=t("案件查询结果", "Cases"), header=header, rows=table, note=note,
                                     widths=[22, 36, 16, 10, 16, 10, 18, 18] + [16] * len(fields))
    stamp = datetime.now(ZoneInfo(db.services().settings.timezone)).strftime("%Y%m%d-%H%M")
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=cases-{stamp}.xlsx"})
