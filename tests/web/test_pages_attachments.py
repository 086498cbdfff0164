"""Pages: a request that fails after storing a file leaves neither the row nor the file behind."""
from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import func, select

from engine.store.models import Attachment

from .pages_helpers import review_at_approval

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _files(services, instance_id: int) -> set[str]:
    folder = Path(services.settings.instance_path) / "attachments" / str(instance_id)
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def _rows(session, instance_id: int) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Attachment).where(Attachment.instance_id == instance_id))


def test_case_upload_refused_midway_keeps_no_file_of_it(client, login, csrf_token, session, services):
    instance, _ = review_at_approval(session)
    before = _files(services, instance.id)
    login(client, "zhang.dd")
    r = client.post(f"/cases/{instance.id}/attachments", data={
        "csrf_token": csrf_token(client),
        "files": [(io.BytesIO(PNG), "现场.png"), (io.BytesIO(b"MZ\x90\x00"), "tool.exe")]},
        content_type="multipart/form-data")
    assert r.status_code == 422 and "不支持的文件类型" in r.get_data(as_text=True)
    assert _rows(session, instance.id) == 0
    assert _files(services, instance.id) == before, "the first file was stored, then its row rolled back"


def test_case_upload_that_succeeds_keeps_file_and_row(client, login, csrf_token, session, services):
    instance, _ = review_at_approval(session)
    before = _files(services, instance.id)
    login(client, "zhang.dd")
    r = client.post(f"/cases/{instance.id}/attachments", data={
        "csrf_token": csrf_token(client), "files": [(io.BytesIO(PNG), "现场.png")]},
        content_type="multipart/form-data")
    assert r.status_code == 302
    [row] = session.scalars(select(Attachment).where(Attachment.instance_id == instance.id)).all()
    assert _files(services, instance.id) - before == {row.id}
