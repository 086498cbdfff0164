"""Assessment from platform data in a browser: the township's pre-filled figures, its claim, the assessor's comparison.

The browser tests share one database: the cases made here are deleted again afterwards, rows and all.
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.clock import FrozenClock
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import HumanTask, Instance, TaskStatus
from tests.engine.test_assessment_prefill import _play
from tests.scenario_player import SCENARIOS, load_scenario

from .conftest import delete_cases_after, shoot


@pytest.fixture
def round_(live_services):
    """Two 城关镇 grid events closed two days ago (one late), and an assessment round over the last week."""
    with live_services.session() as s:
        before = s.scalar(select(func.coalesce(func.max(Instance.id), 0)))
    now = clock.now()
    day = (now + timedelta(hours=8)).date() - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    reported = datetime.combine(day, time(9), timezone(timedelta(hours=8)))  # 09:00 of the last working day
    fake = FrozenClock(reported)
    previous = clock.install(fake)
    try:
        with live_services.session() as s:
            for name in ("burst_pipe_closed_on_time", "overdue_red_escalated"):
                fake.set(reported)
                _play(s, fake, load_scenario(SCENARIOS / "grid_event" / f"{name}.yaml"))
    finally:
        clock.install(previous)
    today = (now + timedelta(hours=8)).date()
    with live_services.session() as s:
        case = lifecycle.start_instance(s, process_key="assessment", actor=actor_for(s, username="feng.kh"), data={
            "period_name": "近一周平安建设考评（浏览器测试）", "period_start": str(today - timedelta(days=7)),
            "period_end": str(today), "townships": [{"township": "chengguan"}, {"township": "hexi"}]})
        case_id = case.id
    yield case_id
    with live_services.session() as s:  # leave the shared database as it was
        delete_cases_after(s, before)


def _open(services, case_id, element, org=None):
    with services.session() as s:
        return [(t.id, t.candidate_org.code if t.candidate_org else None) for t in s.query(HumanTask).filter_by(
            instance_id=case_id, element_id=element, status=TaskStatus.OPEN) if org is None or t.candidate_org.code == org]


def test_the_township_claims_against_the_platform_and_the_assessor_compares(new_page, live_services, round_):
    [(task_id, _)] = _open(live_services, round_, "self_assess", "chengguan")
    phone = new_page("li.sl", mobile=True)
    phone.goto(f"/tasks/{task_id}")
    shoot(phone, "assessment-prefill-phone")

    page = new_page("li.sl")
    page.goto(f"/tasks/{task_id}")
    figures = page.inner_text("[data-field=platform_figures]")
    assert "按期办结率" in figures and "50%（1/2）" in figures and "网格事件结案率" in figures and "100%（2/2）" in figures
    assert re.search(r"WG-\d{8}-\d{6}", figures)            # the cases behind the figure, by business key
    assert page.input_value("[name='f.claimed_figures.0.indicator']") == "按期办结率"
    assert page.input_value("[name='f.claimed_figures.0.claimed']") == "50"
    assert "工作时（2 件）" in figures and "on_time_rate" not in page.inner_text("main")
    shoot(page, "assessment-prefill-desktop")
    page.fill("[name='f.claimed_figures.0.claimed']", "100")
    page.fill("[name='f.claimed_figures.0.note']", "超时一件系抢修夜间完成，已报备")
    page.fill("[name='f.self_scores.0.code']", "A1")
    page.fill("[name='f.self_scores.0.score']", "5")
    page.click("button[name=action][value=complete]")
    page.wait_for_url(re.compile(r"/todo"))

    with live_services.session() as s:  # 河西乡 and the member units do their part
        [(hexi, _)] = _open(live_services, round_, "self_assess", "hexi")
        lifecycle.complete_task(s, task_id=hexi, actor=actor_for(s, username="qian.sl"),
                              data={"self_scores": [{"code": "A1", "score": 4}]})
    for task_id, unit in _open(live_services, round_, "unit_score"):
        with live_services.session() as s:
            lifecycle.complete_task(s, task_id=task_id, actor=actor_for(s, username={"justice": "ma.sf", "police": "zhou.ga"}[unit]),
                                  data={"unit_scores": [{"township": "chengguan", "code": {"justice": "B1", "police": "C1"}[unit], "score": 8}]})
    [(check_id, _)] = _open(live_services, round_, "field_check")
    assessor = new_page("feng.kh")
    assessor.goto(f"/tasks/{check_id}")
    table = assessor.inner_text("[data-field=figure_comparison]")
    assert "城关镇" in table and "chengguan" not in table
    row = next(line for line in table.splitlines() if "按期办结率" in line and "城关镇" in line)
    assert "100" in row and "50%（1/2）" in row and "不一致" in row
    assert "河西乡" in table and "平台无数据" in table
    assessor.locator("[data-field=figure_comparison]").scroll_into_view_if_needed()
    shoot(assessor, "assessment-compare-desktop")
    assert "False" not in assessor.inner_text("[data-field=township_scores]")    # 一票否决 in words: 是/否
    phone = new_page("feng.kh", mobile=True)
    phone.goto(f"/tasks/{check_id}")
    compare = phone.locator("[data-field=figure_comparison] table")
    compare.scroll_into_view_if_needed()
    # One card per row on a phone: the table is no wider than the screen, every cell labelled.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    box = compare.bounding_box()
    assert box["width"] <= 390
    labels = phone.eval_on_selector_all("[data-field=figure_comparison] tbody tr:first-child td",
                                        "tds => tds.map(td => getComputedStyle(td, '::before').content)")
    assert labels[:4] == ['"乡镇（街道）"', '"指标"', '"乡镇自报"', '"平台数据"']
    assert "城关镇" in phone.inner_text("[data-field=figure_comparison] tbody tr:first-child")
    shoot(phone, "assessment-compare-phone")
