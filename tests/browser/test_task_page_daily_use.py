"""What staff see on a task page every day (issue 13, items 2–5), on a desktop and a phone."""
from __future__ import annotations

import pytest

from .conftest import ROOT, sign_in
from .test_case_diagram import _cancel

pytestmark = pytest.mark.skipif(not (ROOT / "processes" / "grid_event.bpmn").exists(),
                                reason="the grid event process is not in processes/ yet")


def _reported(services, title: str) -> tuple[int, str]:
    """A grid event reported by wang.wg: its accept task is offered to 城关镇's dispatchers."""
    from engine.cases.queries import todo
    from engine.org.orgs import actor_for
    from engine.runtime import lifecycle

    with services.session() as s:
        case = lifecycle.start_instance(s, process_key="grid_event", actor=actor_for(s, username="wang.wg"), data={
            "category": "治安隐患", "event_title": title, "location": "南街5号", "description": "路灯损坏，夜间无照明。"})
        task = next(t for t in todo(s, actor=actor_for(s, username="li.sl")) if t.instance_id == case.id)
        s.commit()
        return case.id, task.id


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
def test_notice_context_names_units_and_inline_dialog_errors(browser, live_server, live_services, mobile):
    title = f"南街路灯不亮（{'手机' if mobile else '电脑'}）"
    case_id, task_id = _reported(live_services, title)
    options = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai", "base_url": live_server}
    options |= {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
                "device_scale_factor": 2} if mobile else {"viewport": {"width": 1366, "height": 900}}
    context = browser.new_context(**options)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        sign_in(page, "li.sl")
        # 5. The task offered to the township's dispatchers reached li.sl's bell.
        assert page.locator("#unread-count").is_visible()
        page.goto("/notifications")
        assert f"新任务（待签收）：立案审查（网格事件：{title}" in page.inner_text("main")

        # 2. A refused submission keeps the read-only context on screen.
        page.goto(f"/tasks/{task_id}")
        page.check("input[name='f.decision'][value='立案']")
        page.select_option("select[name='f.category']", "")
        with page.expect_navigation():
            page.click("button[value='complete']")
        assert "此项为必填项" in page.inner_text("[data-field=category]")
        assert page.inner_text("[data-field=event_title] .readonly") == title

        # 3. Names and units on the next step.
        page.check("input[name='f.decision'][value='立案']")
        page.select_option("select[name='f.category']", "治安隐患")
        with page.expect_navigation():
            page.click("button[value='complete']")
        page.goto(f"/cases/{case_id}")
        page.click("a:text-is('派遣')")
        page.wait_for_url("**/tasks/**")
        assert page.inner_text("[data-field=suggested_unit] .readonly") == "县公安局"
        assert page.inner_text("[data-field=limit_amount] .readonly") == "8 工作时"

        # 4. A send-back without a reason: the dialog stays open with the message beside its fields.
        page.click("summary:has-text('退回')")
        with page.expect_navigation():
            page.click("button:has-text('确认退回')")
        dialog = page.locator("details.op[open]")
        assert dialog.locator("summary").inner_text() == "退回"
        assert dialog.locator("p.error").inner_text() == "退回必须填写意见"
        assert page.locator("[data-field=suggested_unit]").is_visible()
    finally:
        context.close()
        _cancel(live_services, case_id)
