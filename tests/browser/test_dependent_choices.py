"""Dependent choices: 所属村 offers only the villages of the 所属乡镇 chosen (issue 13, item 7)."""
from __future__ import annotations

import pytest

from .conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.skipif(not (ROOT / "processes" / "mediation.bpmn").exists(),
                                reason="the mediation process is not in processes/ yet")


def _offered(page) -> list[str]:
    return page.eval_on_selector_all("select[name='f.village'] option:not([hidden])",
                                     "os => os.map(o => o.textContent.trim()).filter(t => t !== '请选择')")


def test_villages_follow_the_township(new_page):
    page = new_page("li.sl", mobile=True)
    page.goto("/start/mediation")
    assert set(_offered(page)) >= {"东街社区", "柳树村"}, "before a township is chosen every village is offered"
    page.select_option("select[name='f.township']", label="城关镇")
    assert _offered(page) == ["东街社区"]
    page.select_option("select[name='f.village']", label="东街社区")
    page.select_option("select[name='f.township']", label="河西乡")
    assert "东街社区" not in _offered(page) and "柳树村" in _offered(page)
    assert page.input_value("select[name='f.village']") == "", "a village of the other township is not kept"
    # What the phone shows: the two pickers, the village one offering 河西乡's villages only.
    page.locator("[data-field=village]").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "mobile-start-dependent-choices.png"))
