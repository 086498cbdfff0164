"""The center's indicators (issue 12, items 2 and 4): each figure equals an independent count of its cases, per scope.

The seeded county is shared by this module (tests/board/test_indicators_cases.py has cases built
for each figure). The figures come from SQL (engine/board/indicators.py); the counts here walk every seeded case
in Python, decide visibility case by case with ``can_see`` and apply the definitions from the
module's docstring, so the two are worked out differently and must agree.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.board.indicators import (
    CASE_PROCESSES, KEYS, NOT_TAKEN_ENDS, indicators, working_hours_between,
)
from engine.context import context_of
from engine.definitions import deployment
from engine.errors import EngineError
from engine.org.orgs import actor_for
from engine.org.visibility import can_see
from engine.seed import seed_history
from engine.store.audit import EntryKind
from engine.store.models import AuditEntry, HumanTask, Instance, InstanceStatus, Org, TaskStatus

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Beijing
START, END = datetime(2026, 3, 1, tzinfo=timezone.utc), NOW + timedelta(hours=1)


def _aware(moment):
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def seeded(services):
    conn = services.engine.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False,
                info={"pingan": services.context})
    assert s.scalar(select(func.count()).select_from(Instance)) == 0, "a test left cases in the database"
    deployment.deploy(s, paths=[ROOT], actor="test")
    seed_history(s, cases=40, months=3, seed=11, now=NOW)
    try:
        yield s
    finally:
        s.close()
        trans.rollback()
        conn.close()


def _path(s, code):
    return s.scalar(select(Org.path).where(Org.code == code))


def _expected(s: Session, actor, start, end, org_path=None) -> dict[str, tuple[set, set]]:
    """(population, counted) of each figure, worked out case by case in Python."""
    cases = [c for c in s.scalars(select(Instance).order_by(Instance.id)) if can_see(s, instance=c, actor=actor)]
    orgs = dict(s.execute(select(Org.id, Org.path)).all())
    codes = dict(s.execute(select(Org.code, Org.path)).all())

    def in_org(c, unit=False):
        if org_path is None or orgs[c.org_id].startswith(org_path):
            return True
        lead = (c.data or {}).get("lead_unit")
        return unit and lead in codes and codes[lead].startswith(org_path)

    tasks = {}
    for t in s.scalars(select(HumanTask)):
        tasks.setdefault(t.instance_id, []).append(t)
    ended = lambda c: c.status == InstanceStatus.COMPLETED and start <= _aware(c.ended_at) < end  # noqa: E731
    taken = lambda c: c.end_event not in NOT_TAKEN_ENDS  # noqa: E731
    out = {}

    pop = {c.id for c in cases if in_org(c) and c.process_key in CASE_PROCESSES and ended(c) and taken(c)}
    late = {c for c in pop if any(t.due_at and t.completed_at and _aware(t.completed_at) > _aware(t.due_at)
                                  for t in tasks.get(c, []))}
    out["on_time_rate"] = (pop, pop - late)

    def received(keys):
        return {c.id for c in cases if in_org(c) and c.process_key in keys and start <= _aware(c.started_at) < end
                and c.status != InstanceStatus.CANCELLED
                and not (c.status == InstanceStatus.COMPLETED and _aware(c.ended_at) < end and not taken(c))}
    by_id = {c.id: c for c in cases}
    pop = received(CASE_PROCESSES)
    out["closure_rate"] = (pop, {i for i in pop if by_id[i].status == InstanceStatus.COMPLETED
                                 and _aware(by_id[i].ended_at) < end})
    pop = received(("grid_event",))
    out["grid_closure_rate"] = (pop, {i for i in pop if by_id[i].status == InstanceStatus.COMPLETED
                                      and by_id[i].end_event == "end_closed" and _aware(by_id[i].ended_at) < end})
    pop = {c.id for c in cases if in_org(c) and c.process_key == "mediation" and ended(c)
           and c.end_event in ("end_closed", "end_terminated")}
    out["mediation_success_rate"] = (pop, {i for i in pop if by_id[i].end_event == "end_closed"})
    pop = {c.id for c in cases if in_org(c) and c.process_key == "grid_event" and ended(c) and c.end_event == "end_closed"}
    out["grid_avg_handling_hours"] = (pop, pop)

    pop = {c.id for c in cases if in_org(c, unit=True) and c.process_key == "supervision"
           and _aware(c.started_at) < end and c.status != InstanceStatus.CANCELLED and taken(c)
           and (c.ended_at is None or _aware(c.ended_at) >= start)}
    carded = {e.instance_id for e in s.scalars(select(AuditEntry).where(AuditEntry.kind == EntryKind.TIMER))
              if e.element_id in ("overdue_yellow", "overdue_red") and start <= _aware(e.at) < end}
    out["overdue_supervision"] = (pop, pop & carded)

    reviews = {}
    for e in s.scalars(select(AuditEntry).where(AuditEntry.element_id == "review").order_by(AuditEntry.seq)):
        case = by_id.get(e.instance_id)
        if case is not None and case.process_key == "report_review" and in_org(case) and e.kind in (
                EntryKind.COMPLETED, EntryKind.RETURNED):
            reviews.setdefault(case.id, []).append(e)
    returned, sent_back = set(), 0
    for case_id, entries in reviews.items():
        for n, e in enumerate(entries):
            if not start <= _aware(e.at) < end:
                continue
            last_completed = all(f.kind != EntryKind.COMPLETED for f in entries[n + 1:])
            accepted = by_id[case_id].end_event == "end_accepted"
            if e.kind == EntryKind.RETURNED or not (last_completed and accepted):
                returned.add(case_id)
                sent_back += 1
    period_reviews = {i for i, es in reviews.items() if any(start <= _aware(e.at) < end for e in es)}
    out["report_returns"] = (period_reviews, returned)
    out["_returns"] = sent_back
    return out


@pytest.mark.parametrize("username, org", [
    ("he.ld", None),            # county leader: the whole county
    ("he.ld", "chengguan"),     # ... narrowed to one township
    ("lin.ld", None),           # 城关镇 leader: the township only
    ("lin.ld", "hexi"),         # ... asking for another township: nothing of it
    ("zhou.ga", None),          # police handler: the cases that passed through the unit
    ("zheng.dc", "hexi"),       # county inspector, one township
])
def test_each_figure_equals_an_independent_count_of_the_cases_behind_it(seeded, username, org):
    s = seeded
    actor = actor_for(s, username=username)
    org_path = _path(s, org) if org else None
    got = indicators(s, actor=actor, start=START, end=END, org_path=org_path)
    want = _expected(s, actor, START, END, org_path)
    assert list(got) == list(KEYS)
    for key in KEYS:
        figure, (population, counted) = got[key], want[key]
        assert set(figure.case_ids) == population, key
        assert set(figure.numerator_case_ids) == counted, key
        assert figure.denominator == len(population), key
        if figure.unit == "%":
            assert figure.numerator == len(counted), key
            assert figure.value == (round(100.0 * len(counted) / len(population), 1) if population else None), key
    assert got["report_returns"].numerator == want["_returns"]
    assert got["overdue_supervision"].numerator == len(want["overdue_supervision"][1])
    if username == "lin.ld" and org == "hexi":
        assert all(f.denominator == 0 and f.value is None for f in got.values())


def test_the_seeded_county_has_something_behind_every_figure(seeded):
    """The demo must give each figure cases to count, or the comparisons above prove little."""
    got = indicators(seeded, actor=actor_for(seeded, username="he.ld"), start=START, end=END)
    for key in KEYS:
        assert got[key].denominator > 0, key
    assert 0 < got["on_time_rate"].numerator <= got["on_time_rate"].denominator
    assert got["overdue_supervision"].numerator >= 1
    assert got["mediation_success_rate"].numerator >= 1


def test_a_township_sees_less_than_the_county_and_the_townships_add_up(seeded):
    s = seeded
    county = indicators(s, actor=actor_for(s, username="he.ld"), start=START, end=END)
    parts = [indicators(s, actor=actor_for(s, username="he.ld"), start=START, end=END, org_path=_path(s, code))
             for code in ("chengguan", "hexi")]
    for key in ("on_time_rate", "closure_rate", "mediation_success_rate", "grid_closure_rate"):
        assert set().union(*(set(p[key].case_ids) for p in parts)) <= set(county[key].case_ids), key
    town = indicators(s, actor=actor_for(s, username="lin.ld"), start=START, end=END)
    assert set(town["closure_rate"].case_ids) == set(parts[0]["closure_rate"].case_ids)


def test_the_grid_handling_time_is_the_mean_of_working_hours_from_report_to_closure(seeded):
    s = seeded
    figure = indicators(s, actor=actor_for(s, username="he.ld"), start=START, end=END)["grid_avg_handling_hours"]
    calendar = context_of(s).calendar(s)
    hours = [working_hours_between(calendar, _aware(c.started_at), _aware(c.ended_at))
             for c in s.scalars(select(Instance).where(Instance.id.in_(figure.case_ids)))]
    assert figure.unit == "工作时" and figure.denominator == len(hours) > 0
    assert figure.value == round(sum(hours) / len(hours), 1)
    assert figure.numerator == round(sum(hours))


def test_a_period_that_excludes_everything_counts_nothing(seeded):
    got = indicators(seeded, actor=actor_for(seeded, username="he.ld"),
                     start=datetime(2020, 1, 1, tzinfo=timezone.utc), end=datetime(2020, 2, 1, tzinfo=timezone.utc))
    assert all(f.denominator == 0 and f.value is None and f.case_ids == [] for f in got.values())


def test_working_hours_between_inverts_add_workhours(seeded):
    calendar = context_of(seeded).calendar(seeded)
    start = datetime(2026, 4, 30, 7, 0, tzinfo=timezone.utc)  # Thursday 15:00 Beijing, before the May Day holiday
    for hours in (0.5, 2, 7, 12.25, 40):
        assert working_hours_between(calendar, start, calendar.add_workhours(start, hours)) == pytest.approx(hours)
    assert working_hours_between(calendar, start, start - timedelta(hours=1)) == 0.0


def test_a_period_must_be_aware_and_end_after_it_starts(seeded):
    he = actor_for(seeded, username="he.ld")
    with pytest.raises(EngineError, match="带时区"):
        indicators(seeded, actor=he, start=datetime(2026, 3, 1), end=datetime(2026, 4, 1))
    with pytest.raises(EngineError, match="晚于"):
        indicators(seeded, actor=he, start=END, end=START)



def test_counting_only_gives_the_same_figures_without_the_ids(seeded):
    he = actor_for(seeded, username="he.ld")
    for org in (None, _path(seeded, "chengguan")):
        full = indicators(seeded, actor=he, start=START, end=END, org_path=org)
        counted = indicators(seeded, actor=he, start=START, end=END, org_path=org, with_case_ids=False)
        for key in KEYS:
            assert (counted[key].numerator, counted[key].denominator, counted[key].value) == \
                (full[key].numerator, full[key].denominator, full[key].value), key
            assert counted[key].case_ids == [] and counted[key].numerator_case_ids == []


def test_working_hours_agree_with_a_day_by_day_count(seeded):
    calendar = context_of(seeded).calendar(seeded)
    start = datetime(2026, 4, 28, 23, 15, tzinfo=timezone.utc)  # Wednesday 07:15 Beijing

    def by_hand(a, b):
        total, step = 0, timedelta(minutes=5)
        while a < b:
            local = a.astimezone(calendar.tz)
            if calendar.is_workday(local.date()) and any(p <= local.time() < q for p, q in calendar.periods):
                total += 5
            a += step
        return total / 60

    for hours in (1, 30, 100):  # across the May Day holiday and its adjusted working Saturday
        end = start + timedelta(hours=hours * 3)
        assert working_hours_between(calendar, start, end) == pytest.approx(by_hand(start, end))
