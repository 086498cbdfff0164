"""Case counts by definition and status, exact and cheap however many cases have finished.

Triggers on ``instances`` add a row to ``instance_tallies`` whenever a case is inserted, deleted,
or changes status or definition: +1 for the new (definition, status), -1 for the old one. The
count of a group is the sum of its rows, in the same transaction as the change, whoever made it
(the runtime, an admin, a bulk load, a test deleting its cases). Rows are only ever added, so
concurrent completions never queue on a shared counter row; ``compact`` folds them into one row
per group now and then (the timer sweep calls it), which keeps the sum a scan of a few rows.

SQLite note: a migration that rebuilds ``instances`` (Alembic batch mode's "move and copy") drops
its triggers; such a migration must create them again (``engine.store.tally_triggers.create_triggers``,
which the models also use to add them to a schema built by ``create_all``).
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from .models import InstanceTally

# Fold when there are more rows than this; below it a count sums them in well under a millisecond.
COMPACT_ABOVE = 1000

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
