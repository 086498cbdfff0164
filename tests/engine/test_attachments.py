"""Attachments: a file is on disk exactly when its row is committed; rows are looked up by id."""
from __future__ import annotations

import io

import pytest

from engine.cases import attachments
from engine.cases.attachments import AttachmentRejected, attachments_by_id, save_attachment, storage_root
from engine.runtime import lifecycle

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _save(session, actor, instance_id, name="photo.png", content=PNG):
    return save_attachment(session, instance_id=instance_id, actor=actor, filename=name, stream=io.BytesIO(content))


def _path(session, row):
    return storage_root(session) / str(row.instance_id) / row.id


@pytest.fixture
def case(session, actors):
    li = actors("li.sl")
    instance = lifecycle.start_instance(session, process_key="review", actor=li)
    session.commit()
    return instance.id, li


def test_committed_upload_keeps_its_file(session, case):
    instance_id, li = case
    row = _save(session, li, instance_id)
    session.commit()
    assert _path(session, row).read_bytes() == PNG
    _save(session, li, instance_id, "other.png")
    session.rollback()  # a later transaction that fails does not touch files already committed
    assert _path(session, row).read_bytes() == PNG


def test_rolled_back_upload_leaves_no_file(session, case):
    instance_id, li = case
    row = _save(session, li, instance_id)
    path = _path(session, row)
    assert path.read_bytes() == PNG, "the file is there while the transaction is open"
    session.rollback()
    assert not path.exists()
    assert attachments.list_attachments(session, instance_id=instance_id) == []


def test_session_closed_without_commit_leaves_no_file(services, session, case):
    instance_id, li = case
    row = _save(session, li, instance_id)
    path = _path(session, row)
    session.close()  # what a request does when its view raised before committing
    assert not path.exists()


def test_later_failure_in_the_same_transaction_removes_every_file_of_it(session, case):
    instance_id, li = case
    first = _save(session, li, instance_id, "one.png")
    with pytest.raises(AttachmentRejected):
        _save(session, li, instance_id, "tool.exe", b"MZ\x90\x00")
    session.rollback()
    assert not _path(session, first).exists()
    assert not list(_path(session, first).parent.glob("*.part"))


def test_savepoint_rollback_removes_only_its_own_files(session, case):
    instance_id, li = case
    kept = _save(session, li, instance_id, "kept.png")
    nested = session.begin_nested()
    dropped = _save(session, li, instance_id, "dropped.png")
    nested.rollback()
    assert not _path(session, dropped).exists()
    assert _path(session, kept).exists()
    inner = session.begin_nested()
    promoted = _save(session, li, instance_id, "promoted.png")
    inner.commit()  # released into the outer transaction: still at its mercy
    session.rollback()
    assert not _path(session, kept).exists() and not _path(session, promoted).exists()


def test_attachments_by_id_keeps_the_order_asked_and_skips_unknown_ids(session, case):
    instance_id, li = case
    a, b = _save(session, li, instance_id, "a.png"), _save(session, li, instance_id, "b.png")
    found = attachments_by_id(session, attachment_ids=[b.id, "0" * 32, a.id, b.id])
    assert [r.filename for r in found] == ["b.png", "a.png", "b.png"]
    assert attachments_by_id(session, attachment_ids=[]) == []
