"""The inspector's supervision ledger in a browser: names not codes, local dates, a card filter, a click through to the case."""
from __future__ import annotations

import re
from datetime import timedelta

from engine import clock
from engine.clock import FrozenClock
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import HumanTask, TaskStatus

from .conftest import shoot


def _start(services, *, title, lead, assisting=(), source="领导批示", days=10, ago_days=0):
    """Start and approve an item as if it had been started ``ago_days`` calendar days ago."""
    previous = clock.install(FrozenClock(clock.now() - timedelta(days=ago_days)))
    try:
        with services.session() as s:
            inspector, leader = actor_for(s, username="zheng.dc"), actor_for(s, username="he.ld")
            inst = lifecycle.start_instance(s, process_key="supervision", actor=inspector, data={
                "item_title": title, "source": source, "content": f"{title}：请按要求办理。", "requirements": "按期办结并报送",
                "lead_unit": lead, "assisting": [{"unit": u} for u in assisting], "time_limit_workdays": days})
            approve = s.query(HumanTask).filter_by(instance_id=inst.id, element_id="approve",
                                                   status=TaskStatus.OPEN).one()
            lifecycle.complete_task(s, task_id=approve.id, data={"approved": True, "leader_opinion": "同意，按期办结"},
                                  actor=leader)
            s.commit()
            return inst.id
    finally:
        clock.install(previous)


def test_the_inspector_filters_the_ledger_by_card_and_opens_a_case(new_page, live_services):
    fire = _start(live_services, title="东街老旧小区消防通道整治", lead="housing", assisting=["police", "justice"])
    with live_services.session() as s:   # the police report back: a ✓ beside them
        assist = s.query(HumanTask).filter_by(instance_id=fire, element_id="assist", status=TaskStatus.OPEN).all()
        police = next(t for t in assist if t.candidate_org.code == "police")
        lifecycle.complete_task(s, task_id=police.id, data={"assist_result": "已联合交警劝离占道车辆"},
                              actor=actor_for(s, username="zhou.ga"))
        s.commit()
    _start(live_services, title="农贸市场食品安全专项检查", lead="market", source="会议决定", days=5, ago_days=12)
    red = _start(live_services, title="河西乡欠薪问题集中化解", lead="hrss", assisting=["justice"], source="上级交办",
                 days=5, ago_days=40)

    page = new_page("zheng.dc")
    page.click("nav.mainnav >> text=督办台账")
    page.wait_for_url(re.compile(r"/ledger"))
    table = page.inner_text("table.ledger")
    assert "县住建局" in table and "县公安局" in table and "housing" not in table and "police" not in table
    assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d", table)       # local date and time, not ISO with an offset
    assert "+00:00" not in table and "T0" not in table
    page.select_option("select[name=card]", "red")
    page.click("button:has-text('查询')")
    page.wait_for_url(re.compile(r"card=red"))
    rows = page.locator("table.ledger tbody tr")
    assert rows.count() >= 1
    assert all("红牌" in rows.nth(i).inner_text() for i in range(rows.count()))
    assert page.is_visible(f"tr[data-item='{red}']")
    page.goto("/ledger?sort=card&order=desc")
    shoot(page, "ledger-desktop")
    page.click(f"tr[data-item='{red}'] td.primary a")
    page.wait_for_url(re.compile(rf"/cases/{red}"))
    assert "河西乡欠薪问题集中化解" in page.inner_text("main")

    page.goto("/ledger")
    assert "县公安局 ✓" in page.inner_text(f"tr[data-item='{fire}']")
    page.goto(f"/ledger/{red}/print")
    assert "督办单" in page.inner_text("h1")
    shoot(page, "print-supervision-sheet")
    page.goto("/ledger/notice")
    assert "县人社局" in page.inner_text("article")
    shoot(page, "print-supervision-notice")

    phone = new_page("zheng.dc", mobile=True)
    phone.goto("/ledger?sort=card&order=desc")
    assert phone.is_visible(f"tr[data-item='{red}'] >> text=红牌")
    shoot(phone, "ledger-phone", full_page=False)
