"""Database engine and session factory, built from settings inside a factory."""
from __future__ import annotations

import select
import time
from datetime import datetime, timezone

from psycopg import _queries as psycopg_queries
from sqlalchemy import JSON, DateTime, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator

from ..settings import Settings


# Execution option marking a connection whose transaction only reads (see make_session_factory).
READ_ONLY = "pingan_read_only"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere. Here beside ``Base`` so the
# tables of the subpackages (engine/board, engine/studio, ...) need not import engine/store/models.py,
# which imports them to register every table.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def make_engine(settings: Settings) -> Engine:
    """Create the SQLAlchemy engine for the configured database."""
    url = settings.database_url
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # JIT compiles any query whose estimated cost passes jit_above_cost; for Pingan's short
    # queries that costs up to a second and saves nothing (docs/performance.md, "at scale").
    options = "-c jit=off"
    if settings.database_schema:
        options += f" -csearch_path={settings.database_schema}"
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args={"options": options})
    _check_on_checkout(engine)
    _cache_long_statements()
    return engine


# A step's one write statement (engine/runtime/lifecycle.py, write_step) names every row it
# writes: a start's holds 60 parameters in 3.6 KB, more for each task it opens. psycopg caches
# the conversion of a statement's placeholders only up to 50 parameters and 4 KB, so it converted
# such a statement again at every execution: 1.2 M of a start's 9.3 M instructions
# (docs/performance.md, section 16). The bound keeps one-off statements (bulk INSERTs of varying
# length) from churning psycopg's cache of 128; Pingan's large ones come from a few shapes that recur.
STATEMENT_CACHE_PARAMS = 400
STATEMENT_CACHE_LENGTH = 32_768


def _cache_long_statements() -> None:
    """Let psycopg cache the conversion of statements as large as a step's write.

    ``psycopg._queries`` is private: tests/engine/test_postgresql_engine.py pins both names and
    checks that a start's write statement is converted once, so an upgrade that moves them is
    seen. Only what psycopg caches changes, never what it sends.
    """
    for name, at_least in (("MAX_CACHED_STATEMENT_PARAMS", STATEMENT_CACHE_PARAMS),
                           ("MAX_CACHED_STATEMENT_LENGTH", STATEMENT_CACHE_LENGTH)):
        if getattr(psycopg_queries, name, at_least) < at_least:
            setattr(psycopg_queries, name, at_least)


# A pooled connection idle longer than this is pinged before use (a firewall or NAT may have
# dropped it without a word); one used more recently is only looked at (``_looks_alive``).
PING_AFTER_IDLE_S = 30.0
_CHECKED_IN = "pingan_checked_in"


def _check_on_checkout(engine: Engine) -> None:
    """Hand out only live connections, without a round trip per request.

    What ``pool_pre_ping`` promises (the first request after the database restarted succeeds),
    for a round trip only where one can tell something: a server that restarts or ends a
    session closes its socket, so a connection whose socket has something to read is pinged,
    and so is one idle for ``PING_AFTER_IDLE_S``. Raising ``DisconnectionError`` makes the pool
    drop the connection and hand out another (SQLAlchemy's "pessimistic disconnect handling").
    A busy process thus skips the ``SELECT 1`` that ``pool_pre_ping`` sent before every request
    (docs/performance.md, section 16).
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        if record is not None:
            record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        since = record.info.get(_CHECKED_IN)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_S and _looks_alive(dbapi_conn):
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # Also what a dead socket raises: the pool discards this connection and makes
            # another; a server that is down shows in connecting, with its own error.
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


def _looks_alive(dbapi_conn) -> bool:
    """Whether a psycopg connection idle in the pool has nothing waiting on its socket.

    An idle session receives nothing unasked, except the server's goodbye (an error message,
    then end of file) or a notice; either way the caller pings to know.
    """
    try:
        if dbapi_conn.closed or dbapi_conn.broken:
            return False
        poller = select.poll()
        poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except Exception:
        return False


def _configure_sqlite(engine: Engine) -> None:
    # WAL lets readers run beside the single writer. A writing transaction takes the write lock
    # up front (BEGIN IMMEDIATE) so two writers never both read a stale instance and then collide
    # on commit; a read-only one (a GET request, a report) begins deferred and never queues
    # behind writers, because WAL readers work on a snapshot.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def make_session_factory(bind: Engine | Connection, *, read_only: bool = False, **kwargs) -> sessionmaker:
    """Return a session factory bound to ``bind``; a read-only one refuses to write.

    Read-only sessions begin without taking SQLite's write lock. Any INSERT, UPDATE or DELETE
    through one raises instead of silently upgrading the lock, which could fail under load with
    a stale snapshot: a read must never write, and a test that makes one do so fails loudly.
    """
    if not read_only:
        return sessionmaker(bind=bind, expire_on_commit=False, **kwargs)
    if isinstance(bind, Engine):  # a Connection (tests) is already inside its transaction
        bind = bind.execution_options(**{READ_ONLY: True})
    factory = sessionmaker(bind=bind, expire_on_commit=False, **kwargs)
    event.listen(factory, "before_flush", _refuse_flush)
    event.listen(factory, "do_orm_execute", _refuse_write)
    return factory


class ReadOnlySessionWrote(RuntimeError):
    """A read-only session (a GET request, a report) tried to change the database: a bug."""


def _refuse_flush(session, _flush_context, _instances):
    if session.new or session.deleted or any(session.is_modified(o) for o in session.dirty):
        raise ReadOnlySessionWrote("a read-only session tried to write: open a writing session for changes")


def _refuse_write(state):
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionWrote("a read-only session tried to write: open a writing session for changes")
