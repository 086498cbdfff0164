"""The task page: the form drawn from its YAML definition, and every operation on the task."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from markupsafe import Markup, escape

from engine.cases import case_file, personal_data
from engine.cases.summaries import visible_task
from engine.cases.task_data import task_form_data
from engine.definitions.deployment import form_for
from engine.definitions.form_fields import FieldType
from engine.errors import Conflict, FormInvalid, NotAllowed, NotFound
from engine.org import choices
from engine.org.orgs import ROLES
from engine.runtime import drafts, lifecycle, tasks
from engine.signing import operations as signing
from engine.signing.models import signers_of
from engine.store.models import HumanTask, TaskStatus

from .. import db
from . import bp
from .common import actor, render, safe_next, t
from .documents import documents_for_form
from .formdata import errors_by_field, field_views, initial_values, parse_submission, visible_context
from .uploads import attachment_info, store_uploads


def _task(task_id: str) -> HumanTask:
    """Return a task of a case the actor may see; 404 otherwise (never reveal others' cases)."""
    try:
        return visible_task(db.session(), task_id=task_id, actor=actor())
    except NotFound:
        abort(404)


def _page(row: HumanTask, *, values: dict | None = None, errors: dict | None = None, opinion: str = "",
          status: int = 200, dialog: dict | None = None):
    s, me = db.session(), actor()
    instance = row.instance
    form = form_for(instance.definition, row.form_key)
    perms = case_file.task_permissions(s, task=row, actor=me)
    data = task_form_data(s, task=row)
    if values is None:
        values = initial_values(form, data, row.draft)
        opinion = opinion or (row.draft or {}).get("_opinion", "")
    else:
        # After a refused submission: what was typed, over everything the form showed before it.
        values = initial_values(form, data, None) | values
    org_path = row.candidate_org.path if row.candidate_org else instance.org.path
    full = personal_data.may_see_personal_data(s, instance=instance, actor=me)
    shown = set(form.field_names())
    return render(
        "task/page.html", status, task=row, instance=instance, form=form, perms=perms, opinion=opinion,
        fields=field_views(s, form, values, errors or {}, org_path=org_path,
                           attachment_info=lambda ids: attachment_info(s, ids)),
        errors=errors or {}, light=case_file.light_of(row), role_label=ROLES.get(row.candidate_role or "", ""),
        case_data=[d for d in case_file.case_data(s, instance=instance, full=full) if d.name not in shown],
        history=case_file.timeline(s, instance=instance),
        steps=case_file.returnable_steps(s, task=row) if perms.send_back else [],
        transferees=choices.person_choices(s, role=row.candidate_role, org_path=org_path) if perms.transfer else [],
        people=choices.person_choices(s, role=None) if (perms.delegate or perms.cc or perms.add_signers) else [],
        signers=signers_of(s, row.id), removable={x.id for x in perms.removable_signers},
        visible_context=visible_context(form, data),
        has_files=any(f.type is FieldType.FILE for f in form.fields), me=me, documents=documents_for_form(form),
        dialog=dialog or {"op": request.args.get("op"), "message": None, "form": {}})


@bp.get("/tasks/<task_id>")
def task_page(task_id: str):
    return _page(_task(task_id))


@bp.post("/tasks/<task_id>")
def task_submit(task_id: str):
    """Complete the task, or keep what was typed as a draft (``action=draft``)."""
    row, s, me = _task(task_id), db.session(), actor()
    form = form_for(row.instance.definition, row.form_key)
    data = parse_submission(form, request.form, timezone=db.services().settings.timezone)
    opinion = request.form.get("opinion", "").strip()
    upload_errors = store_uploads(s, form, data, request.files, task=row, actor=me)
    # Files that arrived are kept even if the form is refused: they are listed in it again.
    s.commit()
    if upload_errors:
        return _page(row, values=data, errors=upload_errors, opinion=opinion, status=422)
    if request.form.get("action") == "draft":
        drafts.save_draft(s, task_id=row.id, data=data | {"_opinion": opinion}, actor=me)
        db.commit()
        if request.headers.get("HX-Request"):
            return render("task/_draft_saved.html")
        flash(t("草稿已保存", "Draft saved"), "ok")
        return redirect(url_for("pages.task_page", task_id=row.id))
    try:
        instance = lifecycle.complete_task(s, task_id=row.id, data=data, actor=me, opinion=opinion or None)
    except FormInvalid as exc:
        s.rollback()
        return _page(s.get(HumanTask, task_id), values=data, errors=errors_by_field(exc), opinion=opinion, status=422)
    db.commit()
    held = s.get(HumanTask, row.id)
    if held.status == TaskStatus.OPEN and held.owner_id == me.id:
        flash(t("已提交“{}”，待加签人签署后流转。", "Submitted “{}”; it goes on once the added signers have signed.")
              .format(row.title), "ok")
        return redirect(url_for("pages.todo"))
    flash(Markup(t("已提交“{}”。", "Submitted “{}”. ").format(escape(row.title))
                 + f'<a href="{url_for("pages.case_page", instance_id=instance.id)}">{escape(t("查看案件", "View the case"))}</a>'), "ok")
    return redirect(url_for("pages.todo"))


def _done(message_zh: str, message_en: str, row: HumanTask, *, to_case: bool = False):
    db.commit()
    flash(t(message_zh, message_en), "ok")
    if to_case:
        return redirect(url_for("pages.case_page", instance_id=row.instance_id))
    return redirect(safe_next(request.form.get("next"), url_for("pages.task_page", task_id=row.id)))


@bp.post("/tasks/<task_id>/claim")
def task_claim(task_id: str):
    row = _task(task_id)
    tasks.claim_task(db.session(), task_id=row.id, actor=actor())
    if request.headers.get("HX-Request"):
        db.commit()
        return render("todo/_claimed.html", task=row)
    return _done("已签收，请办理", "Claimed", row)


@bp.post("/tasks/<task_id>/release")
def task_release(task_id: str):
    row = _task(task_id)
    tasks.release_task(db.session(), task_id=row.id, actor=actor())
    return _done("已退回任务池", "Released to the pool", row, to_case=True)


def _in_dialog(row: HumanTask, op: str, operation):
    """Run a dialog's operation; if the engine refuses it, show the task again with that dialog open,
    what was typed in it kept and the message beside its fields, instead of an error page."""
    try:
        operation()
    except (FormInvalid, NotAllowed, NotFound, Conflict) as exc:
        db.session().rollback()
        # Not found here means the person named in the dialog: the page itself is there.
        return _page(db.session().get(HumanTask, row.id), status=422 if isinstance(exc, NotFound) else exc.status,
                     dialog={"op": op, "message": exc.message, "form": request.form})
    return None


@bp.post("/tasks/<task_id>/transfer")
def task_transfer(task_id: str):
    row = _task(task_id)
    refused = _in_dialog(row, "transfer", lambda: tasks.transfer_task(
        db.session(), task_id=row.id, actor=actor(), to=request.form.get("to", ""),
        opinion=request.form.get("opinion") or None))
    return refused or _done("已转办", "Transferred", row, to_case=True)


@bp.post("/tasks/<task_id>/delegate")
def task_delegate(task_id: str):
    row = _task(task_id)
    refused = _in_dialog(row, "delegate", lambda: tasks.delegate_task(
        db.session(), task_id=row.id, actor=actor(), to=request.form.get("to", ""),
        opinion=request.form.get("opinion") or None))
    return refused or _done("已委派，对方办理后会交回给您", "Delegated; it comes back to you", row, to_case=True)


@bp.post("/tasks/<task_id>/resolve")
def task_resolve(task_id: str):
    row, s = _task(task_id), db.session()
    form = form_for(row.instance.definition, row.form_key)
    draft = parse_submission(form, request.form, timezone=db.services().settings.timezone)
    tasks.resolve_task(s, task_id=row.id, actor=actor(), opinion=request.form.get("opinion") or None, draft=draft)
    return _done("已办理完毕并交回委派人", "Handed back to the owner", row, to_case=True)


@bp.post("/tasks/<task_id>/return")
def task_return(task_id: str):
    row = _task(task_id)
    refused = _in_dialog(row, "return", lambda: tasks.return_task(
        db.session(), task_id=row.id, actor=actor(), to_element=request.form.get("to_element", ""),
        opinion=request.form.get("opinion") or None))
    return refused or _done("已退回", "Sent back", row, to_case=True)


@bp.post("/tasks/<task_id>/withdraw")
def task_withdraw(task_id: str):
    row = _task(task_id)
    tasks.withdraw_task(db.session(), task_id=row.id, actor=actor(), opinion=request.form.get("opinion") or None)
    return _done("已撤回，可重新办理", "Withdrawn; you can redo the step", row, to_case=True)


@bp.post("/tasks/<task_id>/urge")
def task_urge(task_id: str):
    row, counted = _task(task_id), []
    refused = _in_dialog(row, "urge", lambda: counted.append(tasks.urge_task(
        db.session(), task_id=row.id, actor=actor(), opinion=request.form.get("opinion") or None)))
    return refused or _done(f"已催办，提醒了 {counted[0]} 人", f"Urged {counted[0]} people", row, to_case=True)


@bp.post("/tasks/<task_id>/signers")
def task_add_signers(task_id: str):
    row = _task(task_id)
    to = [u for u in request.form.getlist("to") if u]
    position = request.form.get("position", "")
    refused = _in_dialog(row, "sign_add", lambda: signing.add_signers(
        db.session(), task_id=row.id, actor=actor(), to=to, position=position,
        opinion=request.form.get("opinion") or None))
    if refused:
        return refused
    if position == "before":
        return _done("已加签，任务已交加签人签署，签署后回到您", "Signers added; the task comes back to you once they have signed",
                     row, to_case=True)
    return _done("已加签，您提交后由加签人依次签署", "Signers added; they sign after you submit", row)


@bp.post("/tasks/<task_id>/sign")
def task_sign(task_id: str):
    row = _task(task_id)
    decision = request.form.get("decision", "")
    if decision not in ("agree", "disagree"):
        return _page(row, status=422, dialog={"op": "sign", "message": t("请选择同意或不同意", "Choose agree or disagree"),
                                              "form": request.form})
    refused = _in_dialog(row, "sign", lambda: signing.sign_task(
        db.session(), task_id=row.id, actor=actor(), agree=decision == "agree",
        opinion=request.form.get("opinion") or None))
    if refused:
        return refused
    db.commit()
    flash(t("已签署意见", "Signed"), "ok")
    return redirect(url_for("pages.todo"))


@bp.post("/tasks/<task_id>/signers/<int:signer_id>/remove")
def task_remove_signer(task_id: str, signer_id: int):
    row = _task(task_id)
    refused = _in_dialog(row, "sign_remove", lambda: signing.remove_signer(
        db.session(), task_id=row.id, actor=actor(), signer_id=signer_id, opinion=request.form.get("opinion") or None))
    if refused:
        return refused
    return _done("已减签", "Signer removed", row)
