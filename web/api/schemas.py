"""The API's request and response shapes (marshmallow): the OpenAPI document is generated from them."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

KEY = validate.Length(min=1, max=100)
TEXT = validate.Length(max=2000)


class Strict(ma.Schema):
    class Meta:
        ordered = True


class ErrorSchema(Strict):
    error = fields.String(required=True, metadata={"description": "机器可读的错误代码，如 not_found、form_invalid、task_not_open"})
    message = fields.String(required=True, metadata={"description": "中文说明"})
    message_en = fields.String(metadata={"description": "English message"})
    details = fields.List(fields.Dict(), required=True,
                          metadata={"description": "逐项问题：字段错误 {field, message, message_en}，定义问题 {file, line, element_id}"})


# ---- requests -------------------------------------------------------------------------------------

class TokenRequest(Strict):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    label = fields.String(load_default="", validate=validate.Length(max=100))


class PageArgs(Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class TaskListArgs(PageArgs):
    view = fields.String(load_default="todo", validate=validate.OneOf(["todo", "done", "cc", "started"]))
    process = fields.String(validate=KEY)
    light = fields.String(validate=validate.OneOf(["green", "yellow", "red"]))
    org = fields.String(validate=KEY, metadata={"description": "只看该组织（含下级）的任务"})


class CaseSearchArgs(PageArgs):
    business_key = fields.String(validate=KEY)
    process = fields.String(validate=KEY)
    status = fields.String(validate=validate.OneOf(["running", "completed", "cancelled", "error"]))
    org = fields.String(validate=KEY)
    started_from = fields.AwareDateTime(default_timezone=None)
    started_to = fields.AwareDateTime(default_timezone=None)
    field = fields.List(fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*:.{1,100}$")),
                        metadata={"description": "按案件字段筛选，格式 name:前缀，可重复"})


class StartRequest(Strict):
    process = fields.String(required=True, validate=KEY, metadata={"description": "流程标识 (process key)"})
    data = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "发起表单数据"})
    org = fields.String(validate=KEY, metadata={"description": "案件所属组织编码，默认为发起人所在组织"})
    business_key = fields.String(validate=validate.Length(min=1, max=100))
    version = fields.Integer(validate=validate.Range(min=1, max=100_000))


class OpinionRequest(Strict):
    opinion = fields.String(load_default=None, allow_none=True, validate=TEXT, metadata={"description": "意见"})


class CancelRequest(Strict):
    reason = fields.String(load_default=None, allow_none=True, validate=TEXT)


class CompleteRequest(OpinionRequest):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class TransferRequest(OpinionRequest):
    to = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"description": "接收人用户名"})


class ReturnRequest(OpinionRequest):
    to_task = fields.String(required=True, validate=KEY, metadata={"description": "退回到的步骤 (element id)"})


class ResolveRequest(OpinionRequest):
    draft = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)


class CcRequest(OpinionRequest):
    users = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                        validate=validate.Length(min=1, max=100))


class AddSignersRequest(OpinionRequest):
    to = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                     validate=validate.Length(min=1, max=10), metadata={"description": "加签人用户名，按签署顺序"})
    position = fields.String(required=True, validate=validate.OneOf(["before", "after"]),
                             metadata={"description": "before 前加签（在您办理前签署）/ after 后加签（您提交后签署）"})


class SignRequest(OpinionRequest):
    agree = fields.Boolean(required=True, metadata={"description": "同意 (true) / 不同意 (false，须填写意见)"})


class DraftRequest(Strict):
    data = fields.Dict(keys=fields.String(), required=True)


class MessageRequest(Strict):
    correlation = fields.Dict(keys=fields.String(), load_default=dict)
    payload = fields.Dict(keys=fields.String(), load_default=dict)


class UploadForm(Strict):
    task_id = fields.String(validate=validate.Length(min=1, max=36))
    field = fields.String(validate=validate.Length(min=1, max=64))


class UploadFiles(Strict):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class PasswordRequest(Strict):
    old_password = fields.String(required=True, validate=validate.Length(max=200))
    new_password = fields.String(required=True, validate=validate.Length(max=200))


class ReadRequest(Strict):
    ids = fields.List(fields.Integer(), load_default=None, allow_none=True,
                      metadata={"description": "要标记为已读的通知编号；不传则全部标记"})


# ---- responses ------------------------------------------------------------------------------------

class TokenSchema(Strict):
    token = fields.String(required=True)
    username = fields.String()
    label = fields.String()


class RoleGrantSchema(Strict):
    role = fields.String(required=True)
    org = fields.String(required=True)


class MeSchema(Strict):
    username = fields.String()
    name = fields.String()
    org = fields.String()
    roles = fields.List(fields.Nested(RoleGrantSchema))


class ProcessSchema(Strict):
    key = fields.String(required=True)
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    can_start = fields.Boolean(required=True)
    description = fields.String(allow_none=True)
    category = fields.String(allow_none=True)


class ProcessDetailSchema(ProcessSchema):
    start_form_schema = fields.Dict(allow_none=True, metadata={"description": "发起时可提交的数据的 JSON Schema（draft 2020-12）：发起表单的字段；流程没有发起表单时为不接受任何字段的空表单"})
    start_roles = fields.List(fields.String(), metadata={"description": "可发起的角色；为空表示本组织范围内任何角色"})


class TaskSchema(Strict):
    id = fields.String(required=True)
    instance_id = fields.Integer(required=True)
    element_id = fields.String(required=True)
    title = fields.String(required=True)
    candidate_role = fields.String(allow_none=True)
    candidate_org = fields.String(allow_none=True, metadata={"description": "候选组织编码"})
    assignee = fields.String(allow_none=True, metadata={"description": "办理人用户名"})
    owner = fields.String(allow_none=True, metadata={"description": "委派人（委派中的任务）"})
    status = fields.String(required=True, metadata={"description": "open | completed | cancelled"})
    due_at = fields.DateTime(allow_none=True)
    light = fields.String(allow_none=True, metadata={"description": "green | yellow | red（仅未办结任务）"})
    process = fields.String()
    business_key = fields.String(allow_none=True)
    case_title = fields.String(metadata={"description": "案件标题（列表中个人信息已打码）"})
    created_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)


class SignerSchema(Strict):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()
    position = fields.String(metadata={"description": "before 前加签 / after 后加签"})
    status = fields.String(metadata={"description": "pending 待签署 / signed 已签署 / removed 已减签"})
    decision = fields.String(allow_none=True, metadata={"description": "agree 同意 / disagree 不同意"})
    opinion = fields.String(allow_none=True)
    signed_at = fields.DateTime(allow_none=True)
    removable = fields.Boolean(metadata={"description": "当前用户可否减签此人"})


class TaskDetailSchema(TaskSchema):
    form_schema = fields.Dict(allow_none=True, metadata={"description": "任务表单的 JSON Schema (draft 2020-12)"})
    data = fields.Dict(metadata={"description": "案件数据（完整）"})
    draft = fields.Dict(allow_none=True)
    actions = fields.List(fields.String(), metadata={"description": "当前用户此刻可执行的操作"})
    returnable_steps = fields.List(fields.Dict())
    signers = fields.List(fields.Nested(SignerSchema), metadata={"description": "加签人（含已签署、已减签的），按签署顺序"})


class CaseSummarySchema(Strict):
    id = fields.Integer(required=True)
    process = fields.String(required=True)
    version = fields.Integer()
    business_key = fields.String(allow_none=True)
    title = fields.String()
    status = fields.String(required=True)
    org = fields.String()
    started_at = fields.DateTime()
    started_by = fields.String(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)


class CcItemSchema(CaseSummarySchema):
    cc_at = fields.DateTime(allow_none=True)
    cc_by = fields.String(allow_none=True)


class HistorySchema(Strict):
    seq = fields.Integer()
    kind = fields.String()
    at = fields.DateTime()
    actor = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    element_id = fields.String(allow_none=True)
    opinion = fields.String(allow_none=True)
    payload = fields.Dict()


class InstanceSchema(CaseSummarySchema):
    data = fields.Dict(required=True)
    open_tasks = fields.List(fields.Nested(TaskSchema), required=True)
    history = fields.List(fields.Nested(HistorySchema), required=True)
    end_event = fields.String(allow_none=True)
    error = fields.Dict(allow_none=True)
    attachments = fields.List(fields.Dict())


class TaskListSchema(Strict):
    view = fields.String(required=True)
    items = fields.List(fields.Dict(), required=True,
                        metadata={"description": "todo/done：任务 (Task)；cc/started：案件摘要 (CaseSummary)"})
    counts = fields.Dict(metadata={"description": "待办按状态灯计数（仅 view=todo）"})


class CaseListSchema(Strict):
    items = fields.List(fields.Nested(CaseSummarySchema), required=True)
    total = fields.Integer(required=True)


class TaskOutcomeSchema(Strict):
    task = fields.Nested(TaskSchema, required=True)
    instance = fields.Nested(CaseSummarySchema, required=True)
    open_tasks = fields.List(fields.Nested(TaskSchema), required=True)


class OutcomeArgs(Strict):
    view = fields.String(load_default="full", validate=validate.OneOf(["full", "brief"]), metadata={
        "description": "full：任务、案件摘要和待办任务的全部字段；brief：只回各项的必填字段（标识、步骤、标题、状态），"
                       "不查用户名和组织编码、不打码标题，办理完接着办下一步的客户端用它更省"})


class CcResultSchema(Strict):
    copied = fields.List(fields.String(), required=True, metadata={"description": "本次新抄送的人（已抄送过的不重复）"})


class UrgeResultSchema(Strict):
    reminded = fields.Integer(required=True)


class DeliverySchema(Strict):
    delivered_to = fields.List(fields.Integer(), required=True)
    started = fields.List(fields.Integer(), required=True)
    kept = fields.Integer(allow_none=True)


class AttachmentSchema(Strict):
    id = fields.String(required=True)
    instance_id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    task_id = fields.String(allow_none=True)
    field = fields.String(allow_none=True)
    uploaded_by = fields.String(allow_none=True)
    uploaded_at = fields.DateTime()


class NotificationSchema(Strict):
    id = fields.Integer()
    kind = fields.String()
    text = fields.String()
    instance_id = fields.Integer(allow_none=True)
    task_id = fields.String(allow_none=True)
    warning_id = fields.Integer(allow_none=True, metadata={"description": "预警通知所指的预警（GET /warnings/{id}）"})
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class NotificationListSchema(Strict):
    items = fields.List(fields.Nested(NotificationSchema))
    unread = fields.Integer()
