"""cases by start time: an index for the unfiltered case list

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

The case list shows the newest cases first (started_at, then id, both descending). With a filter
or a scope the other indexes narrow the rows first; an administrator's unfiltered list had none,
so every page sorted every case (1.1 M in the bench's schema). Read backwards, this index gives
a page without a sort (626 ms a page before, 4 ms after). Building it holds off writes to
instances meanwhile: 1.1 s on the bench's 1.1 M cases (docs/operations.md, section 6).
"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_instances_started', 'instances', ['started_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_instances_started', table_name='instances')
