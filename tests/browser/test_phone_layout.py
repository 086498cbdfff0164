"""On a 390 px phone nothing is cut off: every tab is on screen, table rows become labelled cards (issue 13, item 8)."""
from __future__ import annotations

import pytest

from .conftest import ROOT, delete_cases_after, shoot

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


@pytest.fixture
def grid_event(live_services):
    """A grid event started for the test, deleted after it (the browser tests share one database).

    Yields its business key and its township's code and name.
    """
    from sqlalchemy import func, select

    from engine.org.orgs import actor_for
    from engine.runtime import lifecycle
    from engine.store.models import Instance

    with live_services.session() as s:
        before = s.scalar(select(func.coalesce(func.max(Instance.id), 0)))
        case = lifecycle.start_instance(s, process_key="grid_event", actor=actor_for(s, username="wang.wg"), data={
            "category": "道路路面破损", "event_title": "东街路灯不亮（手机查询）", "location": "东街8号",
            "description": "路灯不亮。"})
        org = case.org
        while org.kind != "township":
            org = org.parent
        found = case.business_key, org.code, org.name
        s.commit()
    yield found
    with live_services.session() as s:
        delete_cases_after(s, before)
        s.commit()


@pytest.mark.skipif(not (ROOT / "processes" / "grid_event.bpmn").exists(), reason="no grid event process")
def test_case_search_on_a_phone_opens_on_its_results(new_page, grid_event):
    key, township_code, township_name = grid_event
    result = lambda page: page.locator(".list tbody tr", has_text="东街路灯不亮（手机查询）")  # noqa: E731

    page = new_page("li.sl", mobile=True)
    # Before a search the form stands open, but the seven less used filters are folded.
    page.goto("/search")
    assert page.locator("input[name=key]").is_visible()
    assert not page.locator("select[name=org]").is_visible()
    assert page.locator("details[data-more-filters] summary").inner_text() == "更多条件"

    # A search made: its form is folded to one line saying how many filters are set, and the
    # result is on the first screen.
    page.goto(f"/search?process=grid_event&org={township_code}&key={key}")
    fold = page.locator("details[data-filters-fold]")
    assert fold.get_attribute("open") is None and "已设 3 项" in fold.locator("> summary").inner_text()
    assert not page.locator("input[name=key]").is_visible()
    box = result(page).bounding_box()
    assert box["y"] + box["height"] <= page.viewport_size["height"], "the result is below the first screen"
    shoot(page, "mobile-search", full_page=False)

    # Unfolded, every filter still holds what was chosen: the township by its name.
    fold.locator("> summary").click()
    assert page.locator("input[name=key]").input_value() == key
    more = page.locator("details[data-more-filters]")
    assert "已设 1 项" in more.locator("summary").inner_text()
    more.locator("summary").click()
    township = page.locator("select[name=org]")
    assert township.is_visible() and township.locator("option:checked").inner_text() == township_name
    page.click("button:has-text('查询')")
    assert result(page).count() == 1 and "已设 3 项" in page.locator("details[data-filters-fold] > summary").inner_text()

    # On a desktop nothing is folded and there is no fold line.
    desktop = new_page("li.sl")
    desktop.goto(f"/search?process=grid_event&org={township_code}&key={key}")
    assert not desktop.locator("details[data-filters-fold] > summary").is_visible()
    for field in ("input[name=key]", "select[name=org]", "input[name=from]", "input[name=closed_to]"):
        assert desktop.locator(field).is_visible(), field
    assert result(desktop).count() == 1
