"""Read-only sessions: they refuse to write, and on SQLite they never queue behind a writer."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text, update

from engine.context import open_services
from engine.settings import load_settings
from engine.store.db import ReadOnlySessionWrote
from engine.store.models import Org


def test_a_read_only_session_refuses_every_kind_of_write(services):
    with pytest.raises(ReadOnlySessionWrote):
        with services.session(read_only=True) as s:
            s.add(Org(code="ro-test", name="只读", kind="village"))
    with pytest.raises(ReadOnlySessionWrote):
        with services.session(read_only=True) as s:
            s.execute(update(Org).where(Org.code == "nothing").values(name="x"))
    with services.session(read_only=True) as s:
        assert s.scalar(select(Org.id).limit(1)) is not None  # reading works
        assert s.scalar(select(Org.id).where(Org.code == "ro-test")) is None


def test_sqlite_readers_do_not_wait_for_the_write_lock(tmp_path):
    svc = open_services(load_settings(env={}, database_url=f"sqlite:///{tmp_path / 'rw.db'}", instance_path=tmp_path))
    try:
        with svc.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        seen: list[int] = []
        with svc.session() as writer:  # holds BEGIN IMMEDIATE until the block ends
            writer.execute(text("UPDATE t SET v = 2"))

            def read():
                with svc.session(read_only=True) as reader:
                    seen.append(reader.scalar(text("SELECT v FROM t")))
            thread = threading.Thread(target=read)
            thread.start()
            thread.join(timeout=5)  # a reader taking the write lock would wait 30 s here
            assert not thread.is_alive(), "the read-only session queued behind the writer"
        assert seen == [1]  # it read the last committed snapshot
    finally:
        svc.dispose()
