"""Cases: start one (idempotently), read one with its data, open tasks and history, cancel one, search."""
from __future__ import annotations

from flask import jsonify, request, url_for

from engine.cases.queries import CaseSearch, search_cases
from engine.cases.summaries import case_detail, case_summaries, visible_instance
from engine.runtime import idempotency, lifecycle
from engine.store.models import InstanceStatus

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas import CancelRequest, CaseListSchema, CaseSearchArgs, InstanceSchema, StartRequest

blp = ApiBlueprint("instances", __name__, url_prefix="/instances", description="案件 (process instances)")

IDEMPOTENCY_HEADER = {"in": "header", "name": "Idempotency-Key", "required": False,
                      "description": "重试安全：同一用户用同一个键重发相同请求，返回第一次的结果，不会重复创建案件（保留 24 小时）",
                      "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$"}}


@blp.route("", methods=["GET"])
@blp.arguments(CaseSearchArgs, location="query")
@blp.response(200, CaseListSchema)
@errors()
def search(args):
    """案件查询：在可见范围内按业务编号、流程、状态、组织、发起时间和案件字段查询（标题中的个人信息打码）。"""
    who, s = actor(), db.session()
    fields = tuple(tuple(f.split(":", 1)) for f in args.get("field") or [])
    found, total = search_cases(s, actor=who, search=CaseSearch(
        business_key=args.get("business_key"), process=args.get("process"),
        status=InstanceStatus(args["status"]) if args.get("status") else None, org_code=args.get("org"),
        started_from=args.get("started_from"), started_to=args.get("started_to"), fields=fields,
        limit=args["limit"], offset=args["offset"]))
    return {"items": case_summaries(s, found), "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(StartRequest)
@blp.response(201, InstanceSchema)
@blp.doc(parameters=[IDEMPOTENCY_HEADER])
@errors(403, 409)
def start(body):
    """发起案件：`{"process": key, "data": {...}}`，返回案件及其待办任务。支持 `Idempotency-Key` 请求头。"""
    who, s = actor(), db.session()
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        fingerprint = idempotency.request_fingerprint("POST", "/instances", body)
        replay = idempotency.begin(s, user_id=who.id, key=key, fingerprint=fingerprint)
        if replay is not None:
            db.commit()
            response = jsonify(replay.body)
            response.status_code = replay.status
            response.headers["Idempotent-Replayed"] = "true"
            return response
    instance = lifecycle.start_instance(s, process_key=body["process"], data=body["data"], actor=who,
                                      org_code=body.get("org"), business_key=body.get("business_key"),
                                      version=body.get("version"))
    result = InstanceSchema().dump(case_detail(s, instance=instance, actor=who))
    if key is not None:
        idempotency.finish(s, user_id=who.id, key=key, status=201, body=result)
    db.commit()
    response = jsonify(result)
    response.status_code = 201
    response.headers["Location"] = url_for("api.instances.get_instance", instance_id=instance.id)
    return response


@blp.route("/<int(max=2147483647):instance_id>", methods=["GET"])
@blp.response(200, InstanceSchema)
@errors()
def get_instance(instance_id: int):
    """案件详情：数据（有权查看者可见完整个人信息）、状态、待办任务、办理历史、附件。"""
    who, s = actor(), db.session()
    return case_detail(s, instance=visible_instance(s, instance_id=instance_id, actor=who), actor=who)


@blp.route("/<int(max=2147483647):instance_id>/cancel", methods=["POST"])
@blp.arguments(CancelRequest)
@blp.response(200, InstanceSchema)
@errors(403, 409)
def cancel(body, instance_id: int):
    """撤销整个案件（仅发起人或管理员）。"""
    who, s = actor(), db.session()
    visible_instance(s, instance_id=instance_id, actor=who)
    instance = lifecycle.cancel_instance(s, instance_id=instance_id, actor=who, reason=body.get("reason"))
    result = case_detail(s, instance=instance, actor=who)
    db.commit()
    return result
