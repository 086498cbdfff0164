"""case counts at scale: instance tallies kept by triggers; indexes for the scope's id sets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The trigger SQL is written out here, not imported from engine/tallies.py, so this revision
keeps doing what it did when it shipped.
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION pingan_tally_instances() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO instance_tallies (definition_id, status, delta)
            SELECT definition_id, status, count(*) FROM new_rows GROUP BY definition_id, status;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO instance_tallies (definition_id, status, delta)
            SELECT definition_id, status, -count(*) FROM old_rows GROUP BY definition_id, status;
        ELSE
            INSERT INTO instance_tallies (definition_id, status, delta)
            VALUES (OLD.definition_id, OLD.status, -1), (NEW.definition_id, NEW.status, 1);
        END IF;
        RETURN NULL;
    END $$""",
    """
    CREATE TRIGGER instances_tally_insert AFTER INSERT ON instances
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_tally_instances()""",
    """
    CREATE TRIGGER instances_tally_delete AFTER DELETE ON instances
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_tally_instances()""",
    """
    CREATE TRIGGER instances_tally_update AFTER UPDATE OF status, definition_id ON instances FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.definition_id IS DISTINCT FROM NEW.definition_id)
    EXECUTE FUNCTION pingan_tally_instances()""",
]

_SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER instances_tally_insert AFTER INSERT ON instances BEGIN
        INSERT INTO instance_tallies (definition_id, status, delta) VALUES (NEW.definition_id, NEW.status, 1);
    END""",
    """
    CREATE TRIGGER instances_tally_delete AFTER DELETE ON instances BEGIN
        INSERT INTO instance_tallies (definition_id, status, delta) VALUES (OLD.definition_id, OLD.status, -1);
    END""",
    """
    CREATE TRIGGER instances_tally_update AFTER UPDATE OF status, definition_id ON instances
    WHEN OLD.status IS NOT NEW.status OR OLD.definition_id IS NOT NEW.definition_id BEGIN
        INSERT INTO instance_tallies (definition_id, status, delta)
        VALUES (OLD.definition_id, OLD.status, -1), (NEW.definition_id, NEW.status, 1);
    END""",
]


def upgrade() -> None:
    op.create_table('instance_tallies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    postgresql = op.get_bind().dialect.name == 'postgresql'
    # Triggers first: on PostgreSQL they lock out writers to instances until this commits, so
    # the seed below counts exactly the cases the triggers will not.
    for statement in _POSTGRESQL_TRIGGERS if postgresql else _SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute("INSERT INTO instance_tallies (definition_id, status, delta) "
               "SELECT definition_id, status, count(*) FROM instances GROUP BY definition_id, status")

    op.create_index('ix_tasks_owner', 'human_tasks', ['owner_id', 'status'], unique=False)
    # Wider replacements: the scope's id sets come from these indexes alone.
    op.create_index('ix_instances_org_status', 'instances', ['org_id', 'status', 'id'], unique=False)
    op.create_index('ix_instances_starter_status', 'instances', ['started_by_id', 'org_id', 'status', 'id'], unique=False)
    op.create_index('ix_task_actors_user', 'task_actors', ['user_id', 'instance_id'], unique=False)
    op.drop_index('ix_instances_org_id', table_name='instances')
    op.drop_index('ix_instances_started_by_id', table_name='instances')
    op.drop_index('ix_task_actors_user_id', table_name='task_actors')
    # Subtree tests are prefix matches: an operator-class index serves them under any collation.
    op.drop_index('ix_orgs_path', table_name='orgs')
    op.create_index('ix_orgs_path', 'orgs', ['path'], unique=False, postgresql_ops={'path': 'varchar_pattern_ops'})


def downgrade() -> None:
    op.drop_index('ix_orgs_path', table_name='orgs')
    op.create_index('ix_orgs_path', 'orgs', ['path'], unique=False)
    op.create_index('ix_task_actors_user_id', 'task_actors', ['user_id'], unique=False)
    op.create_index('ix_instances_started_by_id', 'instances', ['started_by_id'], unique=False)
    op.create_index('ix_instances_org_id', 'instances', ['org_id'], unique=False)
    op.drop_index('ix_task_actors_user', table_name='task_actors')
    op.drop_index('ix_instances_starter_status', table_name='instances')
    op.drop_index('ix_instances_org_status', table_name='instances')
    op.drop_index('ix_tasks_owner', table_name='human_tasks')
    for name in ('instances_tally_update', 'instances_tally_delete', 'instances_tally_insert'):
        op.execute(f"DROP TRIGGER {name} ON instances" if op.get_bind().dialect.name == 'postgresql'
                   else f"DROP TRIGGER {name}")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION pingan_tally_instances()")
    op.drop_table('instance_tallies')
