"""The Alembic migrations build exactly the schema the models describe."""
from __future__ import annotations

import os
import uuid

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from engine.settings import load_settings
from engine.store.db import make_engine
from engine.store.schema import current_revision, upgrade
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
