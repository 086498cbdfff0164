"""Attachments: files kept under the instance folder with their SHA-256, seen only by who may see the case."""
from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from .. import clock
from ..context import context_of
from ..definitions.deployment import form_for
from ..definitions.form_fields import FieldType
from ..errors import Conflict, EngineError, NotFound
from ..org.orgs import Actor
from ..org.visibility import can_see
from ..store.models import Attachment, HumanTask, Instance, InstanceStatus, User

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
_ZIP = (b"PK\x03\x04",)
# extension -> (MIME type, signatures the first bytes must start with; None = plain text)
FILE_TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "webp": ("image/webp", (b"RIFF",)),
    "doc": ("application/msword", _OLE),
    "xls": ("application/vnd.ms-excel", _OLE),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", _ZIP),
    "wps": ("application/vnd.ms-works", _OLE),
    "ofd": ("application/ofd", _ZIP),
    "mp3": ("audio/mpeg", (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")),
    "amr": ("audio/amr", (b"#!AMR",)),
    "mp4": ("video/mp4", None),
    "txt": ("text/plain; charset=utf-8", None),
    "csv": ("text/csv; charset=utf-8", None),
}
_MP4_BRAND_AT = 4


class AttachmentRejected(EngineError):
    code, status = "attachment_rejected", 422


class AttachmentTooLarge(EngineError):
    code, status = "attachment_too_large", 413


@dataclass(frozen=True)
class Upload:
    """A file chosen on a form, not stored yet."""

    filename: str
    stream: BinaryIO
    content_type: str = ""


@dataclass(frozen=True)
class StoredFile:
    attachment: Attachment
    path: Path


def storage_root(session: Session) -> Path:
    """Return the folder attachments live in: ``<instance folder>/attachments``."""
    return Path(context_of(session).settings.instance_path) / "attachments"


def max_bytes(session: Session) -> int:
    return context_of(session).settings.attachment_max_mb * 1024 * 1024


def save_attachment(session: Session, *, instance_id: int, actor: Actor, filename: str, stream: BinaryIO,
                    content_type: str = "", task_id: str | None = None, field: str | None = None,
                    accept: tuple[str, ...] | list[str] = ()) -> Attachment:
    """Store an uploaded file for a running case the actor may see; check its type, size and content.

    The file is deleted again if the caller's transaction (or the savepoint it was saved in) does
    not commit, so a failed request leaves no file without its row.
    """
    instance = session.get(Instance, instance_id)
    if instance is None or not can_see(session, instance=instance, actor=actor):
        raise NotFound(f"案件 {instance_id} 不存在", message_en=f"instance {instance_id} not found")
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict("案件已结束，不能再上传附件", message_en="the case is closed; no more attachments")
    if task_id is not None:
        task = session.get(HumanTask, task_id)
        if task is None or task.instance_id != instance_id:
            raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found in this case")
        accept = tuple(accept) or _field_accept(instance, task, field)
    name = clean_filename(filename)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in FILE_TYPES:
        raise AttachmentRejected(f"不支持的文件类型“.{ext or '?'}”，可上传：{'、'.join(sorted(FILE_TYPES))}",
                                 message_en=f"file type '.{ext}' is not allowed")
    wanted = {a.lower().lstrip(".") for a in accept}
    if wanted and ext not in wanted:
        raise AttachmentRejected(f"此处只能上传 {'、'.join(sorted(wanted))} 文件",
                                 message_en=f"only {', '.join(sorted(wanted))} files are accepted here")
    folder = storage_root(session) / str(instance_id)
    folder.mkdir(parents=True, exist_ok=True)
    attachment_id = uuid.uuid4().hex
    final, partial = folder / attachment_id, folder / f"{attachment_id}.part"
    try:
        size, digest, head = _copy(stream, partial, limit=max_bytes(session))
        _check_content(ext, head, size)
        _remove_unless_committed(session, final)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    row = Attachment(id=attachment_id, instance_id=instance_id, task_id=task_id, field=field, filename=name,
                     content_type=FILE_TYPES[ext][0], size=size, sha256=digest,
                     uploaded_by_id=actor.id or None, uploaded_at=clock.now())
    session.add(row)
    session.flush()
    return row


_NEW_FILES = "pingan.uncommitted_files"


def _remove_unless_committed(session: Session, path: Path) -> None:
    # The file is written before its row, so it must go again if the row never commits: the
    # caller's transaction, or a savepoint inside it, may still roll back or the session close.
    owner = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_NEW_FILES, []).append([owner, path])
    if not event.contains(session, "after_transaction_end", _drop_uncommitted_files):
        event.listen(session, "after_commit", _keep_committed_files)
        event.listen(session, "after_transaction_end", _drop_uncommitted_files)


def _keep_committed_files(session: Session) -> None:
    committed = session.get_nested_transaction() or session.get_transaction()
    pending = session.info.get(_NEW_FILES, [])
    for entry in [e for e in pending if e[0] is committed]:
        if committed.parent is None:
            pending.remove(entry)
        else:  # a released savepoint hands its files to the transaction around it
            entry[0] = committed.parent


def _drop_uncommitted_files(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_NEW_FILES, [])
    for entry in [e for e in pending if e[0] is transaction]:
        pending.remove(entry)
        try:
            entry[1].unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove %s after its transaction rolled back", entry[1], exc_info=True)


def _field_accept(instance: Instance, task: HumanTask, field: str | None) -> tuple[str, ...]:
    if not field or task.form_key not in (instance.definition.forms or {}):
        return ()
    f = form_for(instance.definition, task.form_key).field(field)
    return f.accept if f is not None and f.type is FieldType.FILE else ()


def _copy(stream: BinaryIO, target: Path, *, limit: int) -> tuple[int, str, bytes]:
    digest, size, head = hashlib.sha256(), 0, b""
    with open(target, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise AttachmentTooLarge(f"文件超过 {limit // (1024 * 1024)} MB 的上限",
                                         message_en=f"the file exceeds the {limit // (1024 * 1024)} MB limit")
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest(), head


def _check_content(ext: str, head: bytes, size: int) -> None:
    if size == 0:
        raise AttachmentRejected("文件是空的", message_en="the file is empty")
    signatures = FILE_TYPES[ext][1]
    if ext == "mp4":
        ok = head[_MP4_BRAND_AT:_MP4_BRAND_AT + 4] == b"ftyp"
    elif ext == "webp":
        ok = head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    elif signatures is None:
        ok = b"\x00" not in head and _decodes(head)
    else:
        ok = head.startswith(signatures)
    if not ok:
        raise AttachmentRejected(f"文件内容与扩展名“.{ext}”不符", message_en=f"the content is not a .{ext} file")


def _decodes(head: bytes) -> bool:
    # The 4 KiB sample may end inside a multi-byte character: allow up to 3 bytes cut off.
    cuts = range(4) if len(head) >= 4096 else range(1)
    for encoding in ("utf-8", "gb18030"):
        for cut in cuts:
            try:
                head[: len(head) - cut].decode(encoding)
                return True
            except UnicodeDecodeError:
                continue
    return False


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def clean_filename(filename: str | None) -> str:
    """Return a safe display name: no folders, control or reserved characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", (filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE.sub("_", name).strip(" .") or "file"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def get_attachment(session: Session, *, attachment_id: str, actor: Actor) -> Attachment:
    """Return an attachment of a case the actor may see, or NotFound."""
    row = session.get(Attachment, str(attachment_id)[:32])
    if row is None:
        raise NotFound("附件不存在", message_en="attachment not found")
    instance = session.get(Instance, row.instance_id)
    if instance is None or not can_see(session, instance=instance, actor=actor):
        raise NotFound("附件不存在", message_en="attachment not found")
    return row


def open_attachment(session: Session, *, attachment_id: str, actor: Actor) -> StoredFile:
    """Return an attachment and its file after checking access and that the file still matches its checksum."""
    row = get_attachment(session, attachment_id=attachment_id, actor=actor)
    path = storage_root(session) / str(row.instance_id) / row.id
    if not path.is_file():
        raise NotFound("附件文件已丢失，请联系管理员", message_en="the attachment's file is missing")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != row.sha256:
        raise Conflict("附件文件校验失败（内容被改动），请联系管理员", message_en="the attachment's checksum does not match")
    return StoredFile(row, path)


def list_attachments(session: Session, *, instance_id: int) -> list[Attachment]:
    """Return a case's attachments, oldest first (the caller has checked the case is visible)."""
    return list(session.scalars(select(Attachment).where(Attachment.instance_id == instance_id)
                                .order_by(Attachment.uploaded_at, Attachment.id)))


def attachments_by_id(session: Session, *, attachment_ids: list[str]) -> list[Attachment]:
    """Return the attachments a form value names, in its order, leaving out unknown ids."""
    wanted = [str(i)[:32] for i in attachment_ids]
    if not wanted:
        return []
    rows = {a.id: a for a in session.scalars(select(Attachment).where(Attachment.id.in_(set(wanted))))}
    return [rows[i] for i in wanted if i in rows]


def uploader_names(session: Session, rows: list[Attachment]) -> dict[int, str]:
    """Return usernames of the uploaders of ``rows`` by user id."""
    ids = {r.uploaded_by_id for r in rows if r.uploaded_by_id}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
