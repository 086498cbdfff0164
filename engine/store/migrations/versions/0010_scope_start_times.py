"""cases in a scope with their start times: the scope's indexes carry started_at

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

The unfiltered case list of someone with a scope (a township's dispatcher) sorts the cases of
their subtree and the cases they started by start time. The two indexes those cases are read
from held the org, starter, status and id but not the start time, so every visible case's row
was read for it: 12 ms for a township's 2,147 cases among the bench's 1.1 M. With started_at as
their last column, the list reads start times from the indexes alone and only the page's 50
cases whole (2 ms). Both are rebuilt; that holds off writes to instances meanwhile: about 2 and
1 s on the bench's 1.1 M cases (docs/operations.md, section 6).
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ORG = ['org_id', 'status', 'id']
STARTER = ['started_by_id', 'org_id', 'status', 'id']


def _rebuild(org: list[str], starter: list[str]) -> None:
    op.drop_index('ix_instances_org_status', table_name='instances')
    op.create_index('ix_instances_org_status', 'instances', org, unique=False)
    op.drop_index('ix_instances_starter_status', table_name='instances')
    op.create_index('ix_instances_starter_status', 'instances', starter, unique=False)


def upgrade() -> None:
    _rebuild(ORG + ['started_at'], STARTER + ['started_at'])


def downgrade() -> None:
    _rebuild(ORG, STARTER)
