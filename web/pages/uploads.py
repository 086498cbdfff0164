"""Files typed into a task form: stored through engine.cases.attachments, their ids kept in the form's value."""
from __future__ import annotations

from engine.cases import attachments
from engine.definitions.form_fields import FieldType
from engine.definitions.forms import Form
from engine.errors import EngineError

from .common import t
from .formdata import PREFIX

UPLOAD_SUFFIX = ".upload"


def store_uploads(session, form: Form, data: dict, files, *, task, actor) -> dict[str, list[str]]:
    """Store the files chosen for each file field; add their ids to ``data``; return errors by field."""
    errors: dict[str, list[str]] = {}
    for f in form.editable_fields():
        if f.type is not FieldType.FILE:
            continue
        for fs in files.getlist(PREFIX + f.name + UPLOAD_SUFFIX):
            if not (fs and fs.filename):
                continue
            try:
                att = attachments.save_attachment(session, instance_id=task.instance_id, task_id=task.id,
                                                  field=f.name, filename=fs.filename, content_type=fs.mimetype or "",
                                                  stream=fs.stream, actor=actor, accept=f.accept)
            except EngineError as exc:  # too large, wrong type: shown beside the field
                errors.setdefault(f.name, []).append(f"{fs.filename}：{t(exc.message, exc.message_en or exc.message)}")
                continue
            data[f.name] = list(data.get(f.name) or []) + [att.id]
    return errors


def attachment_info(session, ids: list[str]) -> list:
    """Return the attachment rows for ids a form value holds (unknown ids are left out)."""
    return attachments.attachments_by_id(session, attachment_ids=ids)
