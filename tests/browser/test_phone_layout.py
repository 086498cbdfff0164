"""On a 390 px phone nothing is cut off: every tab is on screen, table rows become labelled cards (issue 13, item 8)."""
from __future__ import annotations

import pytest

from .conftest import ROOT, shoot

pytestmark = pytest.mark.skipif(not (ROOT / "processes" / "mediation.bpmn").exists(),
                                reason="the mediation process is not in processes/ yet")


def test_tabs_and_the_parties_table_fit_a_phone(new_page):
    page = new_page("li.sl", mobile=True)
    page.goto("/start/mediation")
    width = page.viewport_size["width"]
    for tab in page.locator(".mainnav a").all():
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, tab.inner_text()
    assert page.locator(".mainnav a:has-text('案件查询')").is_visible()
    table = page.locator("[data-field=parties]")
    cells = table.locator("tbody tr").first.locator("td[data-label]")
    assert cells.count() >= 5
    for cell in cells.all():
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    # Each cell says what it is, since the header row is not shown on a phone.
    label = page.evaluate("el => getComputedStyle(el, '::before').content", cells.nth(2).element_handle())
    assert label == '"身份证号"' and page.evaluate("el => getComputedStyle(el, '::before').content", cells.nth(0).element_handle()) == '"姓名或名称 *"'
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(ROOT / "docs" / "screenshots" / "mobile-start-parties.png"))
    shoot(page, "mobile-start-mediation")
