"""The board's figures (issue 12, item 2) equal the lists they link to, per scope, on a seeded history.

One history (``seed_history``: 40 cases over 6 months up to a fixed Monday) is shared by the
module and rolled back at the end. Each count, row, series point and card is compared with the
total of 案件查询 (``search_cases``) or 督办台账 (``ledger``) asked with the figure's own link.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.board.figures import COUNTS, MONTHS, RATES, board
from engine.board.indicators import indicators
from engine.board.ledger import Card, ItemStatus, LedgerFilter, ledger
from engine.cases.queries import CaseSearch, Deadline, search_cases
from engine.clock import FrozenClock
from engine.definitions import deployment
from engine.errors import NotAllowed, NotFound
from engine.org.orgs import actor_for, create_org, create_user, get_org
from engine.seed import seed_history
from engine.store.models import HumanTask, Instance, InstanceStatus, Org, TaskStatus
from tests.scenario_player import ROOT

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Beijing
ZONE = ZoneInfo("Asia/Shanghai")
VIEWERS = ["he.ld", "zheng.dc", "lin.ld", "cao.ld", "wu.zj", "zhou.ga"]


@pytest.fixture(scope="module")
def seeded(services):
    conn = services.engine.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False,
                info={"pingan": services.context})
    assert s.scalar(select(func.count()).select_from(Instance)) == 0, "a test left cases in the database"
    deployment.deploy(s, paths=[ROOT], actor="test")
    seed_history(s, cases=40, months=MONTHS, seed=12, now=NOW)
    previous = clock.install(FrozenClock(NOW))
    try:
        yield s
    finally:
        clock.install(previous)
        s.close()
        trans.rollback()
        conn.close()


def _day(text: str | None, *, end: bool = False) -> datetime | None:
    if not text:
        return None
    day = datetime.strptime(text, "%Y-%m-%d").date() + timedelta(days=1 if end else 0)
    return datetime.combine(day, time(), tzinfo=ZONE)


def _listed(s, actor, link) -> int:
    """Ask the list a link names, with the link's filters, for its total."""
    p = link.params
    if link.page == "ledger":
        assert set(p) <= {"status", "card", "township"}, p
        _, total = ledger(s, actor=actor, flt=LedgerFilter(status=ItemStatus(p["status"]), card=Card(p["card"]),
                                                           township=p.get("township"), limit=10**6), now=NOW)
        return total
    assert link.page == "search"
    assert set(p) <= {"status", "deadline", "org", "unit", "process", "from", "to", "closed_from", "closed_to"}, p
    rows, total = search_cases(s, actor=actor, search=CaseSearch(
        status=InstanceStatus(p["status"]) if "status" in p else None,
        deadline=Deadline(p["deadline"]) if "deadline" in p else None,
        org_code=p.get("org"), unit=p.get("unit"), process=p.get("process"),
        started_from=_day(p.get("from")), started_to=_day(p.get("to"), end=True),
        closed_from=_day(p.get("closed_from")), closed_to=_day(p.get("closed_to"), end=True), limit=10**6))
    assert total == len(rows)
    return total


def _every_figure(b):
    yield from b.counts
    for row in [*b.by_area, *b.by_unit]:
        yield from row.counts
    yield from [*b.by_type, *b.area_started, *b.started_by_month, *b.closed_by_month, *b.cards]
    for trend in b.trends:
        yield from (trend.current, trend.previous)


@pytest.mark.parametrize("username", VIEWERS)
def test_every_figure_equals_the_total_of_the_list_it_links_to(seeded, username):
    s = seeded
    who = actor_for(s, username=username)
    b = board(s, actor=who, now=NOW)
    figures = list(_every_figure(b))
    assert len(figures) > 20
    for figure in figures:
        assert figure.value == _listed(s, who, figure.link), (figure.key, figure.label, figure.link)


def test_the_county_leader_sees_every_kind_of_figure_and_they_add_up(seeded):
    s = seeded
    b = board(s, actor=actor_for(s, username="he.ld"), now=NOW)
    counts = {c.key: c.value for c in b.counts}
    assert [c.key for c in b.counts] == [k for k, _, _ in COUNTS]
    running = s.scalar(select(func.count()).select_from(Instance).where(Instance.status == InstanceStatus.RUNNING))
    assert counts["in_progress"] == running > 0
    assert counts["overdue"] > 0 and counts["due_soon"] + counts["overdue"] <= running
    assert counts["closed_this_month"] > 0
    # Townships are a partition of the township cases: their sum is at most the county's.
    for i, (key, _, _) in enumerate(COUNTS):
        assert sum(r.counts[i].value for r in b.by_area) <= counts[key]
    assert {r.code for r in b.by_area} == {"chengguan", "hexi", "xinzhuang"}
    assert {r.code for r in b.by_unit} and all(r.code in {"police", "justice", "housing", "market", "petition", "hrss"}
                                               for r in b.by_unit)
    assert len(b.started_by_month) == len(b.closed_by_month) == MONTHS
    assert sum(p.value for p in b.started_by_month) == sum(c.value for c in b.by_type) > 0
    assert {c.key for c in b.by_type} >= {"mediation", "grid_event", "supervision"}
    assert sum(c.value for c in b.cards) == ledger(s, actor=actor_for(s, username="he.ld"), flt=LedgerFilter(
        status=ItemStatus.IN_PROGRESS), now=NOW)[1] > 0
    assert b.trends[0].current.link.params["from"] == "2026-06-01"
    assert b.trends[0].previous.link.params == {"from": "2026-05-01", "to": "2026-05-15"}


def test_the_overdue_count_is_the_running_cases_with_an_open_step_past_its_deadline(seeded):
    s = seeded
    expected = set(s.scalars(select(HumanTask.instance_id).join(Instance, Instance.id == HumanTask.instance_id).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.due_at <= NOW, Instance.status == InstanceStatus.RUNNING)))
    b = board(s, actor=actor_for(s, username="he.ld"), now=NOW)
    assert next(c.value for c in b.counts if c.key == "overdue") == len(expected) > 0


def test_a_township_leader_sees_only_the_township(seeded):
    s = seeded
    county = board(s, actor=actor_for(s, username="he.ld"), now=NOW)
    town = board(s, actor=actor_for(s, username="lin.ld"), now=NOW)
    assert [r.code for r in town.by_area][0] == "chengguan"
    county_row = next(r for r in county.by_area if r.code == "chengguan")
    town_row = next(r for r in town.by_area if r.code == "chengguan")
    assert [c.value for c in town_row.counts] == [c.value for c in county_row.counts]
    # Other townships appear only through cases lent or CC'd to him, never with the county's numbers.
    for row in town.by_area:
        if row.code != "chengguan":
            county_other = next(r for r in county.by_area if r.code == row.code)
            assert [c.value for c in row.counts] != [c.value for c in county_other.counts] or \
                all(c.value == 0 for c in row.counts)
    assert town.counts[0].value < county.counts[0].value


def test_a_township_opened_from_the_county_board_is_its_row_and_every_figure_keeps_to_it(seeded):
    s = seeded
    who = actor_for(s, username="he.ld")
    county = board(s, actor=who, now=NOW)
    row = next(r for r in county.by_area if r.code == "chengguan")
    assert county.area is None and county.area_level == "township" and all(r.drill for r in county.by_area)
    town = board(s, actor=who, now=NOW, area="chengguan")
    assert (town.area.code, town.area.name, town.area.trail) == ("chengguan", "城关镇", [])
    assert [c.value for c in town.counts] == [c.value for c in row.counts]
    assert [r.code for r in town.by_area] == ["chengguan"] and not town.by_area[0].drill
    assert town.counts[0].value < county.counts[0].value
    figures = list(_every_figure(town))
    for figure in figures:
        assert figure.link.params.get("org", figure.link.params.get("township")) is not None, figure
        assert figure.value == _listed(s, who, figure.link), (figure.key, figure.label, figure.link)
    # The township's own leader opens her board the same way; the township next door is refused, as is a made-up code.
    lin = actor_for(s, username="lin.ld")
    assert [c.value for c in board(s, actor=lin, now=NOW, area="chengguan").counts] == [c.value for c in town.counts]
    with pytest.raises(NotAllowed, match="河西乡.*不在您的查看范围内"):
        board(s, actor=lin, now=NOW, area="hexi")
    with pytest.raises(NotFound, match="nowhere"):
        board(s, actor=who, now=NOW, area="nowhere")


def test_a_board_over_two_counties_has_a_row_per_county_each_opening_its_own_board(seeded):
    s = seeded
    nested = s.begin_nested()
    try:
        create_org(s, code="county2", name="安宁县", kind="county")
        create_org(s, code="anning", name="安宁镇", kind="township", parent_code="county2")
        create_org(s, code="anning-v1", name="安宁村", kind="village", parent_code="anning")
        create_user(s, username="city.ld", name="市领导", org_code="county2", password="x" * 12,
                    roles=[("leader", "county"), ("leader", "county2")])
        # Three of the county's cases move to the second county's village (the triggers keep the tallies).
        moved = s.scalars(select(Instance.id).where(Instance.status == InstanceStatus.RUNNING)
                          .order_by(Instance.id).limit(3)).all()
        s.execute(Instance.__table__.update().where(Instance.id.in_(moved)).values(org_id=get_org(s, code="anning-v1").id))
        who = actor_for(s, username="city.ld")
        b = board(s, actor=who, now=NOW)
        assert b.area_level == "county"
        assert [(r.code, r.drill) for r in b.by_area] == [("county", True), ("county2", True)]
        assert [c.key for c in b.area_started] == ["county", "county2"]
        assert sum(r.counts[0].value for r in b.by_area) == b.counts[0].value
        assert b.by_area[1].counts[0].value == 3
        for figure in _every_figure(b):
            assert figure.value == _listed(s, who, figure.link), (figure.key, figure.label, figure.link)
        # A county's row opens its board: its townships, and a way back up.
        second = board(s, actor=who, now=NOW, area="county2")
        assert second.area_level == "township" and [r.code for r in second.by_area] == ["anning"]
        assert second.area.trail == []
        assert [c.value for c in second.counts] == [c.value for c in b.by_area[1].counts]
        town = board(s, actor=who, now=NOW, area="anning")
        assert town.area.trail == [("county2", "安宁县")]
        for figure in _every_figure(second):
            assert figure.value == _listed(s, who, figure.link), (figure.key, figure.label, figure.link)
        # A county leader of the first county still sees township rows; the second county's township only
        # for the moved cases he took part in, and without a board of its own to open.
        county = board(s, actor=actor_for(s, username="he.ld"), now=NOW)
        assert county.area_level == "township"
        assert all(not r.drill for r in county.by_area if r.code == "anning")
        with pytest.raises(NotAllowed):
            board(s, actor=actor_for(s, username="he.ld"), now=NOW, area="anning")
    finally:
        nested.rollback()


def test_a_member_unit_handler_sees_the_cases_of_his_unit(seeded):
    s = seeded
    who = actor_for(s, username="wu.zj")
    b = board(s, actor=who, now=NOW)
    found, total = search_cases(s, actor=who, search=CaseSearch(status=InstanceStatus.RUNNING, limit=10**6))
    assert b.counts[0].value == total
    county = board(s, actor=actor_for(s, username="he.ld"), now=NOW)
    assert b.counts[0].value < county.counts[0].value


def test_the_rates_are_the_indicators_of_this_month_beside_the_same_days_of_the_month_before(seeded):
    s = seeded
    who = actor_for(s, username="he.ld")
    b = board(s, actor=who, now=NOW)
    assert [r.key for r in b.rates] == list(RATES)
    june = indicators(s, actor=who, start=datetime(2026, 6, 1, tzinfo=ZONE), end=datetime(2026, 6, 16, tzinfo=ZONE))
    may = indicators(s, actor=who, start=datetime(2026, 5, 1, tzinfo=ZONE), end=datetime(2026, 5, 16, tzinfo=ZONE))
    for r in b.rates:
        assert (r.label, r.value, r.numerator, r.denominator) == (june[r.key].label, june[r.key].value,
                                                                  june[r.key].numerator, june[r.key].denominator)
        assert r.previous == may[r.key].value
    assert any(r.denominator for r in b.rates)
