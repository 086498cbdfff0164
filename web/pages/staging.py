"""Files chosen on a start form that came back with errors: kept aside, so nobody has to choose them again.

A case does not exist until its start form is accepted, so its files cannot be attachments yet,
and a browser never refills a file input. When the form is refused, each chosen file is written
to ``<instance>/staging/`` under a random name, and the form carries a signed token for it, bound
to the user; the next submission hands the kept files to the engine with any new ones. Staged
files older than a day are removed whenever something is staged.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from engine.cases.attachments import Upload, clean_filename

from .. import db

KEEP_FOR = 24 * 3600
_SALT = "pingan.start-upload"


def _folder() -> Path:
    folder = Path(db.services().settings.instance_path) / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=_SALT)


def stage(uploads: dict[str, list[Upload]], *, user_id: int) -> dict[str, list[tuple[str, str]]]:
    """Keep the uploads aside; return, per field, (token, file name) for the form to carry."""
    folder, out = _folder(), {}
    _forget_old(folder)
    for field, files in uploads.items():
        for upload in files:
            token = getattr(upload, "token", None)
            if token is None:
                name = uuid.uuid4().hex
                with open(folder / name, "wb") as target:
                    upload.stream.seek(0)
                    while chunk := upload.stream.read(1 << 20):
                        target.write(chunk)
                token = _signer().dumps({"id": name, "user": user_id, "file": clean_filename(upload.filename),
                                         "type": upload.content_type})
            out.setdefault(field, []).append((token, clean_filename(upload.filename)))
    return out


class _Kept(Upload):
    """A staged file handed to the engine again; remembers its token so it is not staged twice."""

    token: str


def kept(form, posted, *, user_id: int) -> dict[str, list[Upload]]:
    """Return the staged files the form still carries (ticked), by field; forged or foreign tokens are ignored."""
    out, folder = {}, _folder()
    for f in form.editable_fields() if form else ():
        for token in posted.getlist(f"f.{f.name}.kept"):
            try:
                info = _signer().loads(token)
            except BadSignature:
                continue
            path = folder / str(info.get("id", ""))
            if info.get("user") != user_id or not path.is_file() or "/" in str(info.get("id")):
                continue
            upload = _Kept(info["file"], open(path, "rb"), info.get("type", ""))  # noqa: SIM115 (closed by close_all)
            object.__setattr__(upload, "token", token)
            out.setdefault(f.name, []).append(upload)
    return out


def close_all(uploads: dict[str, list[Upload]], *, remove: bool) -> None:
    """Close the kept files' streams; remove them from staging once the case holds them."""
    folder = _folder()
    for files in uploads.values():
        for upload in files:
            token = getattr(upload, "token", None)
            if token is None:
                continue
            upload.stream.close()
            if remove:
                with contextlib.suppress(BadSignature, OSError):
                    (folder / _signer().loads(token)["id"]).unlink(missing_ok=True)


def _forget_old(folder: Path) -> None:
    cutoff = time.time() - KEEP_FOR
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            if path.is_file() and os.path.getmtime(path) < cutoff:
                path.unlink()
