"""deploy notes on process versions and the signer queue of tasks (加签/减签)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('process_definitions', sa.Column('note', sa.Text(), nullable=True))
    op.create_table('task_signers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.String(length=8), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('decision', sa.String(length=8), nullable=True),
    sa.Column('opinion', sa.Text(), nullable=True),
    sa.Column('added_by_id', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_task_signers_task', 'task_signers', ['task_id', 'status'], unique=False)
    op.create_index(op.f('ix_task_signers_instance_id'), 'task_signers', ['instance_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_task_signers_instance_id'), table_name='task_signers')
    op.drop_index('ix_task_signers_task', table_name='task_signers')
    op.drop_table('task_signers')
    with op.batch_alter_table('process_definitions') as batch:
        batch.drop_column('note')
