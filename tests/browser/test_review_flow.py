"""Carry a fixture `review` case from start to close through the pages, with an error and a return."""
from __future__ import annotations

import re

from .conftest import shoot


def test_review_case_start_to_close(new_page):
    page = new_page("zhang.dd")
    page.goto("/start")
    page.click("text=简单审批")
    page.click("button:has-text('发起')")
    page.wait_for_url(re.compile(r"/tasks/"))
    page.fill("input[name='f.subject']", "修缮城关镇文化站围墙")
    page.fill("input[name='f.amount']", "-5")
    page.click("button[value=complete]")
    assert page.locator(".field.has-error .error").first.inner_text().strip().endswith("不能小于 0")
    assert page.input_value("input[name='f.subject']") == "修缮城关镇文化站围墙"
    shoot(page, "task-form-error")
    page.fill("input[name='f.amount']", "25000")
    page.fill("textarea[name=opinion]", "情况属实，请领导审批")
    page.click("button[value=complete]")
    page.wait_for_url(re.compile(r"/todo"))
    assert "已提交" in page.inner_text(".flash-ok")

    leader = new_page("he.ld")
    leader.goto("/todo")
    shoot(leader, "todo-review")
    phone = new_page("he.ld", mobile=True)
    phone.goto("/todo")
    assert phone.is_visible("text=领导审批")
    shoot(phone, "mobile-todo", full_page=False)
    leader.click("text=领导审批")
    leader.click("summary:has-text('退回')")
    leader.fill("form[action$='/return'] textarea[name=opinion]", "金额偏高，请补充预算依据")
    leader.click("button:has-text('确认退回')")
    leader.wait_for_url(re.compile(r"/cases/"))
    assert "退回" in leader.inner_text(".timeline")

    page.goto("/todo")
    page.click("text=登记")
    assert page.input_value("input[name='f.amount']") in ("25000", "25000.0")
    page.fill("input[name='f.amount']", "18000")
    page.click("button[value=complete]")
    page.wait_for_url(re.compile(r"/todo"))

    leader.goto("/todo")
    leader.click("text=领导审批")
    leader.check("input[name='f.approved'][value=true]")
    leader.fill("textarea[name=opinion]", "同意")
    leader.click("button[value=complete]")
    leader.wait_for_url(re.compile(r"/todo"))
    leader.click(".flash-ok a")
    assert "已办结" in leader.inner_text(".case-head")
    leader.wait_for_selector("#diagram svg")
    shoot(leader, "case-review")

    leader.goto("/search?process=review")
    shoot(leader, "search-review")
