"""Early warning (预警): the warnings in the caller's scope, acknowledge, dismiss with a reason, turn into a supervision item."""
from __future__ import annotations

from engine.board.warnings import (
    acknowledge_warning, dismiss_warning, get_warning, list_warnings, supervise_warning, warning_timeline,
)

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas_warnings import (
    DismissRequest, SuperviseRequest, SuperviseResultSchema, WarningArgs, WarningDetailSchema, WarningListSchema,
    WarningSchema, warning_dict,
)

blp = ApiBlueprint("warnings", __name__, url_prefix="/warnings", description="预警 (early warning)")


@blp.route("", methods=["GET"])
@blp.arguments(WarningArgs, location="query")
@blp.response(200, WarningListSchema)
@errors()
def list_(args):
    """预警列表：可见范围内（领导、督查员所辖组织）的预警，最新的在前，含等级、规则、依据案件和处理状态。"""
    found, total = list_warnings(db.session(), actor=actor(), status=args.get("status"), level=args.get("level"),
                                 rule=args.get("rule"), limit=args.get("limit", 50), offset=args.get("offset", 0))
    return {"items": [warning_dict(w) for w in found], "total": total}


@blp.route("/<int:warning_id>", methods=["GET"])
@blp.response(200, WarningDetailSchema)
@errors(404)
def detail(warning_id: int):
    """一条预警及其处理经过（发出、依据增加、确认、排除、转督办、自动解除），操作人为姓名；范围外的预警为 404。"""
    s, who = db.session(), actor()
    return {"warning": warning_dict(get_warning(s, warning_id=warning_id, actor=who)),
            "history": [e.__dict__ for e in warning_timeline(s, warning_id=warning_id, actor=who)]}


@blp.route("/<int:warning_id>/acknowledge", methods=["POST"])
@blp.response(200, WarningSchema)
@errors(404, 409)
def acknowledge(warning_id: int):
    """确认预警：表示已知悉，预警仍待处理（排除或督办）。"""
    view = acknowledge_warning(db.session(), warning_id=warning_id, actor=actor())
    db.commit()
    return warning_dict(view)


@blp.route("/<int:warning_id>/dismiss", methods=["POST"])
@blp.arguments(DismissRequest)
@blp.response(200, WarningSchema)
@errors(404, 409, 422)
def dismiss(body, warning_id: int):
    """排除预警：必须填写理由；同一对象以后有新的案件时会再次预警。"""
    view = dismiss_warning(db.session(), warning_id=warning_id, actor=actor(), reason=body.get("reason"))
    db.commit()
    return warning_dict(view)


@blp.route("/<int:warning_id>/supervise", methods=["POST"])
@blp.arguments(SuperviseRequest)
@blp.response(201, SuperviseResultSchema)
@errors(404, 409, 422)
def supervise(body, warning_id: int):
    """转督办：一步发起督查督办（事项来源“预警”，督办事项和内容由预警及依据案件预填），并与预警关联。"""
    view, instance = supervise_warning(
        db.session(), warning_id=warning_id, actor=actor(), lead_unit=body["lead_unit"],
        time_limit_workdays=body["time_limit_workdays"], assisting=body.get("assisting") or [],
        item_title=body.get("item_title"), requirements=body.get("requirements"))
    db.commit()
    return {"warning": warning_dict(view), "instance_id": instance.id, "business_key": instance.business_key}
