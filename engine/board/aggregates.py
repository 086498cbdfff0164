"""The board's case counts kept ahead of time, so a county leader's board sums rows, not a million cases.

Triggers on ``instances`` append ``board_tally_deltas`` rows (+1/-1) whenever a case is inserted,
deleted or changes org, process, status, start or end, like ``instance_tallies`` (engine/store/tallies.py):
per case org and process, the cases started (``started``) and closed (``closed``: completed, by
their end) in each month and each day, and the cases running now (``running``, period ``''``). The
timer sweep folds the deltas into ``board_tallies`` (``compact``), one row per township (an org
outside every township keeps its own rows), so a county's six months are a few thousand rows.

Days and months are those of China Standard Time (UTC+8, ``OFFSET``), the deployments' zone; the
board uses these rows only when its own period bounds fall on them (figures.py asks ``on_buckets``).

The deadline figures depend on the moment asked, so they cannot be counted ahead: triggers on
``human_tasks`` and ``instances`` keep ``board_open_cases``, one row per running case with an
open step that has a deadline, holding the earliest such deadline; "overdue" and "due within 3
working days" are then a range of one index.

An org's place in the tree never changes once made (engine/org/orgs.py sets its path at creation):
the township a row was folded into stays the township of its cases.
"""
from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Index, Integer, String, UniqueConstraint, and_, bindparam, case, delete, event, func, literal, \
    or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..org.visibility import orgs_under
from ..store.db import Base
from ..store.models import HumanTask, Org

OFFSET = timedelta(hours=8)  # the tallies' days and months are UTC+8's
STARTED, CLOSED, RUNNING = "started", "closed", "running"
DUE_MONTH, DUE_DAY = "due_month", "due_day"  # the open cases' earliest deadlines, by month and by day

# The board's 按单位 rows read the tasks that wait or waited in a unit's pool: by org first.
Index("ix_tasks_candidate_org", HumanTask.candidate_org_id, HumanTask.status)


class BoardTallyDelta(Base):
    """One change to a board count, as the triggers write it (per case org); folded by ``compact``."""

    __tablename__ = "board_tally_deltas"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    process_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(10))  # 'YYYY-MM', 'YYYY-MM-DD' (UTC+8), or '' for running
    delta: Mapped[int] = mapped_column(Integer)


class BoardTally(Base):
    """A board count per township (or org outside townships), process, kind and period: the folded deltas."""

    __tablename__ = "board_tallies"
    __table_args__ = (UniqueConstraint("kind", "period", "org_id", "process_key", name="uq_board_tallies_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    process_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(Integer)


class BoardOpenCase(Base):
    """A running case with an open step that has a deadline: its org and its earliest such deadline."""

    __tablename__ = "board_open_cases"
    __table_args__ = (Index("ix_board_open_cases_due", "due_at", "org_id"),)

    instance_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    org_id: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]


# -- triggers ----------------------------------------------------------------------------------
# Written out in the migration (0006) too, so that revision keeps doing what it did when it shipped.

def _facts(source: str, sign: int, month, day) -> str:
    """SELECT the (org, process, kind, period, delta) facts of the case rows ``source`` (an aliased FROM item)."""
    head = "SELECT r.org_id AS org_id, r.process_key AS process_key"
    closed = "WHERE r.status = 'completed' AND r.ended_at IS NOT NULL"
    return "\n UNION ALL ".join([
        f"{head}, '{STARTED}' AS kind, {month('r.started_at')} AS period, {sign} AS delta FROM {source}",
        f"{head}, '{STARTED}', {day('r.started_at')}, {sign} FROM {source}",
        f"{head}, '{CLOSED}', {month('r.ended_at')}, {sign} FROM {source} {closed}",
        f"{head}, '{CLOSED}', {day('r.ended_at')}, {sign} FROM {source} {closed}",
        f"{head}, '{RUNNING}', '', {sign} FROM {source} WHERE r.status = 'running'"])


def _insert_facts(facts: str) -> str:
    return ("INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) "
            f"SELECT org_id, process_key, kind, period, sum(delta) FROM ({facts}) f "
            "GROUP BY org_id, process_key, kind, period HAVING sum(delta) <> 0")


def _pg_month(column: str) -> str:
    return f"to_char(({column} AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM')"


def _pg_day(column: str) -> str:
    return f"to_char(({column} AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD')"


def _lite_month(column: str) -> str:
    return f"strftime('%Y-%m', {column}, '+8 hours')"


def _lite_day(column: str) -> str:
    return f"strftime('%Y-%m-%d', {column}, '+8 hours')"


_CASE_COLUMNS = ("org_id", "process_key", "status", "started_at", "ended_at")
_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _CASE_COLUMNS)


def _row(prefix: str) -> str:
    return "(SELECT " + ", ".join(f"{prefix}.{c} AS {c}" for c in _CASE_COLUMNS) + ") r"


def _open_due(ids: str, sign: int, month, day) -> str:
    """Count the ``board_open_cases`` rows of ``ids`` in (or out of) the deadline tallies, by month and by day."""
    rows = f"FROM board_open_cases WHERE instance_id IN ({ids})"
    return ("INSERT INTO board_tally_deltas (org_id, process_key, kind, period, delta) "
            f"SELECT org_id, '', '{DUE_MONTH}', {month('due_at')}, {sign} {rows} "
            f"UNION ALL SELECT org_id, '', '{DUE_DAY}', {day('due_at')}, {sign} {rows}")


def _open_drop(ids: str, month, day) -> list[str]:
    return [_open_due(ids, -1, month, day), f"DELETE FROM board_open_cases WHERE instance_id IN ({ids})"]


def _open_refresh(ids: str, month, day) -> list[str]:
    """Rebuild the ``board_open_cases`` rows of the cases whose ids ``ids`` (an SQL list or subquery) gives."""
    return [*_open_drop(ids, month, day),
            "INSERT INTO board_open_cases (instance_id, org_id, due_at) "
            "SELECT i.id, i.org_id, min(t.due_at) FROM instances i JOIN human_tasks t ON t.instance_id = i.id "
            f"WHERE i.id IN ({ids}) AND i.status = 'running' AND t.status = 'open' AND t.due_at IS NOT NULL "
            "GROUP BY i.id, i.org_id",
            _open_due(ids, 1, month, day)]


def _pg_refresh(ids: str) -> str:
    return "; ".join(_open_refresh(ids, _pg_month, _pg_day))


def _lite_refresh(ids: str) -> str:
    return "; ".join(_open_refresh(ids, _lite_month, _lite_day))


POSTGRESQL = [
    # A board sums a few thousand rows: starting parallel workers for it costs more than the sum.
    "ALTER TABLE board_tallies SET (parallel_workers = 0)",
    "ALTER TABLE board_open_cases SET (parallel_workers = 0)",
    f"""
    CREATE FUNCTION pingan_board_tally_rows() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_insert_facts(_facts('new_rows r', 1, _pg_month, _pg_day))};
        ELSE
            {_insert_facts(_facts('old_rows r', -1, _pg_month, _pg_day))};
        END IF;
        RETURN NULL;
    END $$""",
    f"""
    CREATE FUNCTION pingan_board_tally_row() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        {_insert_facts(_facts(_row('OLD'), -1, _pg_month, _pg_day) + ' UNION ALL '
                       + _facts(_row('NEW'), 1, _pg_month, _pg_day))};
        RETURN NULL;
    END $$""",
    # Per statement for inserts and deletes: a bulk load adds one row per group, not per case.
    """
    CREATE TRIGGER instances_board_insert AFTER INSERT ON instances
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_tally_rows()""",
    """
    CREATE TRIGGER instances_board_delete AFTER DELETE ON instances
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_tally_rows()""",
    f"""
    CREATE TRIGGER instances_board_update AFTER UPDATE OF {', '.join(_CASE_COLUMNS)} ON instances FOR EACH ROW
    WHEN ({_CHANGED}) EXECUTE FUNCTION pingan_board_tally_row()""",
    f"""
    CREATE FUNCTION pingan_board_open_tasks() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_pg_refresh('SELECT instance_id FROM new_rows')};
        ELSIF TG_OP = 'DELETE' THEN
            {_pg_refresh('SELECT instance_id FROM old_rows')};
        ELSE
            {_pg_refresh('OLD.instance_id, NEW.instance_id')};
        END IF;
        RETURN NULL;
    END $$""",
    """
    CREATE TRIGGER human_tasks_board_insert AFTER INSERT ON human_tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_open_tasks()""",
    """
    CREATE TRIGGER human_tasks_board_delete AFTER DELETE ON human_tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_open_tasks()""",
    """
    CREATE TRIGGER human_tasks_board_update AFTER UPDATE OF instance_id, status, due_at ON human_tasks FOR EACH ROW
    WHEN (OLD.instance_id IS DISTINCT FROM NEW.instance_id OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.due_at IS DISTINCT FROM NEW.due_at)
    EXECUTE FUNCTION pingan_board_open_tasks()""",
    f"""
    CREATE FUNCTION pingan_board_open_instances() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            {'; '.join(_open_drop('SELECT id FROM old_rows', _pg_month, _pg_day))};
        ELSE
            {_pg_refresh('NEW.id')};
        END IF;
        RETURN NULL;
    END $$""",
    """
    CREATE TRIGGER instances_board_open_delete AFTER DELETE ON instances
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pingan_board_open_instances()""",
    """
    CREATE TRIGGER instances_board_open_update AFTER UPDATE OF status, org_id ON instances FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION pingan_board_open_instances()""",
]

_LITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _CASE_COLUMNS)
SQLITE = [
    f"""
    CREATE TRIGGER instances_board_insert AFTER INSERT ON instances BEGIN
        {_insert_facts(_facts(_row('NEW'), 1, _lite_month, _lite_day))};
    END""",
    f"""
    CREATE TRIGGER instances_board_delete AFTER DELETE ON instances BEGIN
        {_insert_facts(_facts(_row('OLD'), -1, _lite_month, _lite_day))};
        {'; '.join(_open_drop('OLD.id', _lite_month, _lite_day))};
    END""",
    f"""
    CREATE TRIGGER instances_board_update AFTER UPDATE OF {', '.join(_CASE_COLUMNS)} ON instances
    WHEN {_LITE_CHANGED} BEGIN
        {_insert_facts(_facts(_row('OLD'), -1, _lite_month, _lite_day) + ' UNION ALL '
                       + _facts(_row('NEW'), 1, _lite_month, _lite_day))};
        {_lite_refresh('NEW.id')};
    END""",
    f"""
    CREATE TRIGGER human_tasks_board_insert AFTER INSERT ON human_tasks BEGIN
        {_lite_refresh('NEW.instance_id')};
    END""",
    f"""
    CREATE TRIGGER human_tasks_board_delete AFTER DELETE ON human_tasks BEGIN
        {_lite_refresh('OLD.instance_id')};
    END""",
    f"""
    CREATE TRIGGER human_tasks_board_update AFTER UPDATE OF instance_id, status, due_at ON human_tasks
    WHEN OLD.instance_id IS NOT NEW.instance_id OR OLD.status IS NOT NEW.status OR OLD.due_at IS NOT NEW.due_at BEGIN
        {_lite_refresh('OLD.instance_id, NEW.instance_id')};
    END""",
]


def create_triggers(connection: Connection) -> None:
    """Create the triggers that keep the board's tables, unless they exist (a schema built by ``create_all``)."""
    if connection.dialect.name == "postgresql":
        exists = "SELECT 1 FROM pg_trigger WHERE tgname = 'instances_board_insert' " \
                 "AND tgrelid = 'instances'::regclass"
    else:
        exists = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'instances_board_insert'"
    if connection.exec_driver_sql(exists).first() is None:
        for statement in POSTGRESQL if connection.dialect.name == "postgresql" else SQLITE:
            connection.exec_driver_sql(statement)


def _after_create(target, connection, tables=None, **kw) -> None:
    # Only when this create_all made the board's tables: create_all(tables=[...]) of some other
    # table must not need instances and human_tasks to exist.
    if tables is None or any(t.name == "board_tally_deltas" for t in tables):
        create_triggers(connection)


# Migrations create them (0006); this covers a schema built by create_all alone.
event.listen(Base.metadata, "after_create", _after_create)


# -- folding ------------------------------------------------------------------------------------

def buckets(session: Session) -> dict[int, int]:
    """Return each org's tally org: its outermost township, or itself outside every township."""
    orgs = session.execute(select(Org.id, Org.kind, Org.path)).all()
    townships = sorted((path, org_id) for org_id, kind, path in orgs if kind == "township")
    out = {}
    for org_id, _, path in orgs:
        out[org_id] = next((t for p, t in townships if path.startswith(p)), org_id)
    return out


def compact(session: Session) -> int:
    """Fold the deltas into ``board_tallies`` by township; return how many deltas were folded.

    The deltas summed are exactly those deleted (``DELETE ... RETURNING``); each is added to its
    row with one upsert, so two folds at once, or a delta committed meanwhile, count once.
    """
    folded = session.execute(delete(BoardTallyDelta).returning(
        BoardTallyDelta.org_id, BoardTallyDelta.process_key, BoardTallyDelta.kind, BoardTallyDelta.period,
        BoardTallyDelta.delta)).all()
    if not folded:
        return 0
    bucket = buckets(session)
    sums: Counter[tuple[str, str, int, str]] = Counter()
    for org_id, process_key, kind, period, delta in folded:
        sums[(kind, period, bucket.get(org_id, org_id), process_key)] += delta
    rows = [{"kind": k, "period": p, "org_id": o, "process_key": pk, "count": n}
            for (k, p, o, pk), n in sorted(sums.items()) if n]
    if rows:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(BoardTally)
        stmt = stmt.on_conflict_do_update(index_elements=["kind", "period", "org_id", "process_key"],
                                          set_={"count": BoardTally.count + stmt.excluded.count})
        for i in range(0, len(rows), 1000):
            session.execute(stmt, rows[i:i + 1000])
    session.flush()
    return len(folded)


def delta_rows(session: Session) -> int:
    """Return how many deltas wait to be folded."""
    return session.scalar(select(func.count()).select_from(BoardTallyDelta))


# -- reading ------------------------------------------------------------------------------------

def on_buckets(moments: list[datetime]) -> bool:
    """Tell whether every moment (an aware local midnight) is a midnight of the tallies' days (UTC+8)."""
    return all(m.utcoffset() == OFFSET for m in moments)


@dataclass(frozen=True)
class Span:
    """Local days ``first`` to ``last`` (inclusive) of one kind: a figure read from the tallies."""
    kind: str
    first: date
    last: date


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _terms(span: Span, today: date | None = None) -> list[tuple[int, str, str]]:
    """Return (sign, first, last) period ranges whose signed sum of rows is the span's count.

    Whole months are one row ('YYYY-MM' to itself); a month cut short is its month row less the
    days left out, or its days, whichever reads fewer rows. Days after ``today`` hold no rows yet
    (nothing has started or closed in the future), so this month so far is its month row less
    the days after today: one row, not a row per day. A day range never takes a month row:
    'YYYY-MM' sorts before 'YYYY-MM-01'.
    """
    terms, month = [], span.first.replace(day=1)
    while month <= span.last:
        end = _month_end(month)
        a, b = max(span.first, month), min(span.last, end)
        inside = (b - a).days + 1
        left_out = (end - month).days + 1 - inside
        if today is not None and end > max(b, today):
            left_out -= (end - max(b, today)).days  # future days: nothing to read
        if left_out < inside:
            terms.append((1, month.strftime("%Y-%m"), month.strftime("%Y-%m")))
            if a > month:
                terms.append((-1, month.isoformat(), (a - timedelta(days=1)).isoformat()))
            if b < end:
                terms.append((-1, (b + timedelta(days=1)).isoformat(), end.isoformat()))
        else:
            terms.append((1, a.isoformat(), b.isoformat()))
        month = end + timedelta(days=1)
    return terms


def _in(period, first: str, last: str):
    return period == first if first == last else period.between(first, last)


def _rows(wanted, org_paths):
    """The folded rows and the deltas not yet folded that ``wanted(table)`` picks, as (org_id, process_key, kind, period, n)."""
    parts = []
    for table, n in ((BoardTally, BoardTally.count), (BoardTallyDelta, BoardTallyDelta.delta)):
        where = [wanted(table)]
        if org_paths is not None:
            where.append(table.org_id.in_(orgs_under(list(org_paths))))
        parts.append(select(table.org_id, table.process_key, table.kind, table.period, n.label("n")).where(*where))
    return union_all(*parts).subquery()


class _Built:
    """Statements built once per set of inputs and executed again and again (a board asks the same all day).

    Building a statement of a few dozen terms costs more Python than running it; the built ones
    hold no values that change within a day (moments are bound at execution).
    """

    def __init__(self, size: int = 32):
        self.size, self.kept, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, build):
        with self.lock:
            found = self.kept.get(key)
            if found is not None:
                self.kept.move_to_end(key)
                return found
        found = build()
        with self.lock:
            self.kept[key] = found
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return found


_BUILT = _Built()


def built(key, build):
    """Return the statement kept under ``key``, building it with ``build()`` the first time (see ``_Built``)."""
    return _BUILT.get(key, build)


def sums(session: Session, *, spans: list[Span], org_spans: list[Span], today: date | None = None,
         org_paths: tuple[str, ...] | None = None, due_until: date | None = None):
    """Return each span's count per process, and each of ``org_spans``' counts and the cases running now per org id.

    ``org_paths`` are the subtrees whose orgs' rows count (None: every org); the orgs are tally
    orgs (townships) for folded rows and case orgs for the deltas not yet folded. Two queries: the
    totals grouped by period (a few dozen rows, the spans added up here), and the few figures the
    board shows per township grouped by org. With ``due_until`` (the horizon's local day), each
    org's figures end with the deadlines of whole days from the deadline tallies: [due soon, overdue]
    (see ``deadline_counts``), read in the same statement.
    """
    spans_terms = [(span.kind, _terms(span, today)) for span in spans]
    org_terms = [(span.kind, _terms(span, today)) for span in org_spans]
    due = None if due_until is None else _due_terms(today, due_until)
    by_period, by_org = _BUILT.get(("sums", _frozen(spans_terms), _frozen(org_terms), org_paths, due),
                                   lambda: _sums_statements(spans_terms, org_terms, org_paths, due))
    conn = session.connection()  # Core rows
    by_process: dict[str, list[int]] = {}
    for kind, period, process_key, n in conn.execute(by_period).all():
        values = by_process.setdefault(process_key, [0] * len(spans))
        for i, (span_kind, terms) in enumerate(spans_terms):
            if span_kind == kind:
                values[i] += sum(sign * int(n) for sign, a, b in terms if a <= period <= b)
    return by_process, {org_id: [int(v or 0) for v in values] for org_id, *values in conn.execute(by_org).all()}


def _frozen(kind_terms) -> tuple:
    return tuple((kind, tuple(terms)) for kind, terms in kind_terms)


def _sums_statements(spans_terms, org_terms, org_paths, due=None):
    def picks(terms_of):
        ranges = sorted({(kind, a, b) for kind, terms in terms_of for _, a, b in terms})  # spans share ranges
        def wanted(table):
            return or_(*[and_(table.kind == kind, _in(table.period, a, b)) for kind, a, b in ranges])
        return wanted

    rows = _rows(picks(spans_terms), org_paths)
    by_period = (select(rows.c.kind, rows.c.period, rows.c.process_key, func.sum(rows.c.n))
                 .group_by(rows.c.kind, rows.c.period, rows.c.process_key))

    before, between = due or ((), ())

    def wanted_by_org(table):
        return or_(table.kind == RUNNING, picks(org_terms)(table),
                   *[and_(table.kind == kind, _due_term(table.period, a, b)) for _, kind, a, b in (*before, *between)])

    rows = _rows(wanted_by_org, org_paths)
    columns = [func.sum(case(*[(and_(rows.c.kind == kind, _in(rows.c.period, a, b)), rows.c.n * sign)
                               for sign, a, b in terms], else_=0)) for kind, terms in org_terms]
    columns.append(func.sum(case((rows.c.kind == RUNNING, rows.c.n), else_=0)))
    if due is not None:
        columns += [_due_summed(rows, between), _due_summed(rows, before)]
    return by_period, select(rows.c.org_id, *columns).group_by(rows.c.org_id)


def deadline_bounds(*, horizon: datetime, today: date, zone) -> list[datetime]:
    """Return the local midnights ``deadline_counts`` reads between: today's, tomorrow's and the horizon day's."""
    days = (today, today + timedelta(days=1), horizon.astimezone(zone).date())
    return [datetime.combine(d, datetime.min.time(), tzinfo=zone) for d in days]


def deadline_counts(session: Session, *, now: datetime, horizon: datetime, bounds: list[datetime],
                    org_paths: tuple[str, ...] | None = None) -> dict[int, list[int]]:
    """Return the running cases [due soon, overdue] (earliest open deadline by ``horizon``, or past ``now``) per org
    whose deadline falls today or on the horizon's day.

    The whole days between are summed from the deadline tallies (per township) with the other
    per-org figures (``sums(due_until=...)``): overdue before today, due soon from tomorrow to the
    day before the horizon's. Today's and the horizon day's deadlines depend on the moment, so they
    are read from ``board_open_cases`` itself, returned by the id of an org in the same township as
    the case's org (its own if a township or a root, else its parent's). ``bounds`` are the local
    midnights (UTC+8 midnights) of today, tomorrow and the horizon's day (``deadline_bounds``).
    """
    open_cases = _BUILT.get(("deadlines", bounds[2].date() > bounds[0].date(), org_paths),
                            lambda: _deadline_statement(bounds[2].date() > bounds[0].date(), org_paths))
    today_start, tomorrow_start, last_start = bounds
    return {org_id: [int(soon or 0), int(overdue or 0)] for org_id, soon, overdue in session.connection().execute(
        open_cases, {"now": now, "horizon": horizon, "today_start": today_start, "tomorrow_start": tomorrow_start,
                     "last_start": last_start}).all()}


def _due_terms(today: date, last: date) -> tuple[tuple, tuple]:
    """The deadline tallies' terms (sign, kind, first period, last period) of whole days: (overdue before today, due between).

    Overdue: every month before this one, and this month's days before today (its days, or the
    month less the days after, whichever is fewer rows). Due soon: the whole days after today and
    before the horizon's day ``last``. A first period of None means "every period before the last".
    """
    month = today.replace(day=1)
    before = [(1, DUE_MONTH, None, month.strftime("%Y-%m"))]  # every month before this one
    if today > month:  # and this month's days before today: its days, or the month less the days after
        end = _month_end(month)
        if (end - today).days + 1 < (today - month).days:
            before += [(1, DUE_MONTH, month.strftime("%Y-%m"), month.strftime("%Y-%m")),
                       (-1, DUE_DAY, today.isoformat(), end.isoformat())]
        else:
            before.append((1, DUE_DAY, month.isoformat(), (today - timedelta(days=1)).isoformat()))
    between = []  # the whole days after today and before the horizon's day
    if last - today > timedelta(days=1):
        between.append((1, DUE_DAY, (today + timedelta(days=1)).isoformat(), (last - timedelta(days=1)).isoformat()))
    return tuple(before), tuple(between)


def _due_term(period, first, last):
    return period < last if first is None else _in(period, first, last)


def _due_summed(rows, terms):
    if not terms:
        return literal(0)
    return func.sum(case(*[(and_(rows.c.kind == kind, _due_term(rows.c.period, a, b)), rows.c.n * sign)
                           for sign, kind, a, b in terms], else_=0))


def _deadline_statement(horizon_after_today: bool, org_paths):
    now, horizon = bindparam("now", type_=BoardOpenCase.due_at.type), bindparam("horizon", type_=BoardOpenCase.due_at.type)
    days = [and_(BoardOpenCase.due_at >= bindparam("today_start", type_=BoardOpenCase.due_at.type),
                 BoardOpenCase.due_at < bindparam("tomorrow_start", type_=BoardOpenCase.due_at.type))]
    if horizon_after_today:
        days.append(BoardOpenCase.due_at >= bindparam("last_start", type_=BoardOpenCase.due_at.type))
    where = [or_(*days), BoardOpenCase.due_at <= horizon]
    if org_paths is not None:
        where.append(BoardOpenCase.org_id.in_(orgs_under(list(org_paths))))
    # By the case org's id if it is a township (or a root), else by its parent's: the same township
    # (a case's org is one level or more inside it), in a few hundred rows instead of a row per
    # village, with one join (the parents' paths are the caller's: most are townships it holds).
    place = case((Org.kind == "township", Org.id), else_=func.coalesce(Org.parent_id, Org.id))
    open_cases = (select(place, func.sum(case((BoardOpenCase.due_at > now, 1), else_=0)),
                         func.sum(case((BoardOpenCase.due_at <= now, 1), else_=0)))
                  .join(Org, Org.id == BoardOpenCase.org_id)
                  .where(*where).group_by(place))
    return open_cases


__all__ = ["BoardTally", "BoardTallyDelta", "BoardOpenCase", "Span", "OFFSET", "STARTED", "CLOSED", "RUNNING",
           "DUE_MONTH", "DUE_DAY",
           "buckets", "built", "compact", "create_triggers", "deadline_bounds", "deadline_counts", "delta_rows", "on_buckets",
           "sums"]
