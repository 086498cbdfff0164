"""A step's state and data are stored compressed with lz4 on PostgreSQL (engine/store/compression.py, migration 0011)."""
from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from engine.settings import load_settings
from engine.store.compression import COLUMNS, lz4_available, use_lz4
from engine.store.db import make_engine
from engine.store.schema import alembic_config, upgrade
from engine.store.tables import metadata
from tests.factories import start_review

PG_URL = os.environ.get("PINGAN_TEST_DATABASE_URL", "")
on_postgresql = pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="PostgreSQL only")


def _methods(conn) -> dict[str, str]:
    """Each compressed column of instances and its method ('l' lz4, '' the server's default)."""
    return dict(conn.execute(text(
        "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'instances'::regclass"
        " AND attname IN ('state', 'data')")).all())


def test_a_case_s_state_and_data_are_written_with_lz4(session, actors):
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        assert not lz4_available(conn) and use_lz4(conn) is False  # SQLite: nothing to set, nothing done
        return
    if not lz4_available(conn):
        pytest.skip("this PostgreSQL server was built without lz4")
    assert _methods(conn) == {"state": "l", "data": "l"}
    inst = start_review(session, actors("li.sl"))
    # A case's state is over the 2 KB past which PostgreSQL compresses a value; its data, here
    # a few fields, is made so by hand (a form's field holds at most a page of text).
    conn.execute(text("UPDATE instances SET data = CAST(:data AS jsonb) WHERE id = :id"),
                 {"id": inst.id, "data": json.dumps({"notes": ["现场核查记录" * 40] * 10}, ensure_ascii=False)})
    stored = conn.execute(text("SELECT pg_column_compression(state), pg_column_compression(data),"
                               " octet_length(state::text) FROM instances WHERE id = :id"), {"id": inst.id}).one()
    assert stored[2] > 2048
    assert stored[:2] == ("lz4", "lz4")


@contextmanager
def _fresh_schema():
    """An engine on a new, empty PostgreSQL schema, dropped afterwards."""
    schema = f"pingan_lz4_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(load_settings(env={}, database_url=PG_URL, database_schema=schema))
    try:
        with engine.connect() as conn:
            if not lz4_available(conn):
                pytest.skip("this PostgreSQL server was built without lz4")
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@on_postgresql
def test_migration_0011_sets_lz4_and_its_downgrade_gives_the_default_back():
    with _fresh_schema() as engine:
        upgrade(engine, "0010")
        with engine.connect() as conn:
            assert _methods(conn) == {"state": "", "data": ""}
        upgrade(engine)
        with engine.connect() as conn:
            assert _methods(conn) == {column: "l" for table, column in COLUMNS}
        command.downgrade(alembic_config(engine), "0010")
        with engine.connect() as conn:
            assert _methods(conn) == {"state": "", "data": ""}


@on_postgresql
def test_a_schema_built_by_create_all_gets_lz4_as_well():
    with _fresh_schema() as engine:
        metadata.create_all(engine)
        with engine.connect() as conn:
            assert _methods(conn) == {"state": "l", "data": "l"}
