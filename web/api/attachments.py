"""Attachments: upload a file to a case (multipart), list a case's files, download one."""
from __future__ import annotations

from werkzeug.exceptions import BadRequest

from engine.cases import attachments
from engine.cases.summaries import attachment_rows, visible_instance

from .. import db
from ..downloads import send_attachment
from .common import ApiBlueprint, actor, errors
from .schemas import AttachmentSchema, UploadFiles, UploadForm

blp = ApiBlueprint("attachments", __name__, url_prefix="", description="附件 (attachments)")


@blp.route("/instances/<int(max=2147483647):instance_id>/attachments", methods=["POST"])
@blp.arguments(UploadForm, location="form")
@blp.arguments(UploadFiles, location="files")
@blp.response(201, AttachmentSchema)
@errors(409, 413)
def upload(form, files, instance_id: int):
    """上传附件（multipart/form-data，字段 `file`；可选 `task_id`、`field`）。返回附件编号 `id`，填入表单的附件字段。

    限制：单个文件不超过设定大小（默认 20 MB），扩展名须在白名单内且内容与扩展名相符；保存 SHA-256 校验值。
    """
    who, s = actor(), db.session()
    upload = files["file"]
    if not hasattr(upload, "stream"):
        raise BadRequest("file must be a file part")
    row = attachments.save_attachment(s, instance_id=instance_id, actor=who, filename=upload.filename or "",
                                      stream=upload.stream, content_type=upload.mimetype or "",
                                      task_id=form.get("task_id"), field=form.get("field"))
    result = attachment_rows(s, [row])[0]
    db.commit()
    return result


@blp.route("/instances/<int(max=2147483647):instance_id>/attachments", methods=["GET"])
@blp.response(200, AttachmentSchema(many=True))
@errors()
def list_for_case(instance_id: int):
    """案件的附件列表。"""
    who, s = actor(), db.session()
    instance = visible_instance(s, instance_id=instance_id, actor=who)
    return attachment_rows(s, attachments.list_attachments(s, instance_id=instance.id))


@blp.route("/attachments/<string:attachment_id>", methods=["GET"])
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream")
@errors(409)
def download(attachment_id: str):
    """下载附件：仅限可查看该案件的用户；下载前核对 SHA-256。"""
    return send_attachment(attachments.open_attachment(db.session(), attachment_id=attachment_id, actor=actor()))
