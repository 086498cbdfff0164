"""The leader's board in a browser: drawn charts, big numbers, a click through to the list with the same count.

The browser tests share one database: the history made here (the demo seed when the database
has no case yet, else a few supervision items) is deleted again afterwards, rows and all.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine.seed import seed_history
from engine.store.models import Instance

from .conftest import delete_cases_after, shoot

CHARTS = ["chart-months", "chart-types", "chart-areas", "chart-cards"]
# A canvas counts as drawn when enough of its pixels are not blank.
PAINTED = """id => {
  const canvas = document.querySelector('#' + id + ' canvas');
  if (!canvas) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""


@pytest.fixture
def history(live_services):
    with live_services.session() as s:
        before = s.scalar(select(func.coalesce(func.max(Instance.id), 0)))
        if before == 0:
            seed_history(s, cases=40, months=6, seed=12)
        else:
            from .test_ledger import _start
            s.rollback()
            for title, ago in (("看板测试：消防通道整治", 0), ("看板测试：欠薪问题化解", 40)):
                _start(live_services, title=title, lead="housing", days=5, ago_days=ago)
        s.commit()
    yield
    with live_services.session() as s:  # leave the shared database as it was
        delete_cases_after(s, before)
        s.commit()


def _total(page) -> int:
    return int(re.search(r"共\s*(\d+)\s*件", page.inner_text("main")).group(1))


def test_the_leader_lands_on_the_board_sees_drawn_charts_and_clicks_through(new_page, history):
    page = new_page("he.ld")
    assert page.url.endswith("/board")
    assert page.is_visible("nav.mainnav >> text=看板")
    for chart in CHARTS:
        page.wait_for_selector(f"#{chart} canvas")
        assert page.evaluate(PAINTED, chart) > 500, chart
    labels = page.inner_text("section.kpis")
    for label in ("在办案件", "3个工作日内到期", "已超期", "本月办结"):
        assert label in labels
    assert "county" not in page.inner_text("main")  # names, never org codes
    shoot(page, "board-desktop")

    overdue = int(page.inner_text("a.kpi[data-key=overdue] .kpi-value"))
    page.click("a.kpi[data-key=overdue]")
    page.wait_for_url(re.compile(r"/search\?.*deadline=overdue"))
    assert _total(page) == overdue
    assert page.input_value("select[name=deadline]") == "overdue"

    # A bar of the chart opens its list too: the month chart's last "新增" bar.
    page.goto("/board")
    page.wait_for_selector("#chart-months canvas")
    month_new = page.evaluate("""() => {
      const chart = echarts.getInstanceByDom(document.getElementById('chart-months'));
      const data = chart.getOption().series[0].data;
      const i = data.length - 1;
      const [x, y] = chart.convertToPixel({seriesIndex: 0}, [i, data[i] / 2]);
      return {x, y, value: data[i]};
    }""")
    if month_new["value"]:
        box = page.locator("#chart-months").bounding_box()
        page.mouse.click(box["x"] + month_new["x"] - 6, box["y"] + month_new["y"])
        page.wait_for_url(re.compile(r"/search\?from="))
        assert _total(page) == month_new["value"]


def test_a_township_row_opens_the_township_board_and_the_way_back(new_page, history):
    page = new_page("he.ld")
    row = page.locator("#by-area tbody tr").filter(has_text="城关镇")
    in_progress = int(row.locator("td.num").first.inner_text())
    row.locator("td.primary a").click()
    page.wait_for_url(re.compile(r"/board\?area=chengguan$"))
    assert page.inner_text("h1") == "看板 · 城关镇"
    assert "全部范围" in page.inner_text("[data-testid=board-trail]")
    assert int(page.inner_text("a.kpi[data-key=in_progress] .kpi-value")) == in_progress
    for chart in CHARTS:
        page.wait_for_selector(f"#{chart} canvas")
    shoot(page, "board-township-desktop")
    page.click("a.kpi[data-key=in_progress]")
    page.wait_for_url(re.compile(r"/search\?.*org=chengguan"))
    assert _total(page) == in_progress
    page.go_back()
    page.click("[data-testid=board-up]")
    page.wait_for_url(re.compile(r"/board$"))
    assert page.inner_text("h1") == "看板"


def test_the_board_on_a_phone(new_page, history):
    phone = new_page("he.ld", mobile=True)
    assert phone.url.endswith("/board")
    phone.wait_for_selector("#chart-cards canvas")
    assert phone.evaluate(PAINTED, "chart-months") > 500
    # Nothing wider than the screen: the page does not scroll sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    first = phone.locator("a.kpi").first.bounding_box()
    assert first["width"] < 200 and first["height"] >= 60   # two big numbers a row, easy to tap
    shoot(phone, "board-phone", full_page=False)
