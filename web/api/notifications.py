"""The notification centre: new tasks, urges, CCs and deadline warnings."""
from __future__ import annotations

from engine.runtime import notifications

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas import NotificationListSchema, PageArgs, ReadRequest

blp = ApiBlueprint("notifications", __name__, url_prefix="/notifications", description="通知 (notifications)")


@blp.route("", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, NotificationListSchema)
@errors()
def list_notifications(args):
    """我的通知（最新在前）和未读数。通知里引用的案件标题按列表规则打码个人信息。"""
    who, s = actor(), db.session()
    rows = notifications.list_notifications(s, user_id=who.id, limit=args["limit"])
    texts = notifications.shown_texts(s, rows)
    return {"items": [{"id": n.id, "kind": n.kind, "text": texts[n.id], "instance_id": n.instance_id, "task_id": n.task_id,
                       "warning_id": n.warning_id, "created_at": n.created_at, "read_at": n.read_at} for n in rows],
            "unread": notifications.unread_count(s, user_id=who.id)}


@blp.route("/read", methods=["POST"])
@blp.arguments(ReadRequest)
@blp.response(204)
@errors()
def mark_read(body):
    """标记已读：`{"ids": [...]}`，不传 ids 则全部标记。"""
    who = actor()
    notifications.mark_read(db.session(), user_id=who.id, ids=body.get("ids"))
    db.commit()
