"""The triggers on ``instances`` that keep ``instance_tallies`` (see engine/store/tallies.py).

Plain DDL, importing nothing of the engine: the models attach it to ``create_all`` and
``engine/store/tallies.py`` reads the rows it writes, so neither has to import the other.
"""
from __future__ import annotations

from sqlalchemy.engine import Connection

_POSTGRESQL = [
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
    # Per statement for inserts and deletes, so a bulk load adds one row per group, not per case.
    """
    CREATE TRIGGER instances_tally_insert AFTER INSERT ON instances
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_tally_instances()""",
    """
    CREATE TRIGGER instances_tally_delete AFTER DELETE ON instances
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_tally_instances()""",
    # Per row, and only when the status or definition changed: an ordinary step costs nothing.
    """
    CREATE TRIGGER instances_tally_update AFTER UPDATE OF status, definition_id ON instances FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.definition_id IS DISTINCT FROM NEW.definition_id)
    EXECUTE FUNCTION pingan_tally_instances()""",
]

_SQLITE = [
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


def create_triggers(connection: Connection) -> None:
    """Create the triggers that keep ``instance_tallies`` (for a schema built without migrations)."""
    for statement in _POSTGRESQL if connection.dialect.name == "postgresql" else _SQLITE:
        connection.exec_driver_sql(statement)
