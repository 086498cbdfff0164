"""Messages from outside systems (a court's confirmation, a hotline's update) delivered to waiting cases."""
from __future__ import annotations

from engine.errors import NotAllowed
from engine.runtime.messages import send_message

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas import DeliverySchema, MessageRequest

blp = ApiBlueprint("messages", __name__, url_prefix="/messages", description="外部消息 (BPMN messages)")

# Integration accounts are given one of these roles; a message can move any waiting case.
SENDER_ROLES = ("admin", "dispatcher")


@blp.route("/<string:name>", methods=["POST"])
@blp.arguments(MessageRequest)
@blp.response(200, DeliverySchema)
@errors(403)
def deliver(body, name: str):
    """投递消息：`{"correlation": {...}, "payload": {...}}` 交给关联键匹配的等待案件；无人等待且流程未声明保留时返回 404。

    需要 admin 或 dispatcher 角色（对接账号）。
    """
    who = actor()
    if not any(who.has_role(r) for r in SENDER_ROLES):
        raise NotAllowed("只有管理员或调度员（对接账号）可以投递外部消息", message_en="only admins or dispatchers may send messages")
    delivery = send_message(db.session(), name=name[:100], correlation=body["correlation"], payload=body["payload"],
                            actor=who)
    db.commit()
    return {"delivered_to": delivery.instance_ids, "started": delivery.started, "kept": delivery.kept_id}
