"""The four work lists: to-do (待办), done (已办), CC'd to me (抄送), started by me (我发起的)."""
from __future__ import annotations

from flask import redirect, request, url_for

from engine.cases import queries
from engine.definitions.deployment import latest_definitions
from engine.org.orgs import ROLES

from .. import db
from . import bp
from .board import sees_board
from .common import actor, page_number, render

PAGE = 30


@bp.get("/")
def home():
    return redirect(home_url(actor()))


def home_url(me) -> str:
    """Return a person's home page: the board for leaders, inspectors and holders of the board right, else the to-do list."""
    return url_for("pages.board_page") if sees_board(me) else url_for("pages.todo")


@bp.get("/todo")
def todo():
    me, s = actor(), db.session()
    light = request.args.get("light") or None
    flt = queries.TaskFilter(
        process=request.args.get("process") or None,
        light=queries.Light(light) if light in {lt.value for lt in queries.Light} else None,
        org_code=request.args.get("org") or None,
        limit=PAGE + 1, offset=(page_number() - 1) * PAGE)
    rows = queries.todo(s, actor=me, flt=flt)
    counts = queries.todo_counts(s, actor=me)
    processes = [(d.key, d.name) for d in latest_definitions(s)]
    townships = _townships(s)
    return render("todo/list.html", tasks=rows[:PAGE], has_more=len(rows) > PAGE, page=page_number(), counts=counts,
                  processes=processes, townships=townships, flt=flt, roles=ROLES, light_of=queries.light_of,
                  instances={t.instance_id: t.instance for t in rows})


def _townships(s):
    from engine.org.choices import org_choices

    return org_choices(s, kind="township")


@bp.get("/done")
def done():
    me, s = actor(), db.session()
    rows = queries.done(s, actor=me, limit=PAGE + 1, offset=(page_number() - 1) * PAGE)
    return render("todo/done.html", tasks=rows[:PAGE], has_more=len(rows) > PAGE, page=page_number())


@bp.get("/cc")
def copied():
    me, s = actor(), db.session()
    rows = queries.copied_to_me(s, actor=me, limit=PAGE + 1, offset=(page_number() - 1) * PAGE)
    return render("todo/cc.html", rows=rows[:PAGE], has_more=len(rows) > PAGE, page=page_number())


@bp.get("/started")
def started():
    me, s = actor(), db.session()
    rows = queries.started_by_me(s, actor=me, limit=PAGE + 1, offset=(page_number() - 1) * PAGE)
    return render("todo/started.html", cases=rows[:PAGE], has_more=len(rows) > PAGE, page=page_number())
