"""The center's indicators for a period (按期办结率, 调解成功率, GB/T 30428 grid figures, ...), each traceable to its cases.

One function (``indicators``) serves the board, the API and the assessment pre-fill (the
``platform_indicators`` script helper), so a township's figure in its self-assessment is the one
its leader sees on the board. Every figure is counted in SQL over ``instances``, ``human_tasks``
and ``audit_entries`` (the case history) inside the viewer's scope (the rule of case search, ``engine/org/visibility.py``), and
carries the ids of the cases behind it: ``case_ids`` are the cases counted in the denominator (the
population), ``numerator_case_ids`` those in the numerator. Only the grid events' handling time
needs Python, for the working-hour arithmetic, and reads two timestamps per closed event.

What counts as closed, agreed or overdue is read from how the shipped processes record it: their
end events, the deadlines on their tasks (``human_tasks.due_at``, set from each step's
``dueDate``) and the card timers of the supervision process. Those names are the constants below.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, distinct, exists, func, literal, or_, select, true, union_all
from sqlalchemy.orm import Session, aliased

from ..context import context_of
from ..errors import EngineError
from ..org.orgs import Actor
from ..org.visibility import orgs_under
from ..store.audit import EntryKind
from ..store.models import AuditEntry, CaseField, HumanTask, Instance, InstanceStatus, Org, TaskStatus
from .scope import ViewerScope, viewer_scope

# Cases the public waits on, whose closing on time and closure rate the center answers for.
CASE_PROCESSES = ("mediation", "grid_event", "supervision")
# Ends that mean the matter was never taken on (不予受理, 不予立案, 不予立项): not a closed case.
NOT_TAKEN_ENDS = ("end_not_accepted", "end_rejected", "end_not_approved")
MEDIATION = "mediation"
MEDIATION_AGREED_ENDS = ("end_closed",)                      # 调解成功结案 (agreement reached and followed up)
MEDIATION_ENDED_ENDS = ("end_closed", "end_terminated")       # ... or 调解终止
GRID = "grid_event"
GRID_CLOSED_END = "end_closed"                                 # 结案
SUPERVISION = "supervision"
SUPERVISION_CARD_TIMERS = ("overdue_yellow", "overdue_red")    # 到期未办结 (黄牌), 超期达到红牌阈值 (红牌)
SUPERVISION_UNIT_FIELD = "lead_unit"                           # the case field naming the lead unit
REPORT = "report_review"
REPORT_REVIEW_TASK = "review"                                  # 县级审核: 通过 ends the case, 退回修改 goes back to 填报
REPORT_ACCEPTED_END = "end_accepted"

# Indicator keys, in the order the board and the pre-fill show them.
KEYS = ("on_time_rate", "closure_rate", "mediation_success_rate", "grid_closure_rate", "grid_avg_handling_hours",
        "overdue_supervision", "report_returns")
LABELS = {
    "on_time_rate": ("按期办结率", "On-time closure rate", "%"),
    "closure_rate": ("结案率", "Closure rate", "%"),
    "mediation_success_rate": ("调解成功率", "Mediation success rate", "%"),
    "grid_closure_rate": ("网格事件结案率", "Grid event closure rate", "%"),
    "grid_avg_handling_hours": ("网格事件平均处置用时", "Grid events: average handling time", "工作时"),
    "overdue_supervision": ("超期督办事项", "Overdue supervision items", "件"),
    "report_returns": ("报表退回修改", "Reports sent back", "件"),
}


@dataclass(frozen=True)
class Indicator:
    """One figure: a rate (%), an average (工作时) or a count (件), with the cases behind it.

    For a rate, ``value`` is numerator / denominator in percent; for the average, ``numerator``
    is the total working hours (rounded) and ``value`` the exact mean; for a count, ``value`` is
    the numerator and ``denominator`` the population it was counted in. ``value`` is None when
    the denominator is 0 (nothing to measure, which is not the same as 0 %).
    """

    key: str
    label: str
    label_en: str
    numerator: int
    denominator: int
    value: float | None
    unit: str
    case_ids: list[int] = field(default_factory=list)
    numerator_case_ids: list[int] = field(default_factory=list)


def indicators(session: Session, *, actor: Actor, start: datetime, end: datetime,
               org_path: str | None = None, with_case_ids: bool = True,
               scope: ViewerScope | None = None, keys: tuple[str, ...] = KEYS) -> dict[str, Indicator]:
    """Compute the period's indicators ``[start, end)`` over the cases ``actor`` may see, within ``org_path`` if given.

    ``with_case_ids=False`` counts in the database and leaves ``case_ids`` empty: for a board that
    shows the figures and links to their lists, at a county's scale. ``scope`` is the actor's
    scope resolved beforehand (``scope.viewer_scope``), for a caller that asks several periods;
    ``keys`` the indicators wanted (all of ``KEYS`` by default), in ``KEYS``'s order.
    """
    return indicators_for(session, actor=actor, periods=[(start, end)], org_path=org_path,
                          with_case_ids=with_case_ids, scope=scope, keys=keys)[0]


def indicators_for(session: Session, *, actor: Actor, periods: list[tuple[datetime, datetime]],
                   org_path: str | None = None, with_case_ids: bool = True,
                   scope: ViewerScope | None = None, keys: tuple[str, ...] = KEYS) -> list[dict[str, Indicator]]:
    """Compute ``indicators`` for each of ``periods``, in order.

    Counting only (``with_case_ids=False``), every figure of every period is one derived table of
    a single statement, built once per (periods, keys, scope, org) and kept (``_COUNTED``): the
    board asks the same periods all day.
    """
    for start, end in periods:
        if start.tzinfo is None or end.tzinfo is None:
            raise EngineError("统计期间的起止时间必须带时区", message_en="the period's start and end must be aware datetimes")
        if end <= start:
            raise EngineError("统计期间的结束时间必须晚于开始时间", message_en="the period must end after it starts")
    unknown = set(keys) - set(KEYS)
    if unknown:
        raise EngineError(f"没有这些指标：{'、'.join(sorted(unknown))}", message_en=f"no such indicators: {sorted(unknown)}")
    viewer = scope or viewer_scope(session, actor=actor)
    wanted = [k for k in KEYS if k in keys]
    counted = [k for k in wanted if k in _COUNTED_FIGURES]
    if with_case_ids:
        conn = session.connection()  # Core rows: no ORM bookkeeping for thousands of pairs
        tallied = [[_with_ids(conn.execute(stmt).all()) for stmt in _statements(viewer, org_path, start, end, counted)]
                   for start, end in periods]
    else:
        tallied = _counts(session, viewer, org_path, periods, counted)
    hours = (_grid_hours(session, _Scope(viewer, org_path), periods, with_case_ids)
             if "grid_avg_handling_hours" in wanted else [None] * len(periods))
    out = []
    for figures, grid_hours in zip(tallied, hours):
        found = {key: _COUNTED_FIGURES[key][1](key, t) for key, t in zip(counted, figures)}
        if grid_hours is not None:
            found["grid_avg_handling_hours"] = grid_hours
        out.append({k: found[k] for k in wanted})
    return out


def _with_ids(rows) -> tuple[list[int], list[int], int, int, int]:
    """(population ids, counted ids, population, counted rows, counted cases) of a figure's (case id, counted?) rows."""
    population, counted = sorted({i for i, _ in rows}), sorted({i for i, hit in rows if hit})
    return population, counted, len(population), sum(1 for _, hit in rows if hit), len(counted)


def _statements(viewer: ViewerScope, org_path: str | None, start: datetime, end: datetime, keys: list[str]) -> list:
    """Each counted figure's ``select(case id, counted?)`` for the period."""
    scope = _Scope(viewer, org_path)
    return [_COUNTED_FIGURES[key][0](scope, start, end) for key in keys]


_COUNTED: OrderedDict[tuple, object] = OrderedDict()
_COUNTED_LOCK = threading.Lock()


def _counts(session: Session, viewer: ViewerScope, org_path: str | None, periods: list, keys: list[str]) -> list[list]:
    """Count every figure of every period in one statement: per figure (population, counted rows, counted cases)."""
    if not keys:
        return [[] for _ in periods]
    memo = (tuple(periods), tuple(keys), viewer, org_path)
    with _COUNTED_LOCK:
        stmt = _COUNTED.get(memo)
        if stmt is not None:
            _COUNTED.move_to_end(memo)
    if stmt is None:
        parts = []
        for start, end in periods:
            for stmt in _statements(viewer, org_path, start, end, keys):
                sub = stmt.subquery()
                hit = case((sub.c[1], 1), else_=0)
                parts.append(select(literal(len(parts)).label("i"), func.count(distinct(sub.c[0])).label("p"),
                                    func.coalesce(func.sum(hit), 0).label("r"),
                                    func.count(distinct(case((sub.c[1], sub.c[0]), else_=None))).label("c")))
        # One row per figure: a UNION ALL, not a cross join of single rows, whose join order
        # PostgreSQL searches on every execution (2.6 ms of planning for ten figures, five times the run).
        stmt = union_all(*parts)
        with _COUNTED_LOCK:
            _COUNTED[memo] = stmt
            while len(_COUNTED) > 32:
                _COUNTED.popitem(last=False)
    values = [v for _, *row in sorted(session.connection().execute(stmt).all()) for v in row]
    out = []
    for i in range(len(periods)):
        figures = []
        for j in range(len(keys)):
            pop, rows, cases = values[3 * (i * len(keys) + j): 3 * (i * len(keys) + j) + 3]
            figures.append(([], [], int(pop), int(rows), int(cases)))
        out.append(figures)
    return out


class _Scope:
    """The conditions on ``Instance`` that keep a figure inside the viewer's scope and the chosen org."""

    def __init__(self, viewer: ViewerScope, org_path: str | None):
        # The rule of ``scope_clause`` resolved once (scope.py): one condition on the case's org
        # and a few ids, not the visible cases' id set built for each figure.
        self.visible, self.org_path = viewer.where(), org_path

    def cases(self, *, unit_field: str | None = None) -> list:
        conditions = list(self.visible)
        if self.org_path:
            in_org = Instance.org_id.in_(orgs_under([self.org_path]))
            if unit_field:
                # An item the county issues to a township belongs to that township, wherever it was opened.
                in_org = or_(in_org, exists().where(
                    CaseField.instance_id == Instance.id, CaseField.name == unit_field,
                    CaseField.value.in_(select(Org.code).where(Org.path.like(self.org_path + "%")))))
            conditions.append(in_org)
        return conditions


def _rate(key: str, tallied) -> Indicator:
    population, counted, d, _, n = tallied
    label, label_en, unit = LABELS[key]
    return Indicator(key=key, label=label, label_en=label_en, numerator=n, denominator=d,
                     value=round(100.0 * n / d, 1) if d else None, unit=unit,
                     case_ids=population, numerator_case_ids=counted)


def _count(key: str, tallied, *, by_rows: bool = False) -> Indicator:
    population, counted, d, rows, cases = tallied
    n = rows if by_rows else cases
    label, label_en, unit = LABELS[key]
    return Indicator(key=key, label=label, label_en=label_en, numerator=n, denominator=d,
                     value=float(n) if d else None, unit=unit, case_ids=population, numerator_case_ids=counted)


def _ended_in(start, end):
    return and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at >= start, Instance.ended_at < end)


def _taken(column=None):
    column = Instance.end_event if column is None else column
    return or_(column.is_(None), column.not_in(NOT_TAKEN_ENDS))


def _on_time(scope, start, end):
    # Late: some step with a deadline was finished (done, or cancelled by the flow) after it.
    late = exists().where(HumanTask.instance_id == Instance.id, HumanTask.due_at.is_not(None),
                          HumanTask.completed_at > HumanTask.due_at)
    return select(Instance.id, ~late).where(
        Instance.process_key.in_(CASE_PROCESSES), _ended_in(start, end), _taken(), *scope.cases())


def _closure(scope, start, end, processes, closed_end):
    closed = and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at < end, _taken())
    if closed_end:
        closed = and_(closed, Instance.end_event == closed_end)
    # Received in the period and taken on: a case refused at intake, or withdrawn, was never open.
    return select(Instance.id, closed).where(
        Instance.process_key.in_(processes), Instance.started_at >= start, Instance.started_at < end,
        Instance.status != InstanceStatus.CANCELLED,
        or_(Instance.status != InstanceStatus.COMPLETED, Instance.ended_at >= end, _taken()),
        *scope.cases())


def _mediation(scope, start, end):
    return select(Instance.id, Instance.end_event.in_(MEDIATION_AGREED_ENDS)).where(
        Instance.process_key == MEDIATION, _ended_in(start, end), Instance.end_event.in_(MEDIATION_ENDED_ENDS),
        *scope.cases())


def _grid_hours(session, scope, periods: list[tuple[datetime, datetime]], with_ids: bool) -> list[Indicator]:
    """The average working hours of the grid events closed in each period: one read of the events closed in any."""
    first, last = min(start for start, _ in periods), max(end for _, end in periods)
    rows = [(i, _aware(a), _aware(b)) for i, a, b in session.connection().execute(
        select(Instance.id, Instance.started_at, Instance.ended_at).where(
            Instance.process_key == GRID, _ended_in(first, last), Instance.end_event == GRID_CLOSED_END,
            *scope.cases())).all()]
    clock = WorkingTime(context_of(session).calendar(session))
    label, label_en, unit = LABELS["grid_avg_handling_hours"]
    out = []
    for start, end in periods:
        closed = [(i, a, b) for i, a, b in rows if start <= b < end]
        total = sum(clock.between(a, b) for _, a, b in closed)
        ids = sorted(i for i, _, _ in closed) if with_ids else []
        out.append(Indicator(key="grid_avg_handling_hours", label=label, label_en=label_en, numerator=round(total),
                             denominator=len(closed), value=round(total / len(closed), 1) if closed else None,
                             unit=unit, case_ids=ids, numerator_case_ids=ids))
    return out


def _overdue_supervision(scope, start, end):
    in_scope = scope.cases(unit_field=SUPERVISION_UNIT_FIELD)
    carded = exists().where(AuditEntry.instance_id == Instance.id, AuditEntry.kind == EntryKind.TIMER,
                            AuditEntry.element_id.in_(SUPERVISION_CARD_TIMERS),
                            AuditEntry.at >= start, AuditEntry.at < end)
    # The items under way at some time in the period: issued before it ended, not closed before it began.
    return select(Instance.id, carded).where(
        Instance.process_key == SUPERVISION, Instance.started_at < end,
        Instance.status != InstanceStatus.CANCELLED, or_(Instance.ended_at.is_(None), Instance.ended_at >= start),
        _taken(), *in_scope)


def _report_returns(scope, start, end):
    # A county review either accepts the report, which ends the case at once, or sends it back to
    # 填报: so every review but an accepted case's last one was a return. Read from the history's
    # order (seq), not from times, which a step's entries share.
    later = aliased(AuditEntry)
    later_review = exists().where(later.instance_id == AuditEntry.instance_id, later.seq > AuditEntry.seq,
                                  later.kind == EntryKind.COMPLETED, later.element_id == REPORT_REVIEW_TASK)
    accepted = and_(Instance.status == InstanceStatus.COMPLETED, Instance.end_event == REPORT_ACCEPTED_END)
    is_return = or_(AuditEntry.kind == EntryKind.RETURNED, ~accepted, later_review)
    return (select(AuditEntry.instance_id, is_return)
            .join(Instance, Instance.id == AuditEntry.instance_id)
            .where(Instance.process_key == REPORT, AuditEntry.element_id == REPORT_REVIEW_TASK,
                   AuditEntry.kind.in_((EntryKind.COMPLETED, EntryKind.RETURNED)),
                   AuditEntry.at >= start, AuditEntry.at < end, *scope.cases()))


# The figures counted in SQL: each key's (statement builder, how its tally becomes an Indicator).
_COUNTED_FIGURES = {
    "on_time_rate": (_on_time, _rate),
    "closure_rate": (lambda scope, start, end: _closure(scope, start, end, CASE_PROCESSES, None), _rate),
    "mediation_success_rate": (_mediation, _rate),
    "grid_closure_rate": (lambda scope, start, end: _closure(scope, start, end, (GRID,), GRID_CLOSED_END), _rate),
    "overdue_supervision": (_overdue_supervision, _count),
    "report_returns": (_report_returns, lambda key, tallied: _count(key, tallied, by_rows=True)),
}


def working_hours_between(calendar, a: datetime, b: datetime) -> float:
    """Return the 工作时 from ``a`` to ``b``: time inside working periods on working days (0 if ``b`` is not later)."""
    return WorkingTime(calendar).between(a, b)


class WorkingTime:
    """Working hours between moments, from a running total per day: thousands of pairs at a few µs each."""

    def __init__(self, calendar):
        self.calendar = calendar
        self.periods = [(begin.hour * 3600 + begin.minute * 60, end.hour * 3600 + end.minute * 60)
                        for begin, end in calendar.periods]
        self.full_day = sum(e - b for b, e in self.periods)
        self.origin: date | None = None
        self.before: list[int] = [0]  # working seconds from the origin up to each day after it

    def between(self, a: datetime, b: datetime) -> float:
        """Return the working hours from ``a`` to ``b`` (0 if ``b`` is not later)."""
        if b <= a:
            return 0.0
        since = self._elapsed(a)  # first: the earlier moment may move the origin back, never the later one
        return max(0, self._elapsed(b) - since) / 3600

    def _elapsed(self, moment: datetime) -> int:
        local = moment.astimezone(self.calendar.tz)
        day = local.date()
        if self.origin is None or day < self.origin:
            self.origin, self.before = day - timedelta(days=1), [0]
        index = (day - self.origin).days
        while len(self.before) <= index:
            last = self.origin + timedelta(days=len(self.before) - 1)
            self.before.append(self.before[-1] + (self.full_day if self.calendar.is_workday(last) else 0))
        if not self.calendar.is_workday(day):
            return self.before[index]
        now = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return self.before[index] + sum(max(0, min(now, e) - b) for b, e in self.periods)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
