"""The PostgreSQL engine ``make_engine`` builds (engine/store/db.py).

A pooled connection is checked at checkout without a round trip when it was just used
(``_check_on_checkout``), and a dead one is replaced before the request sees it; psycopg caches
the conversion of statements as large as a step's write (``_cache_long_statements``).
"""
from __future__ import annotations

import os
import time

import pytest
from psycopg import _queries as psycopg_queries
from sqlalchemy import Integer, bindparam, create_engine, select, text
from sqlalchemy.pool import NullPool

from engine.settings import load_settings
from engine.store import db

PG_URL = os.environ.get("PINGAN_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="PostgreSQL only")


@pytest.fixture
def engine():
    engine = db.make_engine(load_settings(env={}, database_url=PG_URL))
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine, monkeypatch):
    """The number of pings the engine's dialect has sent."""
    sent = []
    real = engine.dialect.do_ping

    def counting(dbapi_conn):
        sent.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return sent


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def _terminate(*pids: int) -> None:
    """End sessions from a connection of their own, as a database restart does, and wait until they are gone."""
    killer = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool)
    try:
        with killer.connect() as conn:
            for pid in pids:
                assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(200):
                if not conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                                   {"pids": list(pids)}):
                    break
                time.sleep(0.01)
    finally:
        killer.dispose()


def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(engine, pings):
    first = _backend_pid(engine)  # a new connection: pinged once, as nothing is known of it
    assert len(pings) == 1
    for _ in range(5):
        assert _backend_pid(engine) == first
    assert len(pings) == 1


def test_a_connection_the_server_ended_is_replaced_before_use(engine, pings):
    dead = _backend_pid(engine)
    _terminate(dead)
    # Without the check this would be the dead connection and raise OperationalError.
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) != dead
        assert conn.scalar(text("SELECT 1")) == 1


def test_every_pooled_connection_ended_by_a_restart_is_replaced(engine):
    # Two connections in the pool, both ended, as when the server restarts.
    with engine.connect() as a, engine.connect() as b:
        pids = {a.scalar(text("SELECT pg_backend_pid()")), b.scalar(text("SELECT pg_backend_pid()"))}
    _terminate(*pids)
    with engine.connect() as a, engine.connect() as b:
        now = {a.scalar(text("SELECT pg_backend_pid()")), b.scalar(text("SELECT pg_backend_pid()"))}
    assert not now & pids


def test_a_connection_idle_past_the_limit_is_pinged(engine, pings, monkeypatch):
    _backend_pid(engine)
    assert len(pings) == 1
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    _backend_pid(engine)
    assert len(pings) == 2


def test_a_connection_with_something_on_its_socket_is_pinged_and_kept_if_it_answers(engine, pings):
    with engine.connect() as listener, engine.connect() as other:
        pid = listener.scalar(text("SELECT pg_backend_pid()"))
        listener.execute(text("LISTEN pingan_check"))
        listener.commit()
        listener.close()  # back in the pool, idle: what the server sends now waits on its socket
        other.execute(text("NOTIFY pingan_check"))
        other.commit()
    time.sleep(0.05)  # for the notification to arrive
    before = len(pings)
    with engine.connect() as conn:  # the pool hands out the first returned first: the listener
        assert conn.scalar(text("SELECT pg_backend_pid()")) == pid
    assert len(pings) == before + 1


def test_psycopg_s_statement_cache_takes_a_start_s_write_statement(engine):
    # The private names _cache_long_statements sets: an upgrade that moves them fails here.
    assert psycopg_queries.MAX_CACHED_STATEMENT_PARAMS >= db.STATEMENT_CACHE_PARAMS
    assert psycopg_queries.MAX_CACHED_STATEMENT_LENGTH >= db.STATEMENT_CACHE_LENGTH
    converted = psycopg_queries._query2pg  # the cached conversion (functools.lru_cache)
    # As large as a start's write: 60 parameters, over 3.6 KB of text.
    names = [f"p{i}_{'x' * 50}" for i in range(60)]
    statement = select(*(bindparam(name, type_=Integer).label(f"c{i}") for i, name in enumerate(names)))
    values = {name: i for i, name in enumerate(names)}
    with engine.connect() as conn:
        assert len(str(statement.compile(conn))) > 4096
        conn.execute(statement, values)  # converted and cached
        before = converted.cache_info()
        assert list(conn.execute(statement, values).one()) == list(range(60))
    after = converted.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
