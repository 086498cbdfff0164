"""login throttles per (username, source) and the security event log

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

users.failed_logins and users.locked_until stay (no longer written): dropping a column of users
would make SQLite rebuild the table that every other one points at. Audit entries need no schema
change for the HMAC chain; old plain-hash chains are re-signed by `pingan audit rekey`.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('lock_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username', 'source')
    )
    op.create_index('ix_login_throttles_source', 'login_throttles', ['source', 'last_failure_at'], unique=False)
    op.create_table('security_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_security_events_at', 'security_events', ['at'], unique=False)
    op.create_index('ix_security_events_username', 'security_events', ['username', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_security_events_username', table_name='security_events')
    op.drop_index('ix_security_events_at', table_name='security_events')
    op.drop_table('security_events')
    op.drop_index('ix_login_throttles_source', table_name='login_throttles')
    op.drop_table('login_throttles')
