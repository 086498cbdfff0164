"""The case page (data, timeline, open tasks, attachments, diagram), case-level operations and printouts."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for

from engine.cases import case_file
from engine.errors import NotFound
from engine.org import choices
from engine.runtime import lifecycle, tasks
from engine.store.models import HumanTask

from .. import db
from . import bp
from .common import actor, render, safe_next, t
from .documents import DOCUMENTS, document_context


def _view(instance_id: int) -> case_file.CaseView:
    try:
        return case_file.case_view(db.session(), instance_id=instance_id, actor=actor())
    except NotFound:
        abort(404)


@bp.get("/cases/<int:instance_id>")
def case_page(instance_id: int):
    view, me, s = _view(instance_id), actor(), db.session()
    instance = view.instance
    running = instance.status == "running"
    return render("case/page.html", view=view, instance=instance, running=running,
                  may_cancel=running and (me.is_admin or instance.started_by_id == me.id),
                  may_urge=running and case_file.may_urge(instance, me),
                  people=choices.person_choices(s, role=None),
                  documents=[(key, title) for key, (title, _) in DOCUMENTS.items()
                             if key in document_keys(instance.process_key, instance.data)],
                  withdrawable=_withdrawable(view, me))


def document_keys(process_key: str, data: dict) -> set[str]:
    """Which printouts fit a case: by the process, or by the data it holds."""
    keys = set()
    if "mediation" in process_key or "agreement_terms" in (data or {}) or "agreement" in (data or {}):
        keys.add("mediation_agreement")
    if "inspection" in process_key or "rectification" in process_key or "rectify_deadline" in (data or {}) \
            or "findings" in (data or {}):
        keys.add("rectification_notice")
    return keys


def _withdrawable(view: case_file.CaseView, me) -> str | None:
    """The task the actor completed, if nothing but CCs and urges came after it (the engine decides for sure)."""
    for entry in reversed(view.timeline):
        if entry.kind in ("cc", "urged"):
            continue
        if entry.kind == "task_completed" and entry.username == me.username and view.instance.status == "running":
            return entry.task_id
        return None
    return None


@bp.get("/cases/<int:instance_id>/diagram.bpmn")
def case_diagram(instance_id: int):
    view = _view(instance_id)
    xml = case_file.diagram_xml(view.instance.definition)
    if xml is None:
        abort(404)
    return Response(xml, mimetype="application/xml")


@bp.post("/cases/<int:instance_id>/cancel")
def case_cancel(instance_id: int):
    _view(instance_id)
    lifecycle.cancel_instance(db.session(), instance_id=instance_id, actor=actor(),
                            reason=request.form.get("opinion") or None)
    db.commit()
    flash(t("案件已撤销", "The case was cancelled"), "ok")
    return redirect(url_for("pages.case_page", instance_id=instance_id))


@bp.post("/cases/<int:instance_id>/cc")
def case_cc(instance_id: int):
    _view(instance_id)
    fresh = tasks.cc_case(db.session(), instance_id=instance_id, actor=actor(),
                          to=[u for u in request.form.getlist("to") if u], task_id=request.form.get("task_id") or None,
                          opinion=request.form.get("opinion") or None)
    db.commit()
    flash(t(f"已抄送 {len(fresh)} 人", f"Copied to {len(fresh)} people") if fresh
          else t("所选人员都已抄送过", "Everyone chosen was already copied"), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("pages.case_page", instance_id=instance_id)))


@bp.get("/cases/<int:instance_id>/print/<kind>")
def case_print(instance_id: int, kind: str):
    view = _view(instance_id)
    if kind not in DOCUMENTS:
        abort(404)
    title, template = DOCUMENTS[kind]
    draft = None
    if request.args.get("task"):  # printed from the task that fills it in: its saved draft counts
        task = db.session().get(HumanTask, request.args["task"][:36])
        if task is None or task.instance_id != instance_id:
            abort(404)
        draft = task.draft
    return render(template, title=title, **document_context(db.session(), view, draft=draft))


@bp.get("/attachments/<attachment_id>")
def attachment_download(attachment_id: str):
    """Download a case's file, for those who may see the case (404 for everyone else); pictures open in the browser."""
    from engine.cases import attachments

    from ..downloads import send_attachment

    return send_attachment(attachments.open_attachment(db.session(), attachment_id=attachment_id, actor=actor()),
                           inline=True)


@bp.post("/cases/<int:instance_id>/attachments")
def case_upload(instance_id: int):
    """Add files to a running case outside any form (photos taken later, signed scans)."""
    from engine.cases import attachments

    _view(instance_id)
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        flash(t("请选择要上传的文件", "Choose a file to upload"), "error")
        return redirect(url_for("pages.case_page", instance_id=instance_id))
    for f in files:
        attachments.save_attachment(db.session(), instance_id=instance_id, actor=actor(), filename=f.filename,
                                    stream=f.stream, content_type=f.mimetype or "")
    db.commit()
    flash(t(f"已上传 {len(files)} 个文件", f"{len(files)} files uploaded"), "ok")
    return redirect(url_for("pages.case_page", instance_id=instance_id))
