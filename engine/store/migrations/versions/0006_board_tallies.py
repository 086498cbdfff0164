"""board tallies: the board's case counts per township, process, kind and period, and the open cases' deadlines

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Triggers on ``instances`` append deltas to ``board_tally_deltas`` (folded by the timer sweep into
``board_tallies``); triggers on ``human_tasks`` and ``instances`` keep ``board_open_cases``, the
earliest open deadline of each running case, and count those deadlines by month and day in the
same deltas (engine/board/aggregates.py). Both are seeded from the
rows already there, folded per township as the sweep folds them. The index on human_tasks by
candidate org serves the board's rows by member unit.

The trigger SQL is written out here, not imported from engine/board/aggregates.py, so this
revision keeps doing what it did when it shipped.
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_POSTGRESQL_TRIGGERS = [
    # A board sums a few thousand rows: starting parallel workers for it costs more than the sum.
    "ALTER TABLE board_tallies SET (parallel_workers = 0)",
    "ALTER TABLE board_open_cases SET (parallel_workers = 0)",
    """    CREATE FUNCTION pingan_board_tally_rows() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, process_key, kind, period, sum(delta) FROM (SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') AS period, 1 AS delta FROM new_rows r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM new_rows r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), 1 FROM new_rows r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM new_rows r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', 1 FROM new_rows r WHERE r.status = 'running') f GROUP BY org_id, process_key, kind, period HAVING sum(delta) <> 0;
        ELSE
            INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, process_key, kind, period, sum(delta) FROM (SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') AS period, -1 AS delta FROM old_rows r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM old_rows r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), -1 FROM old_rows r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM old_rows r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', -1 FROM old_rows r WHERE r.status = 'running') f GROUP BY org_id, process_key, kind, period HAVING sum(delta) <> 0;
        END IF;
        RETURN NULL;
    END $$""",
    """    CREATE FUNCTION pingan_board_tally_row() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, process_key, kind, period, sum(delta) FROM (SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') AS period, -1 AS delta FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'running' UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') AS period, 1 AS delta FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'running') f GROUP BY org_id, process_key, kind, period HAVING sum(delta) <> 0;
        RETURN NULL;
    END $$""",
    """    CREATE TRIGGER instances_board_insert AFTER INSERT ON instances
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_tally_rows()""",
    """    CREATE TRIGGER instances_board_delete AFTER DELETE ON instances
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_tally_rows()""",
    """    CREATE TRIGGER instances_board_update AFTER UPDATE OF org_id, process_key, status, started_at, ended_at ON instances FOR EACH ROW
    WHEN (OLD.org_id IS DISTINCT FROM NEW.org_id OR OLD.process_key IS DISTINCT FROM NEW.process_key OR OLD.status IS DISTINCT FROM NEW.status OR OLD.started_at IS DISTINCT FROM NEW.started_at OR OLD.ended_at IS DISTINCT FROM NEW.ended_at) EXECUTE FUNCTION pingan_board_tally_row()""",
    """    CREATE FUNCTION pingan_board_open_tasks() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), -1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM new_rows) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM new_rows); DELETE FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM new_rows); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (SELECT instance_id FROM new_rows) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), 1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM new_rows) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM new_rows);
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), -1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM old_rows) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM old_rows); DELETE FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM old_rows); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (SELECT instance_id FROM old_rows) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), 1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM old_rows) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM board_open_cases WHERE instance_id IN (SELECT instance_id FROM old_rows);
        ELSE
            INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), -1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id); DELETE FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (OLD.instance_id, NEW.instance_id) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), 1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id);
        END IF;
        RETURN NULL;
    END $$""",
    """    CREATE TRIGGER human_tasks_board_insert AFTER INSERT ON human_tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_open_tasks()""",
    """    CREATE TRIGGER human_tasks_board_delete AFTER DELETE ON human_tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_open_tasks()""",
    """    CREATE TRIGGER human_tasks_board_update AFTER UPDATE OF instance_id, status, due_at ON human_tasks FOR EACH ROW
    WHEN (OLD.instance_id IS DISTINCT FROM NEW.instance_id OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.due_at IS DISTINCT FROM NEW.due_at)
    EXECUTE FUNCTION pingan_board_open_tasks()""",
    """    CREATE FUNCTION pingan_board_open_instances() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), -1 FROM board_open_cases WHERE instance_id IN (SELECT id FROM old_rows) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM board_open_cases WHERE instance_id IN (SELECT id FROM old_rows); DELETE FROM board_open_cases WHERE instance_id IN (SELECT id FROM old_rows);
        ELSE
            INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), -1 FROM board_open_cases WHERE instance_id IN (NEW.id) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), -1 FROM board_open_cases WHERE instance_id IN (NEW.id); DELETE FROM board_open_cases WHERE instance_id IN (NEW.id); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (NEW.id) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM'), 1 FROM board_open_cases WHERE instance_id IN (NEW.id) UNION ALL SELECT org_id, '', 'due_day', to_char((due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'), 1 FROM board_open_cases WHERE instance_id IN (NEW.id);
        END IF;
        RETURN NULL;
    END $$""",
    """    CREATE TRIGGER instances_board_open_delete AFTER DELETE ON instances
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_open_instances()""",
    """    CREATE TRIGGER instances_board_open_update AFTER UPDATE OF status, org_id ON instances FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION pingan_board_open_instances()""",
]

_SQLITE_TRIGGERS = [
    """    CREATE TRIGGER instances_board_insert AFTER INSERT ON instances BEGIN
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, process_key, kind, period, sum(delta) FROM (SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, strftime('%Y-%m', r.started_at, '+8 hours') AS period, 1 AS delta FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', strftime('%Y-%m-%d', r.started_at, '+8 hours'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m', r.ended_at, '+8 hours'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m-%d', r.ended_at, '+8 hours'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'running') f GROUP BY org_id, process_key, kind, period HAVING sum(delta) <> 0;
    END""",
    """    CREATE TRIGGER instances_board_delete AFTER DELETE ON instances BEGIN
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, process_key, kind, period, sum(delta) FROM (SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, strftime('%Y-%m', r.started_at, '+8 hours') AS period, -1 AS delta FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', strftime('%Y-%m-%d', r.started_at, '+8 hours'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m', r.ended_at, '+8 hours'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m-%d', r.ended_at, '+8 hours'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'running') f GROUP BY org_id, process_key, kind, period HAVING sum(delta) <> 0;
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (OLD.id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (OLD.id); DELETE FROM board_open_cases WHERE instance_id IN (OLD.id);
    END""",
    """    CREATE TRIGGER instances_board_update AFTER UPDATE OF org_id, process_key, status, started_at, ended_at ON instances
    WHEN OLD.org_id IS NOT NEW.org_id OR OLD.process_key IS NOT NEW.process_key OR OLD.status IS NOT NEW.status OR OLD.started_at IS NOT NEW.started_at OR OLD.ended_at IS NOT NEW.ended_at BEGIN
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, process_key, kind, period, sum(delta) FROM (SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, strftime('%Y-%m', r.started_at, '+8 hours') AS period, -1 AS delta FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', strftime('%Y-%m-%d', r.started_at, '+8 hours'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m', r.ended_at, '+8 hours'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m-%d', r.ended_at, '+8 hours'), -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', -1 FROM (SELECT OLD.org_id AS org_id, OLD.process_key AS process_key, OLD.status AS status, OLD.started_at AS started_at, OLD.ended_at AS ended_at) r WHERE r.status = 'running' UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, strftime('%Y-%m', r.started_at, '+8 hours') AS period, 1 AS delta FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', strftime('%Y-%m-%d', r.started_at, '+8 hours'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m', r.ended_at, '+8 hours'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m-%d', r.ended_at, '+8 hours'), 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', 1 FROM (SELECT NEW.org_id AS org_id, NEW.process_key AS process_key, NEW.status AS status, NEW.started_at AS started_at, NEW.ended_at AS ended_at) r WHERE r.status = 'running') f GROUP BY org_id, process_key, kind, period HAVING sum(delta) <> 0;
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (NEW.id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (NEW.id); DELETE FROM board_open_cases WHERE instance_id IN (NEW.id); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (NEW.id) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (NEW.id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (NEW.id);
    END""",
    """    CREATE TRIGGER human_tasks_board_insert AFTER INSERT ON human_tasks BEGIN
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (NEW.instance_id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (NEW.instance_id); DELETE FROM board_open_cases WHERE instance_id IN (NEW.instance_id); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (NEW.instance_id) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (NEW.instance_id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (NEW.instance_id);
    END""",
    """    CREATE TRIGGER human_tasks_board_delete AFTER DELETE ON human_tasks BEGIN
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id); DELETE FROM board_open_cases WHERE instance_id IN (OLD.instance_id); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (OLD.instance_id) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id);
    END""",
    """    CREATE TRIGGER human_tasks_board_update AFTER UPDATE OF instance_id, status, due_at ON human_tasks
    WHEN OLD.instance_id IS NOT NEW.instance_id OR OLD.status IS NOT NEW.status OR OLD.due_at IS NOT NEW.due_at BEGIN
        INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), -1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id); DELETE FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id); INSERT INTO board_open_cases (instance_id, org_id, due_at) SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id WHERE i.id IN (OLD.instance_id, NEW.instance_id) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id; INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) SELECT org_id, '', 'due_month', strftime('%Y-%m', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id) UNION ALL SELECT org_id, '', 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours'), 1 FROM board_open_cases WHERE instance_id IN (OLD.instance_id, NEW.instance_id);
    END""",
]

# Every case's facts, folded per township (the outermost township an org lies in, else the org) as
# engine/board/aggregates.py's ``compact`` folds the deltas.
# One pass over the cases (each yields its facts through LATERAL), the org → township map built once;
# stored in the order the board reads them (a period's rows together).
_POSTGRESQL_SEED = """WITH buckets AS MATERIALIZED (
    SELECT o.id AS org_id, COALESCE((SELECT t.id FROM orgs t WHERE t.kind = 'township' AND o.path LIKE t.path || '%'
                                     ORDER BY length(t.path) LIMIT 1), o.id) AS bucket FROM orgs o)
INSERT INTO board_tallies (org_id, process_key, kind, period, count)
SELECT b.bucket, r.process_key, k.kind, k.period, count(*)
FROM instances r
CROSS JOIN LATERAL (VALUES ('started', to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM')),
                           ('started', to_char((r.started_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD')),
                           ('closed', CASE WHEN r.status = 'completed' AND r.ended_at IS NOT NULL THEN to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') END),
                           ('closed', CASE WHEN r.status = 'completed' AND r.ended_at IS NOT NULL THEN to_char((r.ended_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD') END),
                           ('running', CASE WHEN r.status = 'running' THEN '' END)) k(kind, period)
JOIN buckets b ON b.org_id = r.org_id
WHERE k.period IS NOT NULL
GROUP BY b.bucket, r.process_key, k.kind, k.period
ORDER BY k.kind, k.period, b.bucket"""
_SQLITE_SEED = """INSERT INTO board_tallies (org_id, process_key, kind, period, count) SELECT b.bucket, f.process_key, f.kind, f.period, sum(f.delta) FROM (SELECT r.org_id AS org_id, r.process_key AS process_key, 'started' AS kind, strftime('%Y-%m', r.started_at, '+8 hours') AS period, 1 AS delta FROM instances r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'started', strftime('%Y-%m-%d', r.started_at, '+8 hours'), 1 FROM instances r
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m', r.ended_at, '+8 hours'), 1 FROM instances r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'closed', strftime('%Y-%m-%d', r.ended_at, '+8 hours'), 1 FROM instances r WHERE r.status = 'completed' AND r.ended_at IS NOT NULL
 UNION ALL SELECT r.org_id AS org_id, r.process_key AS process_key, 'running', '', 1 FROM instances r WHERE r.status = 'running') f JOIN (SELECT o.id AS org_id, COALESCE((SELECT t.id FROM orgs t WHERE t.kind = 'township' AND o.path LIKE t.path || '%' ORDER BY length(t.path) LIMIT 1), o.id) AS bucket FROM orgs o) b ON b.org_id = f.org_id GROUP BY b.bucket, f.process_key, f.kind, f.period HAVING sum(f.delta) <> 0"""
_OPEN_SEED = ("INSERT INTO board_open_cases (instance_id, org_id, due_at) "
              "SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id "
              "WHERE i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL GROUP BY i.id, i.org_id")

# The open cases' earliest deadlines, by month and by day, folded the same way.
_POSTGRESQL_DUE_SEED = """WITH buckets AS MATERIALIZED (
    SELECT o.id AS org_id, COALESCE((SELECT t.id FROM orgs t WHERE t.kind = 'township' AND o.path LIKE t.path || '%'
                                     ORDER BY length(t.path) LIMIT 1), o.id) AS bucket FROM orgs o)
INSERT INTO board_tallies (org_id, process_key, kind, period, count)
SELECT b.bucket, '', k.kind, k.period, count(*)
FROM board_open_cases c
CROSS JOIN LATERAL (VALUES ('due_month', to_char((c.due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM')), ('due_day', to_char((c.due_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'))) k(kind, period)
JOIN buckets b ON b.org_id = c.org_id
GROUP BY b.bucket, k.kind, k.period
ORDER BY k.kind, k.period, b.bucket"""
_SQLITE_DUE_SEED = """INSERT INTO board_tallies (org_id, process_key, kind, period, count)
SELECT b.bucket, '', f.kind, f.period, count(*)
FROM (SELECT org_id, 'due_month' AS kind, strftime('%Y-%m', due_at, '+8 hours') AS period FROM board_open_cases
      UNION ALL SELECT org_id, 'due_day', strftime('%Y-%m-%d', due_at, '+8 hours') FROM board_open_cases) f
JOIN (SELECT o.id AS org_id, COALESCE((SELECT t.id FROM orgs t WHERE t.kind = 'township' AND o.path LIKE t.path || '%'
                                       ORDER BY length(t.path) LIMIT 1), o.id) AS bucket FROM orgs o) b
  ON b.org_id = f.org_id
GROUP BY b.bucket, f.kind, f.period"""


def upgrade() -> None:
    op.create_table('board_open_cases',
    sa.Column('instance_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('instance_id')
    )
    op.create_index('ix_board_open_cases_due', 'board_open_cases', ['due_at', 'org_id'], unique=False)
    op.create_table('board_tallies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'period', 'org_id', 'process_key', name='uq_board_tallies_key')
    )
    op.create_table('board_tally_deltas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_candidate_org', ['candidate_org_id', 'status'], unique=False)
    postgresql = op.get_bind().dialect.name == 'postgresql'
    # Triggers first: on PostgreSQL they lock out writers to instances and human_tasks until this
    # commits, so the seeds below count exactly the rows the triggers will not.
    for statement in _POSTGRESQL_TRIGGERS if postgresql else _SQLITE_TRIGGERS:
        op.execute(statement)
    if postgresql:
        op.execute("SET LOCAL work_mem = '256MB'")  # the seed groups a million cases' facts in memory
    op.execute(_POSTGRESQL_SEED if postgresql else _SQLITE_SEED)
    op.execute(_OPEN_SEED)
    op.execute(_POSTGRESQL_DUE_SEED if postgresql else _SQLITE_DUE_SEED)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, name in (('instances', 'instances_board_insert'), ('instances', 'instances_board_delete'),
                        ('instances', 'instances_board_update'), ('human_tasks', 'human_tasks_board_insert'),
                        ('human_tasks', 'human_tasks_board_delete'), ('human_tasks', 'human_tasks_board_update'),
                        ('instances', 'instances_board_open_delete'), ('instances', 'instances_board_open_update')):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if postgresql else f"DROP TRIGGER IF EXISTS {name}")
    if postgresql:
        for function in ('pingan_board_tally_rows', 'pingan_board_tally_row', 'pingan_board_open_tasks',
                         'pingan_board_open_instances'):
            op.execute(f"DROP FUNCTION {function}()")
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_candidate_org')
    op.drop_table('board_tally_deltas')
    op.drop_table('board_tallies')
    op.drop_index('ix_board_open_cases_due', table_name='board_open_cases')
    op.drop_table('board_open_cases')
