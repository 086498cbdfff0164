"""Case counts by definition and status, exact and cheap however many cases have finished.

Triggers on ``instances`` add a row to ``instance_tallies`` whenever a case is inserted, deleted,
or changes status or definition: +1 for the new (definition, status), -1 for the old one. The
count of a group is the sum of its rows, in the same transaction as the change, whoever made it
(the runtime, an admin, a bulk load, a test deleting its cases). Rows are only ever added, so
concurrent completions never queue on a shared counter row; ``compact`` folds them into one row
per group now and then (the timer sweep calls it), which keeps the sum a scan of a few rows.

SQLite note: a migration that rebuilds ``instances`` (Alembic batch mode's "move and copy") drops
its triggers; such a migration must create them again (``create_triggers``).
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .models import InstanceTally

# Fold when there are more rows than this; below it a count sums them in well under a millisecond.
COMPACT_ABOVE = 1000

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


def instance_counts(session: Session) -> dict[int, dict[str, int]]:
    """Return case counts by status for each definition id (groups with no cases left out)."""
    out: dict[int, dict[str, int]] = {}
    for definition_id, status, count in session.execute(
            select(InstanceTally.definition_id, InstanceTally.status, func.sum(InstanceTally.delta))
            .group_by(InstanceTally.definition_id, InstanceTally.status)):
        if count:
            out.setdefault(definition_id, {})[str(status)] = int(count)
    return out


def status_totals(session: Session) -> dict[str, int]:
    """Return case counts by status over every definition (statuses with none left out)."""
    totals: dict[str, int] = {}
    for by_status in instance_counts(session).values():
        for status, n in by_status.items():
            totals[status] = totals.get(status, 0) + n
    return totals


def rows(session: Session) -> int:
    """Return how many tally rows there are (the sweep folds them above ``COMPACT_ABOVE``)."""
    return session.scalar(select(func.count()).select_from(InstanceTally))


def compact(session: Session) -> int:
    """Fold the tally rows into one per group; return how many rows were folded.

    The rows summed are exactly the rows deleted (``DELETE ... RETURNING``), so a tally added by a
    transaction that commits meanwhile is never lost or counted twice.
    """
    folded_rows = session.execute(delete(InstanceTally).returning(
        InstanceTally.definition_id, InstanceTally.status, InstanceTally.delta)).all()
    sums: Counter[tuple[int, str]] = Counter()
    for definition_id, status, delta in folded_rows:
        sums[(definition_id, status)] += delta
    folded = [{"definition_id": d, "status": s, "delta": n} for (d, s), n in sorted(sums.items()) if n]
    if folded:
        session.execute(insert(InstanceTally), folded)
    session.flush()
    return len(folded_rows)
