"""Request and response shapes of the studio's scenario tests and play sessions."""
from __future__ import annotations

from marshmallow import fields, validate

from .schemas import KEY, TEXT, Strict

SCENARIO_NAME = validate.Regexp(r"^[\w][\w\-]{0,99}$", error="场景名称只能含字母、数字、汉字、下划线和连字符，最长 100 个字符")
USERNAME = validate.Length(min=1, max=64)


class ScenarioRunRequest(Strict):
    only = fields.List(fields.String(validate=validate.Length(min=1, max=201)), validate=validate.Length(max=100),
                       metadata={"description": "只运行这些场景：`<场景>` 或 `<流程>/<场景>`；不给则运行全部"})


class FailingStepSchema(Strict):
    index = fields.Integer(required=True, metadata={"description": "0 为发起，1..n 为第几步，n+1 为结束时的检查"})
    kind = fields.String(required=True, metadata={
        "description": "file（场景文件格式错误）、deploy（流程未通过校验）、start、step、end、budget（超出时间预算）"})
    description = fields.String(required=True, metadata={"description": "这一步做什么（中文）"})


class ScenarioResultSchema(Strict):
    name = fields.String(required=True, metadata={"description": "`<流程>/<场景>`"})
    process = fields.String(required=True)
    file = fields.String(required=True, metadata={"description": "草稿中的文件路径 tests/scenarios/<流程>/<场景>.yaml"})
    title = fields.String(required=True)
    passed = fields.Boolean(required=True)
    message = fields.String(required=True, metadata={"description": "“通过”，或失败的步骤与原因（中文）"})
    message_en = fields.String()
    failing_step = fields.Nested(FailingStepSchema, allow_none=True, required=True)
    path = fields.List(fields.String(), required=True,
                       metadata={"description": "案件经过的 BPMN 元素 id（按首次到达的顺序），用于在流程图上高亮"})
    flows = fields.List(fields.String(), required=True,
                        metadata={"description": "案件走过的顺序流 id（含通往结束时待办的顺序流），用于在流程图上高亮"})
    open_tasks = fields.List(fields.String(), metadata={"description": "结束（或失败）时的待办步骤 id"})
    seconds = fields.Float()


class ScenarioReportSchema(Strict):
    scenarios = fields.List(fields.Nested(ScenarioResultSchema), required=True)
    passed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    seconds = fields.Float(required=True, metadata={"description": "本次运行用时（秒）"})


class PersonSchema(Strict):
    username = fields.String(required=True)
    name = fields.String(required=True)
    org = fields.String(required=True, metadata={"description": "所在组织名称"})


class PlayTaskSchema(Strict):
    id = fields.String(required=True, metadata={"description": "任务 id（办理时使用）"})
    element_id = fields.String(required=True)
    name = fields.String(required=True)
    form_key = fields.String(required=True)
    candidate_role = fields.String(allow_none=True)
    candidate_org = fields.String(allow_none=True, metadata={"description": "候选组织编码"})
    assignee = fields.String(allow_none=True, metadata={"description": "已指定的办理人用户名"})
    due_at = fields.DateTime(allow_none=True, metadata={"description": "办理期限（模拟时间）"})
    form_schema = fields.Dict(required=True, metadata={"description": "表单的 JSON Schema（与任务页同一份）"})
    candidates = fields.List(fields.Nested(PersonSchema), required=True, metadata={"description": "可以办理的示范县用户"})


class PlayTimerSchema(Strict):
    element_id = fields.String(required=True)
    due_at = fields.DateTime(required=True)


class PlayViewSchema(Strict):
    id = fields.String(required=True, metadata={"description": "试运行 id"})
    draft_id = fields.Integer(required=True)
    revision = fields.Integer(required=True, metadata={"description": "试运行所用草稿的修订号"})
    process = fields.String(required=True)
    now = fields.DateTime(required=True, metadata={"description": "模拟时间"})
    expires_at = fields.DateTime(required=True, metadata={"description": "闲置到此时（真实时间）后试运行失效"})
    started = fields.Boolean(required=True)
    start_form = fields.Dict(allow_none=True, required=True, metadata={"description": "未发起时：发起表单的 JSON Schema"})
    starters = fields.List(fields.Nested(PersonSchema), required=True, metadata={"description": "未发起时：可以发起的用户"})
    case = fields.Dict(allow_none=True, required=True,
                       metadata={"description": "已发起时：{id, business_key, title, status, end_event, data, error}"})
    tasks = fields.List(fields.Nested(PlayTaskSchema), required=True)
    timers = fields.List(fields.Nested(PlayTimerSchema), required=True, metadata={"description": "等待中的定时器及到期时间"})
    path = fields.List(fields.String(), required=True, metadata={"description": "案件经过的 BPMN 元素 id"})
    flows = fields.List(fields.String(), required=True, metadata={"description": "案件走过的顺序流 id"})
    steps = fields.List(fields.Dict(), required=True, metadata={"description": "已录制的步骤（场景文件的 steps）"})


class PlayStartRequest(Strict):
    as_ = fields.String(required=True, data_key="as", validate=USERNAME, metadata={"description": "发起人用户名（示范县）"})
    org = fields.String(validate=KEY, metadata={"description": "案件所属组织编码，默认为发起人所在组织"})
    data = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "发起表单数据"})


class PlayCompleteRequest(Strict):
    as_ = fields.String(required=True, data_key="as", validate=USERNAME, metadata={"description": "办理人用户名"})
    data = fields.Dict(keys=fields.String(), load_default=dict)
    opinion = fields.String(load_default=None, allow_none=True, validate=TEXT)


class PlayAdvanceRequest(Strict):
    days = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1098))
    hours = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000))
    workdays = fields.Integer(load_default=0, validate=validate.Range(min=0, max=750),
                              metadata={"description": "按工作日推进（到第 N 个工作日结束后 1 分钟）；不能与 days/hours 同用"})


class PlayMessageRequest(Strict):
    name = fields.String(required=True, validate=KEY, metadata={"description": "消息名称"})
    correlation = fields.Dict(keys=fields.String(), load_default=dict)
    payload = fields.Dict(keys=fields.String(), load_default=dict)


class RecordingArgs(Strict):
    title = fields.String(load_default="", validate=validate.Length(max=200))


class RecordingSchema(Strict):
    text = fields.String(required=True, metadata={"description": "将保存的场景文件（YAML）"})


class SaveRecordingRequest(Strict):
    name = fields.String(required=True, validate=SCENARIO_NAME, metadata={"description": "场景名称（文件名，不含 .yaml）"})
    title = fields.String(validate=validate.Length(min=1, max=200), metadata={"description": "场景标题（中文说明）"})
    base_revision = fields.Integer(required=True, validate=validate.Range(min=1, max=2_147_483_647),
                                   metadata={"description": "草稿当前修订号；期间有人保存则 409"})
    overwrite = fields.Boolean(load_default=False, metadata={"description": "同名场景已存在时覆盖"})


class SavedRecordingSchema(Strict):
    path = fields.String(required=True)
    revision = fields.Integer(required=True, metadata={"description": "保存后草稿的修订号"})


class ScenarioEntrySchema(Strict):
    name = fields.String(required=True, metadata={"description": "`<流程>/<场景>`"})
    process = fields.String(required=True)
    file = fields.String(required=True)
    title = fields.String(required=True)
    steps = fields.Integer(required=True, metadata={"description": "步骤数"})
    problem = fields.String(allow_none=True, required=True, metadata={"description": "文件无法读取时的原因，否则为 null"})
