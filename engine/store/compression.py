"""lz4 for the JSON columns a step writes anew, on PostgreSQL.

Every step rewrites a case's state (``instances.state``: a few kilobytes for a small case, 25 KB
of JSON for a mediation case half-way, 60 KB and more for an assessment) and its data. PostgreSQL
compresses any value over about 2 KB before storing it, with pglz unless a column says
otherwise, and that compression was about a fifth of the server's CPU per step (docs/performance.md,
section 15). lz4 compresses several times faster to about the same size and reads back faster.

It needs PostgreSQL 14 or later built with lz4 (Debian's, Ubuntu's and the official images are);
where it is missing nothing changes. Setting a column's method only changes how new values are
stored: values written before keep pglz and read as before, so nothing is rewritten; the table
is locked only while the setting changes (after the transactions using it end). SQLite has no
such setting.

Plain DDL, importing nothing of the engine: migration 0011 writes the same statements out, and
the models attach ``use_lz4`` to ``create_all``.
"""
from __future__ import annotations

from sqlalchemy.engine import Connection

COLUMNS = (("instances", "state"), ("instances", "data"))


def lz4_available(connection: Connection) -> bool:
    """Whether this PostgreSQL server can compress columns with lz4 (False on any other database)."""
    if connection.dialect.name != "postgresql":
        return False
    # Lists lz4 only on a server of version 14 or later built with it; older servers have no such setting.
    return bool(connection.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").scalar())


def use_lz4(connection: Connection) -> bool:
    """Compress new values of ``COLUMNS`` with lz4 where the server can; return whether it did."""
    if not lz4_available(connection):
        return False
    for table, column in COLUMNS:
        connection.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")
    return True
