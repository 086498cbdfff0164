"""Request and response shapes of case migration (moving running cases to another process version)."""
from __future__ import annotations

from marshmallow import fields, validate

from engine.studio.migration import MAX_CASES
from engine.studio.migration_models import JobStatus

from .schemas import KEY, Strict

VERSION = validate.Range(min=1, max=100_000)
CASE_ID = fields.Integer(validate=validate.Range(min=1, max=2_147_483_647))


class MigrationRequest(Strict):
    process = fields.String(required=True, validate=KEY, metadata={"description": "流程标识 (process key)"})
    to_version = fields.Integer(required=True, validate=VERSION, metadata={"description": "目标版本"})
    from_version = fields.Integer(validate=VERSION, metadata={"description": "只迁移该版本的案件（可选）"})
    instances = fields.List(CASE_ID, validate=validate.Length(min=1, max=MAX_CASES),
                            metadata={"description": "只迁移这些案件（案件 id，可选）；不给则为该流程全部办理中案件"})
    step = fields.String(validate=KEY, metadata={"description": "只迁移当前停在该步骤（BPMN 元素 id）的案件（可选）"})
    dry_run = fields.Boolean(load_default=True, metadata={
        "description": "true（默认）只检查每个案件能否迁移，不做改动；false 在后台开始迁移，返回任务号"})


class MigrationListArgs(Strict):
    process = fields.String(validate=KEY, metadata={"description": "只看该流程的迁移任务"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class MigrationCaseSchema(Strict):
    id = fields.Integer(required=True, metadata={"description": "案件 id"})
    business_key = fields.String(allow_none=True, required=True, metadata={"description": "案件编号"})
    ok = fields.Boolean(required=True, metadata={"description": "能否迁移（预检）/是否已迁移（任务）"})
    reason = fields.String(required=True, metadata={"description": "中文说明：迁移后的待办，或不能迁移的原因"})
    reason_en = fields.String(required=True)
    from_version = fields.Integer(allow_none=True, metadata={"description": "案件原来所在的版本"})


class MigrationDryRunSchema(Strict):
    cases = fields.List(fields.Nested(MigrationCaseSchema), required=True,
                        metadata={"description": "逐案结果（最多前 500 个案件）"})
    total = fields.Integer(required=True, metadata={"description": "选中的案件总数；多于 cases 时其余未预检，正式迁移时逐案检查"})


class MigrationJobCreatedSchema(Strict):
    job = fields.Integer(required=True, metadata={"description": "迁移任务号：GET /api/v1/migrations/{job} 查看进度"})


class MigrationJobSummarySchema(Strict):
    id = fields.Integer(required=True)
    process = fields.String(required=True)
    from_version = fields.Integer(allow_none=True)
    to_version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in JobStatus]), metadata={
        "description": "pending 排队、running 进行中、done 完成、failed 中断（见 error；已迁移的案件保持迁移）"})
    stalled = fields.Boolean(required=True, metadata={
        "description": "无人在执行：任务中断、2 分钟无人领取，或执行它的进程 2 分钟没有进展；可 POST /api/v1/migrations/{job}/resume 继续"})
    done = fields.Integer(required=True, metadata={"description": "已处理的案件数"})
    total = fields.Integer(required=True, metadata={"description": "案件总数"})
    moved = fields.Integer(required=True, metadata={"description": "已迁移的案件数"})
    created_by = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True)


class MigrationJobSchema(MigrationJobSummarySchema):
    cases = fields.List(fields.Nested(MigrationCaseSchema), required=True, metadata={"description": "已处理案件的结果"})
