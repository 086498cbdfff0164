"""A grid event carried around its closed loop through the pages: report, accept, dispatch, handle,
verify (sent back once with 退回), handle again, verify, close."""
from __future__ import annotations

import pytest

from .conftest import ROOT, shoot
from .forms import fill, fill_all, open_task, submit

pytestmark = pytest.mark.skipif(not (ROOT / "processes" / "grid_event.bpmn").exists(),
                                reason="the grid event process is not in processes/ yet")


def test_grid_event_closed_loop(new_page):
    grid = new_page("wang.wg", mobile=True)  # grid workers report from their phones
    grid.goto("/start")
    grid.click("text=网格事件")
    fill_all(grid, {"category": "道路路面破损", "event_title": "东街12号楼前路面塌陷",
                    "description": "路面塌陷约1平方米，深约20厘米，已设临时标志。", "reporter_phone": "13700001111"})
    with grid.expect_navigation():
        grid.click("button:has-text('发起')")
    assert "此项为必填项" in grid.inner_text("[data-field=location]"), "the missing location is pointed out"
    assert grid.input_value("[name='f.event_title']") == "东街12号楼前路面塌陷"
    shoot(grid, "mobile-start-error")
    fill(grid, "location", "东街社区12号楼东侧")
    with grid.expect_navigation():
        grid.click("button:has-text('发起')")
    assert "已发起" in grid.inner_text(".flash-ok")
    assert "流程出错" not in grid.inner_text("body")

    dispatcher = new_page("li.sl")
    open_task(dispatcher, "立案审查")
    fill(dispatcher, "decision", "立案")
    assert dispatcher.is_visible("[data-field=category]") and not dispatcher.is_visible("[data-field=duplicate_of]")
    fill(dispatcher, "category", "道路路面破损")
    submit(dispatcher, opinion="情况属实，予以立案")
    open_task(dispatcher, "派遣")
    submit(dispatcher, opinion="派县住建局处置")

    handler = new_page("wu.zj")
    open_task(handler, "处置")
    fill_all(handler, {"result": "已处置完毕", "measures": "已回填夯实并铺设沥青。"})
    submit(handler, opinion="已处置")

    open_task(grid, "现场核查")
    grid.click("summary:has-text('退回')")
    grid.select_option("form[action$='/return'] select[name=to_element]", label="处置")
    grid.fill("form[action$='/return'] textarea[name=opinion]", "修补处边缘仍有积水，请重新处置")
    with grid.expect_navigation():
        grid.click("button:has-text('确认退回')")

    open_task(handler, "处置")
    assert handler.input_value("[name='f.measures']") == "已回填夯实并铺设沥青。"
    fill(handler, "measures", "已重新找坡并加设排水口，积水消除。")
    submit(handler, opinion="已返工")

    open_task(grid, "现场核查")
    fill(grid, "verified", "已解决")
    submit(grid, opinion="现场核实已解决")

    open_task(dispatcher, "结案评价")
    fill_all(dispatcher, {"satisfaction": "满意", "evaluation": "良"})
    submit(dispatcher, opinion="同意结案")
    dispatcher.click(".flash-ok a")
    assert "已办结" in dispatcher.inner_text(".case-head")
    timeline = dispatcher.inner_text(".timeline")
    assert "退回" in timeline and "修补处边缘仍有积水" in timeline
    dispatcher.wait_for_selector("#diagram svg .djs-element")
    shoot(dispatcher, "case-grid-event", full_page=False)
