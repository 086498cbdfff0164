"""Request and response shapes of the studio API (drafts, validation, diff, deploy, versions, export)."""
from __future__ import annotations

from marshmallow import fields, validate

from .schemas import KEY, Strict

NOTE = validate.Length(max=2000)


class DraftListArgs(Strict):
    process = fields.String(validate=KEY, metadata={"description": "只看该流程的草稿"})


class DraftCreateRequest(Strict):
    process = fields.String(validate=KEY, metadata={"description": "流程标识：已部署则以其版本为起点，否则新建该标识的空流程"})
    version = fields.Integer(validate=validate.Range(min=1, max=100_000),
                             metadata={"description": "起点版本，默认最新版本"})
    name = fields.String(validate=validate.Length(min=1, max=200), metadata={"description": "草稿名称"})


class DraftUploadForm(Strict):
    process = fields.String(validate=KEY, metadata={"description": "上传文件中作为主流程的流程标识（可选）"})
    name = fields.String(validate=validate.Length(min=1, max=200))


class DraftSchema(Strict):
    id = fields.Integer(required=True)
    process = fields.String(required=True, metadata={"description": "主流程标识"})
    name = fields.String(required=True)
    revision = fields.Integer(required=True, metadata={"description": "当前修订号；保存时作为 base_revision 传回"})
    base_version = fields.Integer(allow_none=True, metadata={"description": "起点版本（上传或空白草稿为 null）"})
    deployed_version = fields.Integer(allow_none=True, metadata={"description": "发布后成为的版本"})
    created_by = fields.String()
    created_at = fields.DateTime()
    updated_by = fields.String(metadata={"description": "最后保存人（用户名）"})
    updated_by_name = fields.String(metadata={"description": "最后保存人姓名"})
    updated_at = fields.DateTime()
    files = fields.List(fields.String(), required=True, metadata={"description": "文件路径列表"})
    import_changes = fields.List(fields.String(), metadata={
        "description": "仅上传新建时：导入对其他工具（Camunda Modeler、bpmn.io）的模型所做的改动，每条一行"})
    problems = fields.List(fields.Dict(), metadata={
        "description": "仅上传新建时：导入无法转换的元素和校验问题（file、line、element_id、message、message_en）；草稿照样建立，可在编辑器里修改"})


class DraftFileSchema(Strict):
    path = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "bpmn、dmn、parameters、form 或 scenario"})
    text = fields.String(required=True)
    revision = fields.Integer(required=True, metadata={"description": "读取时草稿的修订号"})


class PutFileRequest(Strict):
    text = fields.String(required=True, validate=validate.Length(max=1_000_000))
    base_revision = fields.Integer(required=True, validate=validate.Range(min=1, max=2_147_483_647),
                                   metadata={"description": "编辑所基于的修订号；已有他人保存则返回 409"})


class RemoveFileArgs(Strict):
    base_revision = fields.Integer(required=True, validate=validate.Range(min=1, max=2_147_483_647))


class RevisionSchema(Strict):
    revision = fields.Integer(required=True)
    action = fields.String(required=True, metadata={"description": "created、saved、removed 或 deployed"})
    path = fields.String(allow_none=True)
    saved_by = fields.String(required=True)
    saved_by_name = fields.String(required=True)
    saved_at = fields.DateTime(required=True)


class RevisionDetailSchema(RevisionSchema):
    text = fields.String(allow_none=True, metadata={"description": "该次保存后文件的内容（删除、新建、发布时为 null 或版本号）"})


class ProblemSchema(Strict):
    file = fields.String(allow_none=True, metadata={"description": "草稿中的文件路径"})
    line = fields.Integer(allow_none=True)
    element_id = fields.String(allow_none=True, metadata={"description": "BPMN 元素标识，可在图上定位"})
    message = fields.String(required=True, metadata={"description": "中文说明"})
    message_en = fields.String(required=True)
    hint = fields.String(allow_none=True, metadata={"description": "提示，如“是否指 …？”"})


class ValidationSchema(Strict):
    problems = fields.List(fields.Nested(ProblemSchema), required=True, metadata={"description": "为空表示校验通过"})


class VersionDiffArgs(Strict):
    against = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000),
                             metadata={"description": "对比的已部署版本"})


class DiffArgs(Strict):
    against = fields.Integer(validate=validate.Range(min=1, max=100_000),
                             metadata={"description": "对比的已部署版本，默认草稿的起点版本或最新版本"})


class ElementChangesSchema(Strict):
    added = fields.List(fields.String(), required=True)
    removed = fields.List(fields.String(), required=True)
    changed = fields.List(fields.String(), required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                          metadata={"description": "每个变更元素的变化说明"})
    names = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                        metadata={"description": "元素名称（按标识）"})


class FileChangeSchema(Strict):
    path = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "added、removed 或 changed"})
    changes = fields.List(fields.Dict(), required=True,
                          metadata={"description": "逐项变化 {what, status, name, before, after}"})


class DiffSchema(Strict):
    against = fields.Integer(required=True, allow_none=True,
                             metadata={"description": "对比的版本；流程尚未部署时为 null（全部为新增）"})
    elements = fields.Nested(ElementChangesSchema, required=True)
    files = fields.List(fields.Nested(FileChangeSchema), required=True)


class DeployRequest(Strict):
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                         metadata={"description": "变更说明：为什么发布"})


class DeployResultSchema(Strict):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false 表示内容与最新版本相同，未产生新版本"})


class VersionSchema(Strict):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    name = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    deployed_by = fields.String(allow_none=True)
    note = fields.String(allow_none=True, metadata={"description": "变更说明"})
    running = fields.Integer(required=True, metadata={"description": "该版本运行中的案件数"})
    total = fields.Integer(required=True, metadata={"description": "该版本的全部案件数"})
    latest = fields.Boolean(required=True, metadata={"description": "是否为新案件使用的最新版本"})
