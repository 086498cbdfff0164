"""The 预警 (early warning) shapes, shared by ``web/api/warnings.py`` and the 预警 page."""
from __future__ import annotations

from marshmallow import fields, validate

from engine.board.models import WarningLevel, WarningStatus
from engine.board.warning_rules import KINDS
from engine.board.warnings import WarningView

from .schemas import KEY, PageArgs, Strict

STATUS_FILTERS = ["open", *[s.value for s in WarningStatus]]


class WarningArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUS_FILTERS), metadata={
        "description": "open 待处理（含已确认）、acknowledged 已确认、dismissed 已排除、supervised 已督办、resolved 已解除（规则不再触发，自动关闭）；不填为全部"})
    level = fields.String(validate=validate.OneOf([lv.value for lv in WarningLevel]),
                          metadata={"description": "red 红色、orange 橙色、yellow 黄色"})
    rule = fields.String(validate=validate.OneOf(list(KINDS)), metadata={
        "description": "规则：repeat_dispute 重复纠纷、surge 纠纷激增、violence_no_visit 暴力倾向未走访、red_card 督办红牌"})


class EvidenceSchema(Strict):
    instance_id = fields.Integer(required=True)
    business_key = fields.String(required=True)
    title = fields.String(required=True)


class WarningSchema(Strict):
    id = fields.Integer(required=True)
    rule_key = fields.String(required=True)
    rule_name = fields.String(required=True)
    rule_version = fields.Integer(required=True, metadata={"description": "触发时生效的规则版本"})
    level = fields.String(required=True, validate=validate.OneOf([lv.value for lv in WarningLevel]))
    message = fields.String(required=True)
    subject_kind = fields.String(required=True, metadata={"description": "party 当事人、location 地点、township 乡镇、case 案件"})
    subject_name = fields.String(required=True)
    org_code = fields.String(required=True, metadata={"description": "预警所属组织：其领导和督查员可见"})
    org_name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in WarningStatus]))
    raised_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    evidence = fields.List(fields.Nested(EvidenceSchema), required=True, metadata={"description": "依据案件"})
    facts = fields.Dict(required=True, metadata={"description": "规则研判时的事实（如近30日纠纷件数）"})
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True, metadata={"description": "确认人用户名"})
    acknowledged_by_name = fields.String(allow_none=True, metadata={"description": "确认人姓名"})
    closed_at = fields.DateTime(allow_none=True)
    closed_by = fields.String(allow_none=True, metadata={"description": "关闭人用户名；自动解除时为 system"})
    closed_by_name = fields.String(allow_none=True, metadata={"description": "关闭人姓名；自动解除时为“系统”"})
    dismiss_reason = fields.String(allow_none=True)
    supervision_instance_id = fields.Integer(allow_none=True, metadata={"description": "由此预警立项的督办事项"})
    supervision_business_key = fields.String(allow_none=True)


class HistoryEntrySchema(Strict):
    at = fields.DateTime(required=True)
    kind = fields.String(required=True, metadata={
        "description": "raised 发出预警、evidence_changed 依据案件增加、acknowledged 确认、dismissed 排除、supervised 转为督办、resolved 自动解除"})
    label = fields.String(required=True)
    label_en = fields.String(required=True)
    actor_name = fields.String(required=True, metadata={"description": "操作人姓名；系统操作为“系统”"})
    detail = fields.Dict(required=True, metadata={"description": "排除理由、督办事项编号、新增依据案件等"})


class WarningDetailSchema(Strict):
    warning = fields.Nested(WarningSchema, required=True)
    history = fields.List(fields.Nested(HistoryEntrySchema), required=True, metadata={"description": "处理经过，时间顺序"})


class WarningListSchema(Strict):
    items = fields.List(fields.Nested(WarningSchema), required=True)
    total = fields.Integer(required=True)


class DismissRequest(Strict):
    reason = fields.String(required=True, validate=validate.Length(max=1000),
                           metadata={"description": "排除理由（必填）"})


class SuperviseRequest(Strict):
    lead_unit = fields.String(required=True, validate=KEY, metadata={"description": "牵头单位编码"})
    time_limit_workdays = fields.Integer(required=True, validate=validate.Range(min=1, max=180),
                                         metadata={"description": "办理时限（工作日）"})
    assisting = fields.List(fields.String(validate=KEY), load_default=list, validate=validate.Length(max=10),
                            metadata={"description": "协办单位编码"})
    item_title = fields.String(validate=validate.Length(max=80), metadata={"description": "督办事项，默认由预警内容生成"})
    requirements = fields.String(validate=validate.Length(max=2000), metadata={"description": "办理要求，默认已填"})


class SuperviseResultSchema(Strict):
    warning = fields.Nested(WarningSchema, required=True)
    instance_id = fields.Integer(required=True, metadata={"description": "新立项的督办事项"})
    business_key = fields.String(required=True)


def warning_dict(view: WarningView) -> dict:
    """Return a warning as the API answers it."""
    out = dict(view.__dict__)
    out["level"], out["status"] = view.level.value, view.status.value
    out["evidence"] = [e.__dict__ for e in view.evidence]
    return out
