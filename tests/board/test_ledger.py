"""The supervision ledger (issue 12, item 1): scope, working-day deadlines, cards from the process's thresholds, filters, sorting.

Every item is started and approved through the engine; the clock is the frozen one of
tests/conftest.py (Monday 2 March 2026, 09:00 Beijing), so a 10-working-day item is due on
Monday 16 March at 17:30.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest

from engine.board.ledger import Card, ItemStatus, LedgerFilter, ledger, source_choices
from engine.cases.queries import CaseSearch, search_cases
from engine.definitions import deployment
from engine.runtime import lifecycle
from tests.board.conftest import THRESHOLDS, beijing
from tests.conftest import T0
from tests.factories import only_task
from tests.scenario_player import ROOT

ALL = LedgerFilter(limit=1000)


def _ids(session, actor, flt=ALL):
    items, total = ledger(session, actor=actor, flt=flt)
    assert total == len(items) or flt.limit < total
    return {i.instance_id for i in items}


@pytest.fixture
def four(start_item):
    """Four items: two issued to units, one awaiting approval, one started for the township of 城关镇."""
    a = start_item("消防通道整治", "housing", assisting=["police", "justice"])
    b = start_item("食品安全专项检查", "market", source="会议决定", days=5)
    c = start_item("欠薪问题化解", "hrss", source="群众反映", approve=False)
    d = start_item("城关镇积案化解", "petition", org="chengguan", source="上级交办")
    return a, b, c, d


@pytest.mark.parametrize("username, expected", [
    ("zheng.dc", {"a", "b", "c", "d"}),   # county inspector: everything in the county
    ("he.ld", {"a", "b", "c", "d"}),      # county leader
    ("wu.zj", {"a"}),                     # housing handler: the item waiting in the housing pool
    ("zhou.ga", {"a"}),                   # police handler: assisting on a
    ("tang.jg", {"b"}),
    ("han.rs", set()),                    # hrss: its item is not issued yet
    ("lin.ld", {"d"}),                    # 城关镇 leader: only the township's item
    ("xu.ld", set()),                     # 河西乡 leader: none
])
def test_the_ledger_lists_exactly_the_supervision_cases_the_viewer_may_see(session, actors, four, username, expected):
    names = dict(zip("abcd", (i.id for i in four)))
    who = actors(username)
    assert _ids(session, who) == {names[k] for k in expected}
    # Scoped exactly like case search, restricted to the supervision process.
    found, _ = search_cases(session, actor=who, search=CaseSearch(process="supervision", limit=1000))
    assert _ids(session, who) == {i.id for i in found}


def test_an_item_shows_its_units_by_name_its_steps_and_each_assisting_units_feedback(session, actors, start_item):
    inst = start_item("消防通道整治", "housing", assisting=["police", "justice"])
    assist = next(t for t in runtime_open(session, inst.id) if t.element_id == "assist" and t.candidate_org.code == "police")
    lifecycle.complete_task(session, task_id=assist.id, data={"assist_result": "已劝离占道车辆"}, actor=actors("zhou.ga"))
    [item], _ = ledger(session, actor=actors("zheng.dc"), flt=ALL)
    assert (item.title, item.source, item.lead_unit, item.lead_unit_name) == ("消防通道整治", "领导批示", "housing", "县住建局")
    assert [(f.unit_name, f.done) for f in item.assisting] == [("县公安局", True), ("县司法局", False)]
    assert item.feedback == "县公安局（已反馈）、县司法局（未反馈）"
    assert sorted(s.title for s in item.steps) == ["协办反馈", "签收"]
    assert "县住建局" in item.holder and "县司法局" in item.holder
    assert item.status == ItemStatus.IN_PROGRESS
    assert item.due_at == beijing("2026-03-16T17:30:00")
    assert item.created_at == T0


def runtime_open(session, instance_id):
    from tests.factories import open_tasks
    return open_tasks(session, instance_id)


def _card_at(session, actors, frozen, moment):
    frozen.set(moment)
    [item], _ = ledger(session, actor=actors("zheng.dc"), flt=ALL)
    return item.days_left, item.card


def test_days_left_and_the_card_move_across_each_threshold_of_supervision_yaml(session, actors, frozen, start_item):
    start_item("消防通道整治", "housing")   # due Monday 16 March, 17:30
    warn, red = THRESHOLDS["warn_before_workdays"], THRESHOLDS["red_card_after_workdays"]
    due = beijing("2026-03-16T17:30:00")
    # Working days in March 2026: 2-6, 9-13, 16-20, 23-27 (no holiday).
    workday = [beijing(f"2026-03-{d:02d}T09:00:00") for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16)]
    assert _card_at(session, actors, frozen, T0) == (10, Card.NONE)
    # The light comes on when fewer than `warn` working days are left after today.
    assert _card_at(session, actors, frozen, workday[-1 - warn]) == (warn, Card.NONE)
    assert _card_at(session, actors, frozen, workday[-warn]) == (warn - 1, Card.NEAR)
    assert _card_at(session, actors, frozen, due - timedelta(minutes=1)) == (0, Card.NEAR)
    # Past the deadline: a yellow card, days overdue counted in working days.
    assert _card_at(session, actors, frozen, due + timedelta(minutes=1)) == (0, Card.YELLOW)
    assert _card_at(session, actors, frozen, beijing("2026-03-17T09:00:00")) == (-1, Card.YELLOW)
    # The weekend is not counted: Saturday 21 March is still 4 working days overdue.
    assert _card_at(session, actors, frozen, beijing("2026-03-21T12:00:00")) == (-4, Card.YELLOW)
    # Red `red` working days after the deadline, at the same hour the process's own red-card timer fires.
    red_at = beijing("2026-03-23T17:30:00")
    assert red == 5
    assert _card_at(session, actors, frozen, red_at - timedelta(minutes=1)) == (-red, Card.YELLOW)
    assert _card_at(session, actors, frozen, red_at + timedelta(minutes=1)) == (-red, Card.RED)


def test_a_redeployed_threshold_changes_the_card_without_code(session, actors, frozen, start_item, tmp_path):
    # The county deploys a stricter supervision.yaml: the light 5 working days ahead, red 1 day after.
    (tmp_path / "processes").mkdir()
    shutil.copy(ROOT / "processes" / "supervision.bpmn", tmp_path / "processes")
    shutil.copytree(ROOT / "forms" / "supervision", tmp_path / "forms" / "supervision")
    text = (ROOT / "processes" / "supervision.yaml").read_text(encoding="utf-8")
    text = re.sub(r"warn_before_workdays: \d+", "warn_before_workdays: 5", text)
    text = re.sub(r"red_card_after_workdays: \d+", "red_card_after_workdays: 1", text)
    (tmp_path / "processes" / "supervision.yaml").write_text(text, encoding="utf-8")
    deployment.deploy(session, paths=[tmp_path])
    inst = start_item("消防通道整治", "housing")
    assert inst.definition.version >= 2
    assert _card_at(session, actors, frozen, beijing("2026-03-10T09:00:00")) == (4, Card.NEAR)
    assert _card_at(session, actors, frozen, beijing("2026-03-17T17:29:00")) == (-1, Card.YELLOW)
    assert _card_at(session, actors, frozen, beijing("2026-03-17T17:31:00")) == (-1, Card.RED)


def test_the_read_modules_load_neither_the_runtime_nor_flask():
    probe = ("import sys, engine.board.ledger, engine.board.notice; "
             "print('engine.runtime.lifecycle' in sys.modules, 'flask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_filters_by_unit_township_source_card_status_and_period(session, actors, frozen, four):
    a, b, c, d = (i.id for i in four)
    me = actors("zheng.dc")
    assert _ids(session, me, LedgerFilter(unit="police")) == {a}          # an assisting unit
    assert _ids(session, me, LedgerFilter(unit="market")) == {b}          # a lead unit
    assert _ids(session, me, LedgerFilter(township="chengguan")) == {d}
    assert _ids(session, me, LedgerFilter(source="会议决定")) == {b}
    assert _ids(session, me, LedgerFilter(status=ItemStatus.PENDING)) == {c}
    assert _ids(session, me, LedgerFilter(status=ItemStatus.IN_PROGRESS)) == {a, b, d}
    assert _ids(session, me, LedgerFilter(created_from=T0 + timedelta(hours=1))) == set()
    assert _ids(session, me, LedgerFilter(created_from=T0, created_to=T0 + timedelta(days=1))) == {a, b, c, d}
    frozen.set(beijing("2026-03-10T09:00:00"))  # b (5 working days) is overdue, a and d are not
    assert _ids(session, me, LedgerFilter(card=Card.YELLOW)) == {b}
    assert _ids(session, me, LedgerFilter(card=Card.NONE)) == {a, c, d}
    assert source_choices(session) == ["会议决定", "领导批示", "上级交办", "群众反映", "预警"]


def test_sort_by_any_column_both_ways_with_blanks_last(session, actors, frozen, four):
    a, b, c, d = (i.id for i in four)
    me = actors("zheng.dc")

    def order(sort, descending=False):
        items, _ = ledger(session, actor=me, flt=LedgerFilter(sort=sort, descending=descending))
        return [i.instance_id for i in items]

    assert order("due_at")[:1] == [b] and order("due_at")[-1] == c       # c has no deadline yet
    assert order("due_at", True)[-1] == c
    assert order("business_key") == sorted([a, b, c, d])
    assert order("business_key", True) == sorted([a, b, c, d], reverse=True)
    # By the unit's name (县人社局, 县住建局, 县信访局, 县市场监管局), not its code.
    assert order("lead_unit") == [c, a, d, b]
    frozen.set(beijing("2026-03-10T09:00:00"))
    assert order("card", True)[0] == b
    for column in ("title", "source", "created_at", "current_step", "days_left", "urge_count", "feedback", "status"):
        assert sorted(order(column)) == sorted([a, b, c, d]), column
    # Paging slices the sorted list.
    page, total = ledger(session, actor=me, flt=LedgerFilter(sort="business_key", limit=2, offset=2))
    assert total == 4 and [i.instance_id for i in page] == sorted([a, b, c, d])[2:]


CLOSE_STEPS = [
    ("receipt", "wu.zj", {"responsible_person": "吴承办", "contact_phone": "13900000001", "work_plan": "一周内清理"}),
    ("report", "wu.zj", {"report_type": "办结报告", "completion_report": "已全部清理"}),
    ("review", "zheng.dc", {"review_result": "通过", "review_opinion": "属实"}),
    ("publish_notice", "zheng.dc", {"result_rating": "逾期办结", "notice_scope": "督查通报", "notice_content": "超期完成"})]


@pytest.mark.parametrize("report_at, card", [("2026-03-17T09:00:00", Card.YELLOW), ("2026-03-24T09:00:00", Card.RED)])
def test_an_item_closed_late_keeps_the_card_it_earned(session, actors, frozen, start_item, report_at, card):
    inst = start_item("消防通道整治", "housing")   # due Monday 16 March, 17:30; red from 23 March, 17:30
    for element, who, data in CLOSE_STEPS:
        if element == "report":
            frozen.set(beijing(report_at))
        lifecycle.complete_task(session, task_id=only_task(session, inst.id, element).id, data=data, actor=actors(who))
    frozen.set(beijing("2026-04-30T09:00:00"))
    [item], _ = ledger(session, actor=actors("zheng.dc"), flt=ALL)
    assert (item.status, item.on_time, item.card, item.days_left) == (ItemStatus.CLOSED, False, card, None)
    assert item.finished_at == beijing(report_at)


def test_a_closed_item_says_whether_it_was_on_time(session, actors, frozen, start_item):
    inst = start_item("消防通道整治", "housing")
    steps = [("receipt", "wu.zj", {"responsible_person": "吴承办", "contact_phone": "13900000001", "work_plan": "一周内清理"}),
             ("report", "wu.zj", {"report_type": "办结报告", "completion_report": "已全部清理"}),
             ("review", "zheng.dc", {"review_result": "通过", "review_opinion": "属实"}),
             ("publish_notice", "zheng.dc", {"result_rating": "按期办结", "notice_scope": "督查通报", "notice_content": "按期完成"})]
    for element, who, data in steps:
        lifecycle.complete_task(session, task_id=only_task(session, inst.id, element).id, data=data, actor=actors(who))
    [item], _ = ledger(session, actor=actors("zheng.dc"), flt=ALL)
    assert (item.status, item.on_time, item.card, item.steps) == (ItemStatus.CLOSED, True, Card.NONE, [])
    assert item.days_left is None
