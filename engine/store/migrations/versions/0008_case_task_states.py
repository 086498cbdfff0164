"""each task of a case's workflow in a row of its own

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

A step rewrote the whole serialized workflow (0.56 MB at a thousand parallel tasks) into
instances.state. Now instances.state keeps the workflow's own fields and each task is a row of
case_task_states, written only when a step changes it (engine/store/case_state.py); a task gone
from the workflow keeps a row with a NULL body until the sweep deletes it. Existing
states are not moved: a state that still holds its tasks is read as it is, and the next step of
its case writes it in the new form; finished cases keep theirs as they were.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_task_states',
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('workflow', sa.String(length=36), nullable=False),
        sa.Column('body', sa.JSON(none_as_null=True).with_variant(
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('instance_id', 'task_id'),
    )
    # A gone task's row (body NULL) until the sweep deletes it.
    op.create_index('ix_case_task_states_gone', 'case_task_states', ['instance_id'], unique=False,
                    postgresql_where=sa.text('body IS NULL'), sqlite_where=sa.text('body IS NULL'))


def downgrade() -> None:
    # Put each stored task back into its case's state, then drop the rows.
    bind = op.get_bind()
    instances = sa.table('instances', sa.column('id', sa.Integer()), sa.column('state', sa.JSON()))
    rows = sa.table('case_task_states', sa.column('instance_id', sa.Integer()), sa.column('task_id', sa.String()),
                    sa.column('workflow', sa.String()), sa.column('body', sa.JSON()))
    ids = bind.execute(sa.select(rows.c.instance_id).distinct()).scalars().all()
    for instance_id in ids:
        state = bind.execute(sa.select(instances.c.state).where(instances.c.id == instance_id)).scalar_one()
        state = dict(state)
        state.pop('task_rows', None)
        for task_id, workflow, body in bind.execute(sa.select(rows.c.task_id, rows.c.workflow, rows.c.body)
                                                    .where(rows.c.instance_id == instance_id,
                                                           rows.c.body.isnot(None))):
            target = state if not workflow else state['subprocesses'][workflow]
            target.setdefault('tasks', {})[task_id] = body
        bind.execute(sa.update(instances).where(instances.c.id == instance_id).values(state=state))
    op.drop_index('ix_case_task_states_gone', table_name='case_task_states', postgresql_where=sa.text('body IS NULL'),
                  sqlite_where=sa.text('body IS NULL'))
    op.drop_table('case_task_states')
