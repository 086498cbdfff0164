"""The studio: drafts of a procedure (files, history, validation, diff, deploy), versions and export.

Only designers and administrators (engine/studio/access.py); everyone else gets 403.
"""
from __future__ import annotations

import io

from flask import request, send_file

from engine.studio import diff as studio_diff
from engine.studio import drafts, versions
from engine.studio.access import require_designer
from engine.studio.export import export_version, zip_files
from engine.studio.validation import problem_row
from engine.studio.workspace import file_kind, files_from_uploads

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas_studio import (
    DeployRequest, DeployResultSchema, DiffArgs, DiffSchema, DraftCreateRequest, DraftFileSchema, DraftListArgs,
    DraftSchema, DraftUploadForm, PutFileRequest, RemoveFileArgs, RevisionDetailSchema, RevisionSchema,
    ValidationSchema, VersionDiffArgs, VersionSchema,
)

blp = ApiBlueprint("studio", __name__, url_prefix="",
                   description="流程设计 (studio: drafts, validation, diff, deploy, versions, export)")

DRAFT = "/drafts/<int(max=2147483647):draft_id>"
FILE = DRAFT + "/files/<path:path>"
_UPLOAD_DOC = {"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                   "process": {"type": "string", "maxLength": 100}, "name": {"type": "string", "maxLength": 200}}}}}}}


def _draft(s, draft) -> dict:
    return {"id": draft.id, "process": draft.process_key, "name": draft.name, "revision": draft.revision,
            "base_version": draft.base_version, "deployed_version": draft.deployed_version,
            "created_by": draft.created_by, "created_at": draft.created_at, "updated_by": draft.updated_by,
            "updated_by_name": drafts.display_name(s, draft.updated_by), "updated_at": draft.updated_at,
            "files": sorted(draft.files or {})}


@blp.route("/processes/<string:key>/versions", methods=["GET"])
@blp.response(200, VersionSchema(many=True))
@errors(403)
def list_versions(key: str):
    """流程的全部已部署版本（新到旧）：变更说明、部署人、部署时间、运行中案件数。"""
    return [row.__dict__ for row in versions.list_versions(db.session(), key=key[:100], actor=actor())]


@blp.route("/processes/<string:key>/versions/<int(max=2147483647):version>/export", methods=["GET"])
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip")
@errors(403)
def export(key: str, version: int):
    """导出某一版本为 zip（processes/、forms/、tests/scenarios/），可直接用于 `pingan deploy` 与 `pingan test`。"""
    files = export_version(db.session(), key=key[:100], version=version, actor=actor())
    # send_file writes a non-ASCII name as RFC 5987 filename*, which a raw header could not carry.
    return send_file(io.BytesIO(zip_files(files)), mimetype="application/zip", as_attachment=True,
                     download_name=f"{key[:100]}-v{version}.zip")


@blp.route("/processes/<string:key>/versions/<int(max=2147483647):version>/diff", methods=["GET"])
@blp.arguments(VersionDiffArgs, location="query")
@blp.response(200, DiffSchema)
@errors(403)
def diff_versions(args, key: str, version: int):
    """某一版本与另一已部署版本的差异（同草稿对比的格式）。"""
    return studio_diff.diff_versions(db.session(), key=key[:100], version=version, against=args["against"],
                                     actor=actor())


@blp.route("/drafts", methods=["GET"])
@blp.arguments(DraftListArgs, location="query")
@blp.response(200, DraftSchema(many=True))
@errors(403)
def list_drafts(args):
    """全部草稿（`process` 只看一个流程的），最近修改的在前。"""
    s = db.session()
    return [_draft(s, d) for d in drafts.list_drafts(s, actor=actor(), process_key=args.get("process"))]


@blp.route("/drafts", methods=["POST"])
@blp.arguments(DraftCreateRequest)
@blp.response(201, DraftSchema)
@blp.doc(**_UPLOAD_DOC)
@errors(403, 413)
def create_draft(body):
    """新建草稿：`{"process": KEY, "version"?: N}` 以已部署版本为起点；multipart 上传文件（或 zip）；`{}` 为空白流程。

    未部署的流程标识得到该标识的空白流程（开始、结束与图形布局）。
    """
    who, s = actor(), db.session()
    if request.mimetype == "multipart/form-data":
        require_designer(who)
        form = blp.ARGUMENTS_PARSER.parse(DraftUploadForm(), location="form")
        uploads = [(f.filename or "", f.read()) for f in request.files.getlist("files")]
        draft = drafts.create_draft(s, actor=who, files=files_from_uploads(uploads), process_key=form.get("process"),
                                    name=form.get("name"))
    else:
        draft = drafts.create_draft(s, actor=who, process_key=body.get("process"), version=body.get("version"),
                                    name=body.get("name"))
    out = _draft(s, draft) | {"import_changes": draft.import_changes,
                              "problems": [p.as_dict() | {"message_en": p.message_en} for p in draft.import_problems]}
    db.commit()
    return out


@blp.route(DRAFT, methods=["GET"])
@blp.response(200, DraftSchema)
@errors(403)
def get_draft(draft_id: int):
    """草稿概况：修订号、起点版本、文件列表。"""
    s = db.session()
    return _draft(s, drafts.get_draft(s, draft_id=draft_id, actor=actor()))


@blp.route(FILE, methods=["GET"])
@blp.response(200, DraftFileSchema)
@errors(403)
def get_file(draft_id: int, path: str):
    """读取草稿中的一个文件。"""
    s = db.session()
    draft = drafts.get_draft(s, draft_id=draft_id, actor=actor())
    files = draft.files or {}
    if path not in files:
        from engine.errors import NotFound

        raise NotFound(f"草稿中没有文件 {path[:300]}", message_en="the draft has no such file")
    return {"path": path, "kind": file_kind(path), "text": files[path], "revision": draft.revision}


@blp.route(FILE, methods=["PUT"])
@blp.arguments(PutFileRequest)
@blp.response(200, DraftSchema)
@errors(403, 409)
def put_file(body, draft_id: int, path: str):
    """保存（新建或覆盖）草稿中的一个文件，产生一个新修订。`base_revision` 不是当前修订时返回 409，并说明谁在何时保存过。"""
    s = db.session()
    draft = drafts.put_file(s, draft_id=draft_id, path=path, text=body["text"], base_revision=body["base_revision"],
                            actor=actor())
    out = _draft(s, draft)
    db.commit()
    return out


@blp.route(FILE, methods=["DELETE"])
@blp.arguments(RemoveFileArgs, location="query")
@blp.response(200, DraftSchema)
@errors(403, 409)
def remove_file(args, draft_id: int, path: str):
    """从草稿中删除一个文件（新修订）；最后一个 BPMN 文件不能删除。"""
    s = db.session()
    draft = drafts.remove_file(s, draft_id=draft_id, path=path, base_revision=args["base_revision"], actor=actor())
    out = _draft(s, draft)
    db.commit()
    return out


@blp.route(DRAFT + "/history", methods=["GET"])
@blp.response(200, RevisionSchema(many=True))
@errors(403)
def history(draft_id: int):
    """草稿的修订历史（新到旧）：谁在何时保存了哪个文件。"""
    s = db.session()
    rows = drafts.draft_history(s, draft_id=draft_id, actor=actor())
    names = {u: drafts.display_name(s, u) for u in {r.saved_by for r in rows}}
    return [{"revision": r.revision, "action": r.action, "path": r.path, "saved_by": r.saved_by,
             "saved_by_name": names[r.saved_by], "saved_at": r.saved_at} for r in rows]


@blp.route(DRAFT + "/history/<int(max=2147483647):revision>", methods=["GET"])
@blp.response(200, RevisionDetailSchema)
@errors(403)
def revision(draft_id: int, revision: int):
    """某一修订：保存的文件及保存后的内容（恢复旧内容即把它 PUT 回去）。"""
    s = db.session()
    row = drafts.draft_revision(s, draft_id=draft_id, revision=revision, actor=actor())
    return {"revision": row.revision, "action": row.action, "path": row.path, "saved_by": row.saved_by,
            "saved_by_name": drafts.display_name(s, row.saved_by), "saved_at": row.saved_at, "text": row.text}


@blp.route(DRAFT + "/validate", methods=["POST"])
@blp.response(200, ValidationSchema)
@errors(403)
def validate(draft_id: int):
    """用与 `pingan validate` 相同的检查校验草稿：每个问题含文件、行号、元素标识、中英文说明。"""
    problems = drafts.validate_draft(db.session(), draft_id=draft_id, actor=actor())
    return {"problems": [problem_row(p) for p in problems]}


@blp.route(DRAFT + "/diff", methods=["GET"])
@blp.arguments(DiffArgs, location="query")
@blp.response(200, DiffSchema)
@errors(403)
def diff(args, draft_id: int):
    """草稿与某一已部署版本的差异：BPMN 元素（新增、删除、修改），表单字段、DMN 规则、流程参数的逐项变化。"""
    return studio_diff.diff_draft(db.session(), draft_id=draft_id, against=args.get("against"), actor=actor())


@blp.route(DRAFT + "/deploy", methods=["POST"])
@blp.arguments(DeployRequest)
@blp.response(201, DeployResultSchema)
@errors(403)
def deploy(body, draft_id: int):
    """校验并发布草稿，附变更说明（谁、何时、为什么）。草稿与某一较早版本相同即回退：成为新的最新版本。"""
    s = db.session()
    result = versions.deploy_draft(s, draft_id=draft_id, note=body["note"], actor=actor())
    db.commit()
    return {"key": result.key, "version": result.version, "created": result.created}
