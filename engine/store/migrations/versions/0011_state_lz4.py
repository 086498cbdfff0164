"""the state and data a step writes anew: compressed with lz4 on PostgreSQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Every step rewrites the case's state and data. PostgreSQL compressed each value over about 2 KB
with pglz, about a fifth of the server's CPU per step of a mediation case; lz4 does the same
work several times faster (docs/performance.md, section 15). Only new values use it: old ones
keep pglz and read as before, so nothing is rewritten and the table is locked only while the
setting changes (docs/operations.md, section 6). Skipped on SQLite, and on a PostgreSQL server
without lz4 (before 14, or built without it).

The statements are written out here, not imported from engine/store/compression.py, so this
revision keeps doing what it did whatever that module becomes.
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COLUMNS = (('instances', 'state'), ('instances', 'data'))


def _lz4_available(bind) -> bool:
    if bind.dialect.name != 'postgresql':
        return False
    return bool(bind.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").scalar())


def _set(method: str) -> None:
    bind = op.get_bind()
    if not _lz4_available(bind):
        return
    for table, column in COLUMNS:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}')


def upgrade() -> None:
    _set('lz4')


def downgrade() -> None:
    _set('default')
