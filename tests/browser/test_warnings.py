"""预警 in a browser: the county inspector finds the repeat-dispute warning of 刘长贵, sees its evidence by
business key and title with a local time, is told inline that a dismissal needs a reason, and turns the
warning into a supervision item in one step."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import delete, select

from engine import clock
from engine.board.models import EarlyWarning, WarningStatus
from engine.board.warnings import evaluate_warnings
from engine.clock import FrozenClock
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import Instance, InstanceStatus, Notification

from .conftest import shoot


def _sign_in(page, username: str) -> None:
    # Leaders and inspectors land on their board, staff on the to-do list: wait only to leave /login.
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pingan-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _dispute(services, *, party: str, other: str, days_ago: int) -> int:
    previous = clock.install(FrozenClock(clock.now() - timedelta(days=days_ago)))
    try:
        with services.session() as s:
            inst = lifecycle.start_instance(s, process_key="mediation", actor=actor_for(s, username="wang.wg"), data={
                "source": "网格员上报", "dispute_type": "邻里纠纷", "dispute_summary": f"{party}与{other}宅基地纠纷",
                "description": "双方因院墙边界争执。", "amount": 0, "people_count": 2, "violence_risk": False,
                "parties": [{"name": party, "role": "申请人"}, {"name": other, "role": "被申请人"}],
                "township": "chengguan", "village": "dongjie"})
            return inst.id
    finally:
        clock.install(previous)


def _clean_up(services, case_ids: list[int], warning_ids: list[int]) -> None:
    """The browser tests share one database: cancel the cases, close the warnings, drop their notices."""
    with services.session() as s:
        admin = actor_for(s, username="admin")
        for case_id in case_ids:
            if s.get(Instance, case_id).status == InstanceStatus.RUNNING:
                lifecycle.cancel_instance(s, instance_id=case_id, actor=admin, reason="测试结束")
        for w in s.scalars(select(EarlyWarning).where(EarlyWarning.id.in_(warning_ids))):
            if w.status in (WarningStatus.OPEN, WarningStatus.ACKNOWLEDGED):
                w.status, w.open_key, w.dismiss_reason = WarningStatus.DISMISSED, None, "测试结束"
        s.execute(delete(Notification).where(Notification.kind == "warning"))


def test_the_inspector_turns_a_warning_into_a_supervision_item(new_page, live_services):
    cases = [_dispute(live_services, party="刘长贵", other=other, days_ago=d)
             for other, d in (("张秀英", 20), ("王建国", 9), ("李桂兰", 2))]
    with live_services.session() as s:
        report = evaluate_warnings(s)
    warning_ids = report.raised
    started = []
    try:
        with live_services.session() as s:
            hot = s.scalar(select(EarlyWarning).where(EarlyWarning.id.in_(warning_ids),
                                                      EarlyWarning.subject == "刘长贵"))
            place = s.scalar(select(EarlyWarning).where(EarlyWarning.id.in_(warning_ids),
                                                        EarlyWarning.subject == "dongjie"))
            keys = {i: s.get(Instance, i).business_key for i in cases}
        assert hot is not None and place is not None

        page = new_page()
        _sign_in(page, "zheng.dc")
        page.click("nav.mainnav >> text=预警")
        page.wait_for_url(re.compile(r"/warnings"))
        card = page.locator(f"article[data-warning='{hot.id}']")
        text = card.inner_text()
        assert "当事人刘长贵近30日涉及3起矛盾纠纷" in text and "黄色预警" in text and "重复纠纷" in text
        assert "东街社区" in text and "dongjie" not in text   # its scope: the village, by name
        assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d", card.locator(".raised-at").inner_text())
        assert "+00:00" not in text
        for case_id, key in keys.items():
            assert card.locator(f"a[href='/cases/{case_id}']").inner_text().startswith(key)
        assert "刘长贵与张秀英宅基地纠纷" in text                    # the evidence's title, not only its key

        # A dismissal without a reason: refused beside the field, the dialog still open, nothing changed.
        other = page.locator(f"article[data-warning='{place.id}']")
        other.locator("summary:has-text('排除')").click()
        other.locator("button:has-text('确认排除')").click()
        other = page.locator(f"article[data-warning='{place.id}']")
        assert other.locator("p.error").inner_text().endswith("请填写排除理由")
        assert other.locator("details.op[open] textarea[name=reason]").is_visible()

        card = page.locator(f"article[data-warning='{hot.id}']")
        card.locator("summary:has-text('督办')").click()
        assert card.locator("input[name=item_title]").input_value() == "预警督办：当事人刘长贵近30日涉及3起矛盾纠纷"
        card.locator("select[name=lead_unit]").select_option(label="县司法局")
        card.locator("input[name=time_limit_workdays]").fill("5")
        shoot(page, "warnings-desktop")
        card.locator("button:has-text('立项督办')").click()
        page.wait_for_url(re.compile(r"/cases/\d+"))
        item_id = int(re.search(r"/cases/(\d+)", page.url).group(1))
        started.append(item_id)
        main = page.inner_text("main")
        assert "已立项督办" in page.inner_text("body") and "预警督办：当事人刘长贵近30日涉及3起矛盾纠纷" in main
        with live_services.session() as s:
            item = s.get(Instance, item_id)
            assert (item.process_key, item.data["source"], item.data["lead_unit"]) == ("supervision", "预警", "justice")
            assert s.get(EarlyWarning, hot.id).supervision_instance_id == item_id

        page.goto("/warnings?status=supervised")
        done = page.locator(f"article[data-warning='{hot.id}']")
        assert "已督办" in done.inner_text() and item.business_key in done.inner_text()

        phone = new_page(mobile=True)
        _sign_in(phone, "he.ld")
        phone.goto("/warnings")
        # Other browser tests share this database and may have added disputes in 东街社区: read the count it says.
        said = phone.locator(f"article[data-warning='{place.id}']").inner_text()
        found = re.search(r"东街社区近30日发生(\d+)起矛盾纠纷", said)
        assert found and int(found.group(1)) >= 3, said
        shoot(phone, "warnings-phone", full_page=False)

        # The leader's notice opens the warning itself: its cases and what was done, by whom, in names.
        phone.goto("/notifications")
        notice = phone.locator("li.kind-warning", has_text="刘长贵")
        assert notice.locator(".kind").inner_text() == "预警"
        notice.locator("button:has-text('查看')").click()
        phone.wait_for_url(re.compile(rf"/warnings/{hot.id}$"))
        history = phone.inner_text(".warning-history")
        assert "发出预警" in history and "系统" in history and "转为督办" in history
        assert "zheng.dc" not in history and "郑" in history          # the inspector, by name
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(phone, "warning-detail-phone")
    finally:
        _clean_up(live_services, cases + started, warning_ids)
