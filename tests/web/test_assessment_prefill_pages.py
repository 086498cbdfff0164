"""Pages of the assessment pre-fill: the township sees the platform's figures and its claims; the assessor sees both."""
from __future__ import annotations

import html as html_lib
import re

from sqlalchemy import select

from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import Instance
from tests.engine.test_assessment_prefill import play_history, self_task, start_round, task_data
from tests.factories import open_tasks


def _text(response) -> str:
    """The page's text without tags, as a reader sees it."""
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def test_the_township_sees_the_platform_figures_with_their_cases_and_its_claims_prefilled(
        client, login, session, services, frozen):
    history = play_history(session, services, frozen)
    case = start_round(session, frozen)
    task = self_task(session, case.id, "chengguan")
    session.commit()
    login(client, "li.sl")
    response = client.get(f"/tasks/{task.id}")
    assert response.status_code == 200
    text = _text(response)
    assert "平台统计数据" in text and "自报数据" in text
    assert "按期办结率" in text and "33.3%（1/3）" in text
    assert "网格事件结案率" in text and "100%（2/2）" in text
    late = session.scalar(select(Instance.business_key).where(Instance.id == history["overdue_red_escalated"]))
    assert late in text  # the late grid event is named among the cases not counted as on time
    # The claimed column is an input already holding the platform's value.
    page = response.get_data(as_text=True)
    assert re.search(r'name="f\.claimed_figures\.\d+\.claimed"[^>]*value="33\.3"', page) or \
        re.search(r'value="33\.3"[^>]*name="f\.claimed_figures\.\d+\.claimed"', page)


def test_the_assessor_sees_the_claimed_value_beside_the_platform_value(client, login, session, services, frozen):
    play_history(session, services, frozen)
    case = start_round(session, frozen)
    for township, who in (("chengguan", "li.sl"), ("hexi", "qian.sl")):
        task = self_task(session, case.id, township)
        claimed = [dict(r, claimed=95) if r["indicator"] == "按期办结率" and township == "chengguan" else r
                   for r in task_data(session, task)["claimed_figures"]]
        lifecycle.complete_task(session, task_id=task.id, actor=actor_for(session, username=who),
                              data={"self_scores": [{"code": "A1", "score": 5}], "claimed_figures": claimed})
    for task in open_tasks(session, case.id):
        who = {"justice": "ma.sf", "police": "zhou.ga"}[task.candidate_org.code]
        lifecycle.complete_task(session, task_id=task.id, actor=actor_for(session, username=who),
                              data={"unit_scores": [{"township": "chengguan", "code": {"ma.sf": "B1", "zhou.ga": "C1"}[who], "score": 8}]})
    [field_check] = open_tasks(session, case.id)
    session.commit()
    login(client, "feng.kh")
    response = client.get(f"/tasks/{field_check.id}")
    assert response.status_code == 200
    text = _text(response)
    assert "自报数据与平台数据比对" in text and "乡镇自报" in text and "平台数据" in text
    # One row: the township by name, the indicator, what it claimed, what the platform counted, the verdict.
    assert re.search(r"城关镇 按期办结率 95 33\.3%（1/3） 不一致", text), text[text.find("比对"):][:600]
    assert "河西乡" in text and "平台无数据" in text


def test_the_api_gives_each_township_task_its_own_figures(client, api_headers, session, services, frozen):
    play_history(session, services, frozen)
    case = start_round(session, frozen)
    task = self_task(session, case.id, "chengguan")
    session.commit()
    body = client.get(f"/api/v1/tasks/{task.id}", headers=api_headers("li.sl")).get_json()
    assert body["data"]["assess_township"] == "chengguan"
    on_time = next(r for r in body["data"]["platform_figures"] if r["key"] == "on_time_rate")
    assert (on_time["numerator"], on_time["denominator"], on_time["shown"]) == (1, 3, "33.3%（1/3）")
    hexi = self_task(session, case.id, "hexi")
    body = client.get(f"/api/v1/tasks/{hexi.id}", headers=api_headers("qian.sl")).get_json()
    assert {r["shown"] for r in body["data"]["platform_figures"]} == {"无数据"}
