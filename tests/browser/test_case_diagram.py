"""The case diagram is readable: zoom and full-screen controls, and its timer badge in local time (issue 13, item 6)."""
from __future__ import annotations

import re

import pytest

from .conftest import ROOT, shoot, sign_in

pytestmark = pytest.mark.skipif(not (ROOT / "processes" / "grid_event.bpmn").exists(),
                                reason="the grid event process is not in processes/ yet")


def _case_at_handle(services) -> int:
    from engine.cases.queries import todo
    from engine.org.orgs import actor_for
    from engine.runtime import lifecycle

    with services.session() as s:
        wang, li = actor_for(s, username="wang.wg"), actor_for(s, username="li.sl")
        case = lifecycle.start_instance(s, process_key="grid_event", actor=wang, data={
            "category": "道路路面破损", "event_title": "北街井盖缺失（流程图）", "location": "北街3号",
            "description": "井盖缺失，已设临时围挡。"})
        for element, data in (("accept", {"decision": "立案", "category": "道路路面破损"}), ("dispatch", {})):
            task = next(t for t in todo(s, actor=li) if t.instance_id == case.id and t.element_id == element)
            lifecycle.complete_task(s, task_id=task.id, data=data, actor=li)
        s.commit()
        return case.id


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
def test_diagram_controls_and_a_timer_badge_in_the_deployments_time(browser, live_server, live_services, mobile):
    case_id = _case_at_handle(live_services)
    options = {"locale": "zh-CN", "timezone_id": "UTC", "base_url": live_server}  # a browser set to another zone
    options |= {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
                "device_scale_factor": 2} if mobile else {"viewport": {"width": 1366, "height": 900}}
    context = browser.new_context(**options)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        sign_in(page, "li.sl")
        page.goto(f"/cases/{case_id}")
        badge = page.locator(".diagram-overlay").first
        badge.wait_for()
        # The line under the diagram gives the due time in Beijing time; the badge must say the same.
        due = re.search(r"预计 \d{4}-(\d{2})-(\d{2}) (\d{2}:\d{2})", page.inner_text(".diagram-card")).groups()
        assert badge.inner_text() == f"定时 {due[0]}-{due[1]} {due[2]}"

        zoom = lambda: page.evaluate("document.querySelector('#diagram .viewport').getAttribute('transform')")  # noqa: E731
        before = zoom()
        page.click(".diagram-tools button[title='放大']")
        assert zoom() != before
        page.click(".diagram-tools button[title='全屏']")
        box = page.locator("#diagram").bounding_box()
        viewport = page.viewport_size
        assert (round(box["width"]), round(box["height"])) == (viewport["width"], viewport["height"])
        assert page.locator("#diagram .djs-element.mark-current").count() >= 1
        shoot(page, f"case-diagram-full-{'phone' if mobile else 'desktop'}", full_page=False)
        page.keyboard.press("Escape")
        assert page.locator("#diagram").bounding_box()["height"] < viewport["height"]
    finally:
        context.close()
        _cancel(live_services, case_id)  # the browser tests share one database: leave no open task behind


def _cancel(services, case_id: int) -> None:
    from engine.org.orgs import actor_for
    from engine.runtime import lifecycle

    with services.session() as s:
        lifecycle.cancel_instance(s, instance_id=case_id, actor=actor_for(s, username="admin"), reason="测试结束")
        s.commit()
