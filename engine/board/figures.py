"""The board (看板): the counts and series leaders and inspectors read, in the viewer's scope.

Every figure is a count of the cases (or supervision items) a list would show, and carries that
list's filters (``ListLink``): the board asks the same conditions as 案件查询 (``queries``'s
``scope_clause`` resolved once as ``scope.viewer_scope``, ``deadline_condition``, ``unit_condition``) and
督办台账 (``ledger``), so the number on the board is the number of rows behind its link. Periods are
local calendar days and months on the deployment's time zone, the same days the lists' date filters take.

The counts, series and trends are read from the tallies the triggers keep (``aggregates``) where
they answer exactly, else counted on the cases themselves (``_direct``): both give the same numbers.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, func, or_, select, true
from sqlalchemy.orm import Session

from .. import clock
from ..cases.queries import Deadline, deadline_condition, soon_until
from ..context import context_of
from ..errors import NotAllowed, NotFound
from ..org.orgs import Actor
from ..store.models import HumanTask, Instance, InstanceStatus, Org, ProcessDefinition, TaskStatus
from . import aggregates
from .aggregates import CLOSED, STARTED, BoardOpenCase, Span
from .indicators import indicators_for
from .ledger import CARD_LABELS, Card, ItemStatus, LedgerFilter, ledger
from .scope import ViewerScope, viewer_scope

MONTHS = 6  # the charts' window: this month and the five before it
# The indicators (indicators.py) the board shows, this month to date against the same days of the month before.
RATES = ("on_time_rate", "closure_rate", "mediation_success_rate", "grid_closure_rate", "grid_avg_handling_hours")
COUNTS = [  # key, 中文, English
    ("in_progress", "在办案件", "In progress"),
    ("due_soon", "3个工作日内到期", "Due within 3 working days"),
    ("overdue", "已超期", "Overdue"),
    ("closed_this_month", "本月办结", "Closed this month"),
]


# Named tuples, not dataclasses: a county leader's board holds a count and a link for each of
# four figures of hundreds of townships, built on every request.
class ListLink(NamedTuple):
    """The list behind a figure: ``page`` is ``search`` (案件查询) or ``ledger`` (督办台账), ``params`` its query string."""
    page: str
    params: dict[str, str]


class Count(NamedTuple):
    key: str
    label: str
    label_en: str
    value: int
    link: ListLink


class Row(NamedTuple):
    """One area's (county or township) or member unit's counts (the COUNTS, in order).

    ``drill``: the area lies wholly in the viewer's scope, so its own board (``board(area=code)``) can be opened.
    """
    code: str
    name: str
    counts: list[Count]
    drill: bool = False


class Area(NamedTuple):
    """An org the board is narrowed to, and the areas above it inside the viewer's scope (outermost first)."""
    code: str
    name: str
    kind: str
    trail: list[tuple[str, str]]  # (code, name)


@dataclass(frozen=True)
class Trend:
    """A figure this period against the same days of the previous one."""
    key: str
    label: str
    label_en: str
    current: Count
    previous: Count

    @property
    def change(self) -> float | None:
        """Relative change (0.25 = 25 % up); None when the previous period had none."""
        if not self.previous.value:
            return None
        return (self.current.value - self.previous.value) / self.previous.value


@dataclass(frozen=True)
class Rate:
    """An indicator of this month to date (indicators.py) beside its value for the same days of the month before."""
    key: str
    label: str
    label_en: str
    value: float | None
    unit: str
    numerator: int
    denominator: int
    previous: float | None


@dataclass
class Board:
    now: datetime
    today: date
    month_start: date
    window_start: date
    counts: list[Count]
    area: Area | None                    # the org the board is narrowed to (None: the viewer's whole scope)
    area_level: str                      # what ``by_area`` holds: 'township', or 'county' when the scope spans counties
    by_area: list[Row]
    by_unit: list[Row]
    by_type: list[Count]                 # cases started in the window, by process
    area_started: list[Count]            # cases started in the window, by area
    started_by_month: list[Count]
    closed_by_month: list[Count]
    cards: list[Count]                   # supervision items in progress, by card
    trends: list[Trend]
    rates: list[Rate] = field(default_factory=list)


_MEMOS: dict[tuple, dict[str, tuple]] = {}
_MEMOS_LOCK = threading.Lock()


class _Orgs:
    """The counties, townships and member units as light rows, and which of them an org lies in (read from its path).

    The counts come keyed by the org's path, so a county of thousands of villages never has to be
    loaded to tell which township each lies in.
    """

    def __init__(self, rows):
        self.counties = [o for o in rows if o.kind == "county"]
        self.townships = [o for o in rows if o.kind == "township"]
        self.units = [o for o in rows if o.kind == "unit"]
        self._by_id = {str(o.id): o for o in rows}
        # Which township and unit a path lies in depends on these rows alone: boards that read the
        # same rows share the answers (a county has thousands of villages).
        key = tuple(tuple(o) for o in rows)  # plain tuples: cheaper to hash and compare than result rows
        with _MEMOS_LOCK:
            if key not in _MEMOS:
                if len(_MEMOS) >= 4:
                    _MEMOS.pop(next(iter(_MEMOS)))
                _MEMOS[key] = {}
            self._memo: dict[str, tuple] = _MEMOS[key]

    def _of(self, path: str | None) -> tuple:
        """The outermost township, unit and county on ``path`` (the org itself included), each None when there is none."""
        found = self._memo.get(path)
        if found is None:
            township = unit = county = None
            for i in (path or "").split("/"):
                a = self._by_id.get(i)
                if a is not None:
                    if township is None and a.kind == "township":
                        township = a
                    elif unit is None and a.kind == "unit":
                        unit = a
                    elif county is None and a.kind == "county":
                        county = a
            found = self._memo[path] = (township, unit, county)
        return found

    def paths_of(self, session: Session, ids: set[int]) -> dict[int, str]:
        """Return each org id's path: the townships' and units' from the rows at hand, the few others read."""
        out = {i: self._by_id[str(i)].path for i in ids if str(i) in self._by_id}
        missing = ids - out.keys()
        if missing:
            out.update(session.connection().execute(select(Org.id, Org.path).where(Org.id.in_(sorted(missing)))).all())
        return out

    def township_of(self, path: str | None):
        return self._of(path)[0]

    def unit_of(self, path: str | None):
        return self._of(path)[1]

    def county_of(self, path: str | None):
        return self._of(path)[2]


def board(session: Session, *, actor: Actor, now: datetime | None = None, area: str | None = None) -> Board:
    """Return the board's counts and series for what the actor may see, or for the org ``area`` (a code) within it.

    Its rows are per township, or per county when what it covers spans more than one county (a
    市级 leader's board: a county's row opens that county's board, ``area=<county>``, whose rows
    are its townships). Narrowed to an area, every figure's link carries the area as well.
    """
    now = now or clock.now()
    zone = ZoneInfo(context_of(session).settings.timezone)
    today = now.astimezone(zone).date()
    month_start = today.replace(day=1)
    window_start = _months_back(month_start, MONTHS - 1)
    tomorrow = _start(today + timedelta(days=1), zone)
    orgs = _load_orgs(session)

    months = [_months_back(month_start, MONTHS - 1 - i) for i in range(MONTHS)]
    scope = viewer = viewer_scope(session, actor=actor)
    narrowed = None
    if area is not None:
        narrowed = _area(session, scope=viewer, code=area)
        scope = ViewerScope((narrowed.path,), ())
    near = {"org": narrowed.code} if narrowed is not None else {}  # every search link keeps to the area
    trend_figures = _trend_figures(today=today, month_start=month_start, zone=zone, near=near)
    found = _tallied(session, scope=scope, orgs=orgs, now=now, zone=zone, today=today, months=months,
                     trend_figures=trend_figures)
    if found is None:
        conditions = _count_conditions(session, now=now, month_start=_start(month_start, zone), tomorrow=tomorrow)
        found = _direct(session, where=_where(scope), conditions=conditions, months=months, zone=zone,
                        tomorrow=tomorrow, trend_figures=trend_figures)
    per_org, by_process, by_org, started, closed = (found.per_org, found.by_process, found.by_org, found.started,
                                                    found.closed)
    links = _count_links(month_start, today, near)
    inside = _inside(scope)
    # The rows: per township, or per county when the townships shown lie in more than one.
    shown = [t for t in orgs.townships if inside(t.path)]
    if len({orgs.county_of(t.path) for t in shown} - {None}) > 1:
        level, area_of, candidates = "county", orgs.county_of, orgs.counties
    else:
        level, area_of, candidates = "township", orgs.township_of, orgs.townships
    totals = [0] * len(COUNTS)
    by_area: dict[int, list[int]] = {}
    for path, values in per_org.items():  # one pass: a county's villages can be thousands
        totals = [a + b for a, b in zip(totals, values)]
        place = area_of(path)
        if place is not None:
            row = by_area.get(place.id)
            by_area[place.id] = list(values) if row is None else [a + b for a, b in zip(row, values)]
    counts = [_count(key, totals[i], links[key]) for i, (key, _, _) in enumerate(COUNTS)]
    started_in: dict[int, int] = {}
    for path, n in by_org.items():
        place = area_of(path)
        if place is not None:
            started_in[place.id] = started_in.get(place.id, 0) + n
    areas = [a for a in candidates if a.id in by_area or a.id in started_in or inside(a.path)]
    whole = scope.paths or ()
    area_rows = _rows_of(areas, by_area, links, "org",
                         drill=lambda a: inside(a.path) and (a.path,) != whole)
    unit_rows = _unit_rows(session, scope=scope, orgs=orgs, now=now, horizon=soon_until(session, now),
                           month_start=_start(month_start, zone), tomorrow=tomorrow, links=links)

    # Each process's name as its latest version has it (later versions overwrite earlier ones).
    names = dict(session.connection().execute(select(ProcessDefinition.key, ProcessDefinition.name)
                                              .order_by(ProcessDefinition.key, ProcessDefinition.version)).all())
    since = {"from": window_start.isoformat(), **near}
    by_type = [Count(key, names.get(key, key), key, n, ListLink("search", {**since, "process": key}))
               for key, n in sorted(by_process.items(), key=lambda kv: (-kv[1], kv[0]))]
    make = tuple.__new__  # as in _rows_of: one figure per area
    area_started = [make(Count, (a.code, a.name, a.code, started_in.get(a.id, 0),
                                 make(ListLink, ("search", {**since, "org": a.code})))) for a in areas]
    started_by_month, closed_by_month = [], []
    for i, first in enumerate(months):
        last = (months[i + 1] if i + 1 < MONTHS else _months_back(month_start, -1)) - timedelta(days=1)
        last = min(last, today)
        label = f"{first.year}年{first.month}月"
        span = {"from": first.isoformat(), "to": last.isoformat(), **near}
        started_by_month.append(Count(first.strftime("%Y-%m"), label, first.strftime("%Y-%m"), started[i],
                                      ListLink("search", span)))
        closed_by_month.append(Count(first.strftime("%Y-%m"), label, first.strftime("%Y-%m"), closed[i], ListLink(
            "search", {"status": InstanceStatus.COMPLETED.value, "closed_from": first.isoformat(),
                       "closed_to": last.isoformat(), **near})))

    return Board(now=now, today=today, month_start=month_start, window_start=window_start, counts=counts,
                 area=None if narrowed is None else _area_ref(session, narrowed, viewer=viewer),
                 area_level=level, by_area=area_rows, by_unit=unit_rows, by_type=by_type, area_started=area_started,
                 started_by_month=started_by_month, closed_by_month=closed_by_month,
                 cards=_cards(session, actor=actor, scope=scope, now=now, area=narrowed),
                 trends=_trends(trend_figures, found.trends),
                 rates=_rates(session, actor=actor, scope=scope, today=today, month_start=month_start, zone=zone))


def _inside(scope: ViewerScope):
    """Return a test of whether an org (by path) lies wholly in the scope's subtrees."""
    if scope.everything:
        return lambda path: True
    paths = scope.paths
    return lambda path: path.startswith(paths)


def _area(session: Session, *, scope: ViewerScope, code: str):
    """Return the org ``code`` names, which must lie in the viewer's subtrees."""
    org = session.connection().execute(select(Org.id, Org.code, Org.name, Org.kind, Org.path)
                                       .where(Org.code == code)).first()
    if org is None:
        raise NotFound(f"没有编码为“{code}”的单位或地区", message_en=f"No org or area has the code {code!r}")
    if not _inside(scope)(org.path):
        raise NotAllowed(f"“{org.name}”不在您的查看范围内，无法查看其看板",
                         message_en=f"{org.name} is outside what you may see; its board cannot be opened")
    return org


def _area_ref(session: Session, org, *, viewer: ViewerScope) -> Area:
    """The area with the areas above it that the viewer may open (for a breadcrumb back up)."""
    inside = _inside(viewer)
    above = [int(i) for i in org.path.strip("/").split("/")[:-1]]
    rows = session.connection().execute(select(Org.id, Org.code, Org.name, Org.path).where(Org.id.in_(above))).all() \
        if above else []
    by_id = {r.id: r for r in rows}
    # An area holding the viewer's whole scope is the board without an area: the trail's first step.
    scope_paths = viewer.paths if viewer.paths is not None else tuple(
        session.scalars(select(Org.path).where(Org.parent_id.is_(None))))
    trail = [(by_id[i].code, by_id[i].name) for i in above
             if i in by_id and inside(by_id[i].path) and not all(p.startswith(by_id[i].path) for p in scope_paths)]
    return Area(org.code, org.name, org.kind, trail)


def _start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _months_back(month_start: date, n: int) -> date:
    """Return the first day of the month ``n`` months before (negative: after) ``month_start``'s."""
    index = month_start.year * 12 + month_start.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _load_orgs(session: Session) -> _Orgs:
    return _Orgs(session.connection().execute(select(Org.id, Org.code, Org.name, Org.kind, Org.path)
                                              .where(Org.kind.in_(("county", "township", "unit")))
                                              .order_by(Org.path)).all())


def _count_conditions(session: Session, *, now: datetime, month_start: datetime, tomorrow: datetime) -> list:
    running = Instance.status == InstanceStatus.RUNNING
    horizon = soon_until(session, now)
    return [running,
            and_(running, deadline_condition(Deadline.SOON, now=now, horizon=horizon)),
            and_(running, deadline_condition(Deadline.OVERDUE, now=now, horizon=horizon)),
            and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at >= month_start,
                 Instance.ended_at < tomorrow)]


def _count_links(month_start: date, today: date, near: dict[str, str]) -> dict[str, ListLink]:
    running = {"status": InstanceStatus.RUNNING.value, **near}
    return {"in_progress": ListLink("search", running),
            "due_soon": ListLink("search", {**running, "deadline": Deadline.SOON.value}),
            "overdue": ListLink("search", {**running, "deadline": Deadline.OVERDUE.value}),
            "closed_this_month": ListLink("search", {"status": InstanceStatus.COMPLETED.value,
                                                     "closed_from": month_start.isoformat(),
                                                     "closed_to": today.isoformat(), **near})}


def _rows_of(orgs: list, values: dict[int, list[int]], links: dict[str, ListLink], param: str,
             drill=lambda org: False) -> list[Row]:
    """One row of COUNTS per org (its ``values``, zeros if none), each linked to its list narrowed to the org.

    Hundreds of townships make thousands of counts per request: the tuples are made directly
    (``tuple.__new__``), skipping the named tuples' Python-level constructors.
    """
    zeros, make = [0] * len(COUNTS), tuple.__new__
    figures = [(key, zh, en, links[key].page, links[key].params) for key, zh, en in COUNTS]
    return [make(Row, (o.code, o.name, [make(Count, (key, zh, en, int(n), make(ListLink, (page, {**params, param: o.code}))))
                                         for (key, zh, en, page, params), n in zip(figures, values.get(o.id, zeros))],
                       drill(o)))
            for o in orgs]


_LABELS = {key: (zh, en) for key, zh, en in COUNTS}


def _count(key: str, value: int, link: ListLink) -> Count:
    zh, en = _LABELS[key]
    return Count(key, zh, en, int(value), link)


def _where(scope: ViewerScope):
    """The scope as one condition on ``Instance`` (``true()`` for every case)."""
    condition = scope.condition()
    return true() if condition is None else condition


def _sums(conditions: list) -> list:
    return [func.sum(case((c, 1), else_=0)) for c in conditions]


@dataclass
class _Found:
    """What the board counts of the cases in scope: COUNTS by org path, the window's series, the trends' values."""
    per_org: dict[str, list[int]]
    by_process: dict[str, int]
    by_org: dict[str, int]
    started: list[int]
    closed: list[int]
    trends: list[int]

    def add(self, other: _Found) -> None:
        for org_id, values in other.per_org.items():
            self.per_org[org_id] = [a + b for a, b in zip(self.per_org.get(org_id, [0] * len(COUNTS)), values)]
        for key, n in other.by_process.items():
            self.by_process[key] = self.by_process.get(key, 0) + n
        for org_id, n in other.by_org.items():
            self.by_org[org_id] = self.by_org.get(org_id, 0) + n
        self.started = [a + b for a, b in zip(self.started, other.started)]
        self.closed = [a + b for a, b in zip(self.closed, other.closed)]
        self.trends = [a + b for a, b in zip(self.trends, other.trends)]


def _direct(session: Session, *, where, conditions: list, months: list[date], zone: ZoneInfo, tomorrow: datetime,
            trend_figures: list) -> _Found:
    """Count the cases ``where`` selects on ``instances`` itself."""
    per_org = _counts_by_org(session, where=where, conditions=conditions)
    by_process, by_org, started, closed = _window_series(session, where=where, months=months, zone=zone,
                                                         tomorrow=tomorrow)
    trend_conditions = [c for _, _, _, c, _, _ in trend_figures]
    trends = session.execute(select(*_sums(trend_conditions)).where(where, or_(*trend_conditions))).one()
    return _Found(per_org, by_process, by_org, started, closed, [int(n or 0) for n in trends])


def _tallied(session: Session, *, scope: ViewerScope, orgs: _Orgs, now: datetime, zone: ZoneInfo, today: date,
             months: list[date], trend_figures: list) -> _Found | None:
    """Count from the board's tallies (aggregates.py), or return None where they cannot answer exactly.

    They answer when every period bound is a midnight of their days (UTC+8), and the viewer's
    subtrees hold whole townships (their rows are per township). The cases the viewer sees
    outside the subtrees (started by them, lent through a task or a CC: a few) are counted on
    ``instances``, by id.
    """
    horizon = soon_until(session, now)
    due_bounds = aggregates.deadline_bounds(horizon=horizon, today=today, zone=zone)
    bounds = [_start(m, zone) for m in months] + [_start(today + timedelta(days=1), zone), *due_bounds]
    bounds += [_start(first, zone) for *_, (first, _) in trend_figures]
    bounds += [_start(last + timedelta(days=1), zone) for *_, (_, last) in trend_figures]
    if not aggregates.on_buckets(bounds):
        return None
    org_paths = None
    if not scope.everything:
        org_paths = scope.paths
        if not org_paths or any(p != t.path and p.startswith(t.path) for p in org_paths for t in orgs.townships):
            return None
    ends = [m - timedelta(days=1) for m in months[1:]] + [today]
    spans = ([Span(STARTED, first, last) for first, last in zip(months, ends)]
             + [Span(CLOSED, first, last) for first, last in zip(months, ends)]
             + [Span(STARTED if key == "started" else CLOSED, first, last)
                for key, *_, (first, last) in trend_figures])
    # Per org: closed this month, started in the window (and, added by ``sums``, running now).
    org_spans = [Span(CLOSED, months[-1], today), Span(STARTED, months[0], today)]
    # Per org also the deadlines of whole days (due soon, overdue) from the deadline tallies, in the same statement.
    by_process, by_org = aggregates.sums(session, spans=spans, org_spans=org_spans, today=today, org_paths=org_paths,
                                         due_until=due_bounds[2].date())
    due = aggregates.deadline_counts(session, now=now, horizon=horizon, bounds=due_bounds, org_paths=org_paths)
    path_of = orgs.paths_of(session, set(by_org) | set(due))
    n = len(months)
    found = _Found({}, {}, {}, [0] * n, [0] * n, [0] * len(trend_figures))
    for process_key, values in by_process.items():
        if sum(values[:n]):
            found.by_process[process_key] = sum(values[:n])
        found.started = [a + b for a, b in zip(found.started, values[:n])]
        found.closed = [a + b for a, b in zip(found.closed, values[n:2 * n])]
        found.trends = [a + b for a, b in zip(found.trends, values[2 * n:])]
    for org_id, (closed_now, started, running, soon, overdue) in by_org.items():
        path = path_of[org_id]
        row = found.per_org.setdefault(path, [0] * len(COUNTS))
        row[0] += running
        row[3] += closed_now
        if started:
            found.by_org[path] = found.by_org.get(path, 0) + started
        if soon or overdue:
            due[org_id] = [a + b for a, b in zip(due.get(org_id, (0, 0)), (soon, overdue))]
    for path, (soon, overdue) in [(path_of[org_id], v) for org_id, v in due.items()]:
        township = orgs.township_of(path)  # a case's own org, often a village: counted where its township is
        row = found.per_org.setdefault(path if township is None else township.path, [0] * len(COUNTS))
        row[1] += soon
        row[2] += overdue
    found.per_org = {org_id: row for org_id, row in found.per_org.items() if any(row)}  # as the cases' own query
    if scope.outside:
        conditions = _count_conditions(session, now=now, month_start=bounds[n - 1], tomorrow=bounds[n])
        found.add(_direct(session, where=Instance.id.in_(scope.outside), conditions=conditions, months=months, zone=zone,
                          tomorrow=bounds[n], trend_figures=trend_figures))
    return found


def _counts_by_org(session: Session, *, where, conditions: list) -> dict[str, list[int]]:
    """Return the COUNTS of the cases ``where`` selects by the path of the case's org."""
    rows = session.execute(select(Org.path, *_sums(conditions)).join(Org, Org.id == Instance.org_id)
                           .where(where, or_(conditions[0], conditions[3]))
                           .group_by(Org.path))
    return {path: [int(v or 0) for v in values] for path, *values in rows}


def _unit_rows(session: Session, *, scope: ViewerScope, orgs: _Orgs, now: datetime, horizon: datetime,
               month_start: datetime, tomorrow: datetime, links: dict[str, ListLink]) -> list[Row]:
    """Return the COUNTS by member unit: the cases a step of which waits or waited in the unit's pool.

    A case's deadline figures come from its earliest open deadline (``board_open_cases``), the
    same rule as ``deadline_condition``: overdue when it is past, due soon when by ``horizon``.
    """
    if not orgs.units:
        return []
    statement = aggregates.built(("unit_rows", tuple(u.path for u in orgs.units), scope),
                                 lambda: _unit_rows_statement([u.path for u in orgs.units], scope))
    rows = session.connection().execute(statement, {"month_start": month_start, "tomorrow": tomorrow}).all()
    seen: set[tuple[int, int]] = set()
    totals: dict[int, list[int]] = {}
    for path, instance_id, is_running, is_closed, due in rows:
        unit = orgs.unit_of(path)
        if unit is None or (unit.id, instance_id) in seen:
            continue
        seen.add((unit.id, instance_id))
        due = due if is_running else None
        flags = (bool(is_running), due is not None and now < due <= horizon, due is not None and due <= now,
                 bool(is_closed))
        totals[unit.id] = [a + int(b) for a, b in zip(totals.get(unit.id, [0] * len(COUNTS)), flags)]
    return _rows_of([u for u in orgs.units if u.id in totals], totals, links, "unit")


def _unit_rows_statement(unit_paths: list[str], scope: ViewerScope):
    """The (unit org path, case id, running?, closed this month?, earliest open deadline) rows ``_unit_rows`` reads.

    Built once per set of units and scope and kept: the period's bounds are bound at execution.
    """
    involved = (select(HumanTask.instance_id, HumanTask.candidate_org_id)
                .where(HumanTask.status.in_((TaskStatus.OPEN, TaskStatus.COMPLETED)),
                       HumanTask.candidate_org_id.in_(select(Org.id).where(
                           or_(*[Org.path.like(path + "%") for path in unit_paths]))))
                .distinct().subquery())
    moment = Instance.ended_at.type
    running = Instance.status == InstanceStatus.RUNNING
    closed = and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at >= bindparam("month_start", type_=moment),
                  Instance.ended_at < bindparam("tomorrow", type_=moment))
    return (select(Org.path, Instance.id, running, closed, BoardOpenCase.due_at)
            .select_from(involved)
            .join(Org, Org.id == involved.c.candidate_org_id)
            .join(Instance, Instance.id == involved.c.instance_id)
            .outerjoin(BoardOpenCase, BoardOpenCase.instance_id == Instance.id)
            .where(_where(scope), or_(running, closed)))


def _window_series(session: Session, *, where, months: list[date], zone: ZoneInfo, tomorrow: datetime):
    """Return the cases started in the window by process and by org, and those started and closed by month."""
    bounds = [_start(m, zone) for m in months] + [tomorrow]
    started = [and_(Instance.started_at >= bounds[i], Instance.started_at < bounds[i + 1]) for i in range(len(months))]
    closed = [and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at >= bounds[i],
                   Instance.ended_at < bounds[i + 1]) for i in range(len(months))]
    query = (select(Instance.process_key, Org.path, *_sums(started), *_sums(closed))
             .join(Org, Org.id == Instance.org_id)
             .where(where, or_(and_(Instance.started_at >= bounds[0], Instance.started_at < bounds[-1]),
                                            and_(Instance.ended_at >= bounds[0], Instance.ended_at < bounds[-1])))
             .group_by(Instance.process_key, Org.path))
    by_process: dict[str, int] = {}
    by_org: dict[str, int] = {}
    started_n, closed_n = [0] * len(months), [0] * len(months)
    for process_key, org_id, *values in session.execute(query):  # org_id: the org's path
        values = [int(v or 0) for v in values]
        new = sum(values[:len(months)])
        if new:
            by_process[process_key] = by_process.get(process_key, 0) + new
            by_org[org_id] = by_org.get(org_id, 0) + new
        started_n = [a + b for a, b in zip(started_n, values[:len(months)])]
        closed_n = [a + b for a, b in zip(closed_n, values[len(months):])]
    return by_process, by_org, started_n, closed_n


def _cards(session: Session, *, actor: Actor, scope: ViewerScope, now: datetime, area=None) -> list[Count]:
    """Return the supervision items in progress by card, each linked to the ledger filtered to it (and to ``area``)."""
    near = {} if area is None else {"township": area.code}  # the ledger's filter takes any org's subtree
    items, _ = ledger(session, actor=actor, flt=LedgerFilter(status=ItemStatus.IN_PROGRESS, limit=10**9), now=now,
                      scope=scope)
    out = []
    for card in Card:
        zh, en = CARD_LABELS[card]
        out.append(Count(card.value, zh, en, sum(i.card == card for i in items), ListLink(
            "ledger", {"status": ItemStatus.IN_PROGRESS.value, "card": card.value, **near})))
    return out


def _previous_span(today: date, month_start: date) -> tuple[date, date]:
    """Return the same days of the month before (1st to the same day, cut at that month's end)."""
    first = _months_back(month_start, 1)
    return first, min(first + (today - month_start), month_start - timedelta(days=1))


def _rates(session: Session, *, actor: Actor, scope: ViewerScope, today: date, month_start: date, zone: ZoneInfo) -> list[Rate]:
    """Return the board's indicators this month to date, each beside its value for the same days of the month before."""
    previous_start, previous_end = _previous_span(today, month_start)
    # The board shows the figures, not the cases behind them: let the database count, both periods at once.
    now, before = indicators_for(
        session, actor=actor, with_case_ids=False, scope=scope, keys=RATES,
        periods=[(_start(month_start, zone), _start(today + timedelta(days=1), zone)),
                 (_start(previous_start, zone), _start(previous_end + timedelta(days=1), zone))])
    return [Rate(key, now[key].label, now[key].label_en, now[key].value, now[key].unit, now[key].numerator,
                 now[key].denominator, before[key].value) for key in RATES if key in now]


def _trend_figures(*, today: date, month_start: date, zone: ZoneInfo, near: dict[str, str]) -> list:
    """Return new and closed cases this month to date and the same days of the month before.

    Each as (key, 中文, English, condition on ``Instance``, list filters, (first day, last day)).
    """
    previous_start, previous_end = _previous_span(today, month_start)
    figures = []
    for key, zh, en in (("started", "新增案件", "New cases"), ("closed", "办结案件", "Closed cases")):
        for first, last in ((month_start, today), (previous_start, previous_end)):
            lower, upper = _start(first, zone), _start(last + timedelta(days=1), zone)
            if key == "started":
                condition = and_(Instance.started_at >= lower, Instance.started_at < upper)
                params = {"from": first.isoformat(), "to": last.isoformat(), **near}
            else:
                condition = and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at >= lower,
                                 Instance.ended_at < upper)
                params = {"status": InstanceStatus.COMPLETED.value, "closed_from": first.isoformat(),
                          "closed_to": last.isoformat(), **near}
            figures.append((key, zh, en, condition, params, (first, last)))
    return figures


def _trends(figures: list, values: list[int]) -> list[Trend]:
    """Pair each figure of this month with the month before's."""
    counts = [Count(key, zh, en, int(n or 0), ListLink("search", params))
              for (key, zh, en, _, params, _), n in zip(figures, values)]
    return [Trend(c.key, c.label, c.label_en, c, previous) for c, previous in zip(counts[::2], counts[1::2])]


__all__ = ["Area", "Board", "Count", "Rate", "Row", "Trend", "ListLink", "COUNTS", "MONTHS", "board"]
