"""The notification centre: new tasks, urges, CCs and deadline warnings."""
from __future__ import annotations

from flask import redirect, request, url_for

from engine.runtime import notifications

from .. import db
from . import bp
from .common import actor, render


@bp.get("/notifications")
def notification_list():
    me = actor()
    s = db.session()
    rows = notifications.list_notifications(s, user_id=me.id, limit=100)
    # A notice quotes the case title, which may carry personal data: masked like any list.
    return render("notifications/list.html", rows=rows, texts=notifications.shown_texts(s, rows))


@bp.post("/notifications/read")
def notification_read():
    me = actor()
    ids = [int(i) for i in request.form.getlist("id") if i.isdigit()] or None
    notifications.mark_read(db.session(), user_id=me.id, ids=ids)
    db.commit()
    target = request.form.get("go")
    if target and target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("pages.notification_list"))
