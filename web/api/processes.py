"""Deployed processes: which ones the user may start, and the start form as JSON Schema."""
from __future__ import annotations

from engine.definitions.deployment import get_definition, latest_definitions
from engine.definitions.form_contract import start_contract
from engine.errors import NotAllowed
from engine.org.orgs import Actor
from engine.runtime.lifecycle import check_may_start
from engine.store.models import ProcessDefinition

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas import ProcessDetailSchema, ProcessSchema

blp = ApiBlueprint("processes", __name__, url_prefix="/processes", description="流程 (process definitions)")


def _can_start(definition: ProcessDefinition, who: Actor) -> bool:
    try:
        check_may_start(definition, actor=who, org_path=who.org_path)
    except NotAllowed:
        return False
    return True


def _process(definition: ProcessDefinition, who: Actor) -> dict:
    config = definition.config or {}
    return {"key": definition.key, "name": definition.name, "version": definition.version,
            "can_start": _can_start(definition, who), "description": config.get("description"),
            "category": config.get("category")}


@blp.route("", methods=["GET"])
@blp.response(200, ProcessSchema(many=True))
@errors()
def list_processes():
    """已部署流程（各取最新版本），`can_start` 表示当前用户能否在其所在组织发起。"""
    who = actor()
    return [_process(d, who) for d in latest_definitions(db.session())]


@blp.route("/<string:key>", methods=["GET"])
@blp.response(200, ProcessDetailSchema)
@errors()
def get_process(key: str):
    """流程详情，含发起表单的 JSON Schema (`start_form_schema`)。"""
    who = actor()
    s = db.session()
    definition = get_definition(s, key=key[:100])
    schema = start_contract(s, definition=definition, org_path=who.org_path).schema()
    return _process(definition, who) | {"start_form_schema": schema,
                                        "start_roles": list((definition.config or {}).get("start_roles") or [])}
