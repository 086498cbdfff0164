"""The Alembic migrations build exactly the schema the models describe."""
from __future__ import annotations

import json
import os
import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from engine.settings import load_settings
from engine.store.db import make_engine
from engine.store.schema import alembic_config, current_revision, upgrade
from engine.store.tables import metadata


def test_migrations_build_the_models_schema(tmp_path):
    url = os.environ.get("PINGAN_TEST_DATABASE_URL")
    schema = None
    if url and url.startswith("postgresql"):
        schema = f"pingan_schema_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    else:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = make_engine(load_settings(env={}, database_url=url, database_schema=schema))
    try:
        upgrade(engine)
        assert current_revision(engine) is not None
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def test_downgrading_0008_puts_each_case_s_task_rows_back_into_its_state(tmp_path):
    """Migration 0008 moves nothing up; its downgrade writes the task rows back into instances.state."""
    url = f"sqlite:///{tmp_path / 'down.db'}"
    engine = make_engine(load_settings(env={}, database_url=url))
    raw = create_engine(url)  # without the foreign-key pragma: a case row with no org or definition
    try:
        upgrade(engine)
        state = {"root": "r", "tasks": {}, "subprocesses": {"s": {"root": "c", "tasks": {}}}, "task_rows": True}
        with raw.begin() as conn:
            conn.execute(text(
                "INSERT INTO instances (id, definition_id, process_key, title, status, org_id, started_at, updated_at,"
                " state, serializer_version, data, audit_head, audit_seq, lock_version) VALUES (7, 1, 'p', 't',"
                " 'running', 1, '2026-12-07 00:00:00', '2026-12-07 00:00:00', :state, '1.5', '{}', '', 0, 1)"),
                {"state": json.dumps(state)})
            conn.execute(text("INSERT INTO case_task_states (instance_id, task_id, workflow, body) VALUES"
                              " (7, 'r', '', '{\"id\": \"r\"}'), (7, 'c', 's', '{\"id\": \"c\"}'), (7, 'x', '', NULL)"))
        command.downgrade(alembic_config(engine), "0007")
        with raw.connect() as conn:
            back = json.loads(conn.execute(text("SELECT state FROM instances WHERE id = 7")).scalar_one())
            tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
        assert back == {"root": "r", "tasks": {"r": {"id": "r"}},
                        "subprocesses": {"s": {"root": "c", "tasks": {"c": {"id": "c"}}}}}
        assert "case_task_states" not in tables
        upgrade(engine)  # back up through 0008 and every later migration
        assert current_revision(engine) == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    finally:
        raw.dispose()
        engine.dispose()
