"""Shared fixtures: one database per test run (SQLite, or PostgreSQL when asked), rolled back per test.

Set ``PINGAN_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test`` to run on PostgreSQL;
each run then works in a schema of its own, dropped at the end.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.orm import Session

from engine import clock
from engine.clock import FrozenClock
from engine.context import open_services
from engine.settings import load_settings

FIXTURES = Path(__file__).parent / "fixtures"
REPO = FIXTURES / "repo"
# Monday 2 March 2026, 09:00 in Beijing: a plain working day.
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


def pytest_report_header(config):
    return f"pingan database: {os.environ.get('PINGAN_TEST_DATABASE_URL') or 'sqlite (temporary file)'}"


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    url = os.environ.get("PINGAN_TEST_DATABASE_URL")
    instance_path = tmp_path_factory.mktemp("instance")
    schema = None
    if url and url.startswith("postgresql"):
        schema = f"pingan_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    else:
        url = f"sqlite:///{instance_path / 'test.db'}"
    # Development mode: the public default keys (secret, audit) are accepted, with a warning.
    settings = load_settings(env={}, development=True, database_url=url, database_schema=schema,
                             instance_path=instance_path, processes_dir=REPO / "processes", forms_dir=REPO / "forms")
    svc = open_services(settings)
    from engine.store.schema import upgrade

    upgrade(svc.engine)
    # Tables a change adds before its migration is written still exist for the other tests;
    # tests/engine/test_schema.py is the one that insists the migration matches the models.
    from engine.store.tables import metadata

    metadata.create_all(svc.engine)
    with svc.session() as s:
        from engine.definitions.deployment import deploy
        from engine.org.demo import load_demo_org

        load_demo_org(s)
        deploy(s, paths=[REPO])
    yield svc
    svc.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def session(services):
    """A session whose work is rolled back after the test, commits included."""
    conn = services.engine.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False,
                info={"pingan": services.context})
    try:
        yield s
    finally:
        s.close()
        trans.rollback()
        conn.close()


@pytest.fixture
def committed(services):
    """For tests that need real commits across threads: removes every case they made afterwards."""
    from engine.store import models as m

    with services.session() as s:
        before = s.scalar(text("SELECT COALESCE(MAX(id), 0) FROM instances"))
    yield services
    with services.session() as s:
        ids = [r for (r,) in s.execute(text("SELECT id FROM instances WHERE id > :b"), {"b": before})]
        if ids:
            for model in (m.AuditEntry, m.HumanTask, m.EventWait, m.CaseField, m.TaskActor, m.CarbonCopy, m.Notification):
                s.execute(delete(model).where(model.instance_id.in_(ids)))
            s.execute(delete(m.PendingMessage).where(m.PendingMessage.consumed_by_instance_id.in_(ids)))
            s.execute(delete(m.Instance).where(m.Instance.id.in_(ids)))


@pytest.fixture
def frozen():
    """Install a movable clock at T0 (a Monday, 09:00 Beijing time)."""
    fake = FrozenClock(T0)
    previous = clock.install(fake)
    yield fake
    clock.install(previous)


@pytest.fixture
def actors(session):
    """Return a function giving the Actor for a demo username."""
    from engine.org.orgs import actor_for

    return lambda username: actor_for(session, username=username)


def advance(fake: FrozenClock, **kwargs) -> datetime:
    return fake.advance(timedelta(**kwargs))
