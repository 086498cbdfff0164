"""Files typed into a task form: stored through engine.attachments, their ids kept in the form's value."""
from __future__ import annotations

from engine.form_fields import FieldType
from engine.forms import Form

from .common import t
from .formdata import PREFIX

UPLOAD_SUFFIX = ".upload"


def _store():
    try:
        from engine import attachments
    except ImportError:  # the attachment store is built by another part of the project
        return None
    return attachments


def store_uploads(session, form: Form, data: dict, files, *, task, actor) -> dict[str, list[str]]:
    """Store the files chosen for each file field; add their ids to ``data``; return errors by field."""
    errors: dict[str, list[str]] = {}
    for f in form.editable_fields():
        if f.type is not FieldType.FILE:
            continue
        chosen = [fs for fs in files.getlist(PREFIX + f.name + UPLOAD_SUFFIX) if fs and fs.filename]
        if not chosen:
            continue
        store = _store()
        if store is None:
            errors[f.name] = [t("附件功能尚未启用", "Attachments are not available yet")]
            continue
        for fs in chosen:
            try:
                att = store.save_attachment(session, instance_id=task.instance_id, task_id=task.id, field=f.name,
                                            filename=fs.filename, content_type=fs.mimetype or "",
                                            stream=fs.stream, actor=actor, accept=f.accept)
            except Exception as exc:  # an EngineError with a Chinese message: too large, wrong type
                message = getattr(exc, "message", None)
                if message is None:
                    raise
                errors.setdefault(f.name, []).append(f"{fs.filename}：{t(message, getattr(exc, 'message_en', '') or message)}")
                continue
            data[f.name] = list(data.get(f.name) or []) + [att.id]
    return errors


def attachment_info(session, ids: list[str]) -> list:
    """Return the attachment rows for ids a form value holds (unknown ids are left out)."""
    if not ids:
        return []
    from sqlalchemy import select

    from engine.models import Attachment

    rows = {a.id: a for a in session.scalars(select(Attachment).where(Attachment.id.in_([str(i) for i in ids])))}
    return [rows[str(i)] for i in ids if str(i) in rows]
