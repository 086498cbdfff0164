"""a warning notice names its warning

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

A leader's 预警 notice opens the warning it is about: notifications gain a nullable
warning_id (no foreign key: the warnings table belongs to engine.board, and a notice may
outlive nothing it points at). Adding a nullable column rebuilds nothing, on SQLite too.
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warning_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('warning_id')
