"""Starting a case: the processes one may start, and the start form when the process has one."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from markupsafe import Markup, escape

from engine.cases.attachments import Upload
from engine.definitions.deployment import form_for, get_definition, latest_definitions
from engine.definitions.form_fields import FieldType
from engine.errors import FormInvalid, NotAllowed, NotFound
from engine.runtime import lifecycle

from .. import db
from . import bp, staging
from .common import actor, render, t
from .formdata import errors_by_field, field_views, initial_values, parse_submission


def _startable(s, me):
    out = []
    for d in latest_definitions(s):
        try:
            lifecycle.check_may_start(d, actor=me, org_path=me.org_path)
        except NotAllowed:
            continue
        out.append(d)
    return out


@bp.get("/start")
def start_list():
    me, s = actor(), db.session()
    return render("start/list.html", definitions=_startable(s, me))


def _definition(key: str):
    s, me = db.session(), actor()
    try:
        definition = get_definition(s, key=key)
    except NotFound:
        abort(404)
    lifecycle.check_may_start(definition, actor=me, org_path=me.org_path)
    return definition


def _start_form(definition):
    key = f"{definition.key}/start"
    return form_for(definition, key) if key in definition.forms else None


@bp.get("/start/<key>")
def start_form(key: str):
    definition = _definition(key)
    form = _start_form(definition)
    values = initial_values(form, {}, None) if form else {}
    return render("start/form.html", definition=definition, form=form,
                  fields=field_views(db.session(), form, values, {}, org_path=actor().org_path,
                                     attachment_info=lambda ids: []) if form else [])


@bp.post("/start/<key>")
def start_submit(key: str):
    definition, s, me = _definition(key), db.session(), actor()
    form = _start_form(definition)
    data = parse_submission(form, request.form, timezone=db.services().settings.timezone) if form else {}
    uploads = staging.kept(form, request.form, user_id=me.id)
    for name, files in _uploads(form).items():
        uploads.setdefault(name, []).extend(files)
    try:
        instance = lifecycle.start_instance(s, process_key=definition.key, data=data, actor=me, uploads=uploads)
    except FormInvalid as exc:
        s.rollback()
        # The browser will not send the chosen files again: keep them for the corrected form.
        staged = staging.stage(uploads, user_id=me.id)
        staging.close_all(uploads, remove=False)
        return render("start/form.html", 422, definition=definition, form=form,
                      fields=field_views(s, form, data, errors_by_field(exc), org_path=me.org_path,
                                         attachment_info=lambda ids: [], staged=staged))
    db.commit()
    staging.close_all(uploads, remove=True)
    mine = [t_ for t_ in instance_tasks(s, instance.id) if t_.assignee_id in (None, me.id)]
    flash(Markup(escape(t("已发起：", "Started: ")) + escape(instance.title)), "ok")
    from engine.runtime.lifecycle import may_act

    for row in mine:
        if may_act(row, me):
            return redirect(url_for("pages.task_page", task_id=row.id))
    return redirect(url_for("pages.case_page", instance_id=instance.id))


def _uploads(form) -> dict[str, list[Upload]]:
    """Files chosen on the start form, by field: the engine stores them with the new case."""
    if form is None:
        return {}
    return {f.name: [Upload(fs.filename, fs.stream, fs.mimetype or "") for fs in request.files.getlist(f"f.{f.name}.upload")
                     if fs and fs.filename]
            for f in form.editable_fields() if f.type is FieldType.FILE}


def instance_tasks(s, instance_id: int):
    from engine.cases.case_file import open_tasks
    from engine.store.models import HumanTask

    return [s.get(HumanTask, o.id) for o in open_tasks(s, instance_id=instance_id)]
