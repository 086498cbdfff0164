"""流程设计 (the designer studio): processes and their versions, drafts, the editor, diff, deploy, migration.

The pages draw the frame; the editor, tests, deploy and migration call the JSON API from the browser
(web/static/studio/, bundled by scripts/npm-install.sh into web/static/dist/). Only designers and
administrators get in (engine.studio.access.may_design), everyone else gets 403.
"""
from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_login import current_user

from engine.definitions.forms import parse_form
from engine.errors import DefinitionInvalid, EngineError
from engine.org.orgs import ROLES
from engine.runtime import admin
from engine.studio.access import may_design
from engine.studio.diff import diff_draft, diff_versions
from engine.studio.drafts import create_draft, get_draft, list_drafts
from engine.studio.versions import list_versions
from engine.studio.workspace import files_from_uploads, version_files

from .. import db
from . import bp
from .common import actor, render, t
from .formdata import field_views

MAX_PREVIEW = 200_000


@bp.app_template_global("may_design")
def _may_design(me) -> bool:
    return bool(me) and may_design(me)


@bp.before_request
def _designers_only():
    if (request.endpoint or "").startswith("pages.studio") and current_user.is_authenticated and not may_design(actor()):
        abort(403)


@bp.get("/studio")
def studio_home():
    s, me = db.session(), actor()
    keys = list(dict.fromkeys(d.key for d in admin.list_definitions(s)))
    processes = [(key, list_versions(s, key=key, actor=me)) for key in keys]
    return render("studio/home.html", processes=processes, drafts=list_drafts(s, actor=me))


@bp.post("/studio/drafts")
def studio_draft_new():
    s, me, f = db.session(), actor(), request.form
    source = f.get("source", "")
    if source == "upload":
        uploads = [(u.filename or "", u.read()) for u in request.files.getlist("files") if u.filename]
        if not uploads:
            raise EngineError("请选择要上传的文件（.bpmn、.dmn、.yaml 或 .zip）",
                              message_en="choose the files to upload (.bpmn, .dmn, .yaml or .zip)")
        draft = create_draft(s, actor=me, files=files_from_uploads(uploads), name=f.get("name") or None)
    elif source == "version":
        version = f.get("version", "")
        draft = create_draft(s, actor=me, process_key=f.get("process") or None,
                             version=_version(version), name=f.get("name") or None)
    else:
        draft = create_draft(s, actor=me, process_key=(f.get("key") or "").strip() or None, name=f.get("name") or None)
    db.commit()
    return redirect(url_for("pages.studio_draft", draft_id=draft.id))


@bp.get("/studio/drafts/<int:draft_id>")
def studio_draft(draft_id: int):
    draft = get_draft(db.session(), draft_id=draft_id, actor=actor())
    return render("studio/editor.html", draft=draft, page_data={
        "draft": {"id": draft.id, "revision": draft.revision, "name": draft.name, "process_key": draft.process_key,
                  "base_version": draft.base_version},
        "files": dict(draft.files or {}),
        "roles": ROLES,
        "urls": {"form_preview": url_for("pages.studio_form_preview"),
                 "deployed": url_for("pages.studio_process", key="__KEY__") + "?deployed=__VERSION__"},
    })


@bp.post("/studio/form-preview")
def studio_form_preview():
    """Render YAML form text with the task page's own macros; bad YAML gives the problems inline."""
    text, path = request.form.get("yaml", ""), request.form.get("path", "") or "form.yaml"
    if len(text) > MAX_PREVIEW:
        return render("studio/_preview.html", problems=[t("表单定义过长", "The form definition is too long")])
    key = path.removeprefix("forms/").removesuffix(".yaml")
    try:
        form = parse_form(text, key=key, file=path)
    except DefinitionInvalid as exc:
        problems = [(t("第 %s 行：" % d.line, "line %s: " % d.line) if d.line else "") + t(d.message, d.message_en or d.message)
                    + (f"（{d.hint}）" if d.hint else "") for d in exc.details] or [t(exc.message, exc.message_en)]
        return render("studio/_preview.html", problems=problems)
    fields = field_views(db.session(), form, {}, {}, org_path=actor().org_path)
    return render("studio/_preview.html", form=form, fields=fields, problems=[])


@bp.get("/studio/processes/<key>")
def studio_process(key: str):
    s, me = db.session(), actor()
    return render("studio/process.html", key=key, versions=list_versions(s, key=key, actor=me),
                  drafts=list_drafts(s, actor=me, process_key=key), deployed=request.args.get("deployed", ""))


@bp.get("/studio/drafts/<int:draft_id>/diff")
def studio_draft_diff(draft_id: int):
    s, me = db.session(), actor()
    against = request.args.get("against", "")
    found = diff_draft(s, draft_id=draft_id, against=_version(against), actor=me)
    draft = get_draft(s, draft_id=draft_id, actor=me)
    return _diff_page(draft.process_key, found, old_files=version_files(s, key=draft.process_key, version=found["against"]),
                      new_files=dict(draft.files or {}), draft=draft, new_label=t(f"草稿：{draft.name}", f"Draft: {draft.name}"))


@bp.get("/studio/processes/<key>/versions/<int:version>/diff")
def studio_version_diff(key: str, version: int):
    s, me = db.session(), actor()
    versions = list_versions(s, key=key, actor=me)
    against = request.args.get("against", "")
    older = _version(against) or max((v.version for v in versions if v.version < version), default=version)
    found = diff_versions(s, key=key, version=version, against=older)
    return _diff_page(key, found, old_files=version_files(s, key=key, version=older),
                      new_files=version_files(s, key=key, version=version), draft=None, new_label=f"v{version}",
                      version=version)


def _diff_page(key: str, found: dict, *, old_files: dict, new_files: dict, draft, new_label: str, version=None):
    bpmn = f"processes/{key}.bpmn"
    versions = list_versions(db.session(), key=key, actor=actor())
    return render("studio/diff.html", key=key, versions=versions, against=found["against"], draft=draft, version=version,
                  found=found, old_label=t(f"已部署 v{found['against']}", f"deployed v{found['against']}"), new_label=new_label,
                  page_data={"old_bpmn": old_files.get(bpmn, ""), "new_bpmn": new_files.get(bpmn, ""),
                             "elements": {k: found["elements"][k] for k in ("added", "removed", "changed")}})


@bp.get("/studio/processes/<key>/migrate")
def studio_migrate(key: str):
    versions = list_versions(db.session(), key=key, actor=actor())
    to, source = request.args.get("to", ""), request.args.get("from", "")
    return render("studio/migrate.html", key=key, versions=versions,
                  to_version=_version(to) or versions[0].version, from_version=_version(source))


def _version(text: str | None) -> int | None:
    """A version number from a query or form value; anything else (or absurdly long) is no version."""
    return int(text) if text and text.isdigit() and len(text) < 9 else None
