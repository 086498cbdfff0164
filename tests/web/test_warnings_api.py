"""预警 on the web (issue 12, item 3): the API and the page list the same warnings in the same scope,
and acknowledge, dismiss (a reason required, nothing changed without one) and 督办 through one engine function each."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.board.models import EarlyWarning
from engine.board.warnings import evaluate_warnings
from engine.store.models import Instance
from tests.board.conftest import library, start_item  # noqa: F401  (fixtures)
from tests.board.test_warnings import dispute, rules  # noqa: F401  (fixtures)
from tests.conftest import T0

CARD = re.compile(r'data-warning="(\d+)"')


@pytest.fixture
def hot(session, dispute):  # noqa: F811
    """The hot spot of the demo: 刘长贵 in three disputes of 城关镇, and one party in three of 河西乡."""
    cases = [dispute(d, parties=["刘长贵", f"邻居{d}"]) for d in (20, 10, 1)]
    for d in (3, 4, 5):
        dispute(d, township="hexi", parties=["陈老四", f"对方{d}"])
    evaluate_warnings(session, now=T0)
    session.commit()
    warning = session.scalar(select(EarlyWarning).where(EarlyWarning.subject == "刘长贵"))
    return warning.id, cases


def _api_ids(client, headers, query=""):
    response = client.get(f"/api/v1/warnings?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [w["id"] for w in response.get_json()["items"]]


@pytest.mark.parametrize("username", ["he.ld", "zheng.dc", "lin.ld", "xu.ld", "cao.ld"])
@pytest.mark.parametrize("query", ["status=open", "", "rule=repeat_dispute", "level=yellow", "status=dismissed"])
def test_the_page_and_the_api_list_the_same_warnings(client, login, api_headers, hot, username, query):
    login(client, username)
    page = client.get(f"/warnings?{query}")
    assert page.status_code == 200
    assert [int(i) for i in CARD.findall(page.get_data(as_text=True))] == _api_ids(client, api_headers(username), query)


def test_the_api_gives_level_rule_scope_evidence_and_local_facts(client, api_headers, hot):
    warning_id, cases = hot
    body = client.get("/api/v1/warnings?rule=repeat_dispute", headers=api_headers("lin.ld")).get_json()
    [item] = [w for w in body["items"] if w["id"] == warning_id]
    assert body["total"] == len(body["items"])
    assert (item["level"], item["rule_name"], item["org_code"], item["status"]) == ("yellow", "重复纠纷", "chengguan", "open")
    assert item["message"] == "当事人刘长贵近30日涉及3起矛盾纠纷"
    assert sorted(e["business_key"] for e in item["evidence"]) == sorted(c.business_key for c in cases)
    assert item["facts"]["disputes_within_30_days"] == 3
    assert {w["org_code"] for w in client.get("/api/v1/warnings", headers=api_headers("xu.ld")).get_json()["items"]} \
        == {"hexi"}


def test_staff_get_403_and_no_menu_line(client, login, api_headers, hot):
    assert client.get("/api/v1/warnings", headers=api_headers("li.sl")).status_code == 403
    login(client, "li.sl")
    assert client.get("/warnings").status_code == 403
    assert "预警" not in client.get("/todo").get_data(as_text=True).split('<nav class="mainnav">')[1].split("</nav>")[0]
    login(client, "he.ld")
    assert 'href="/warnings"' in client.get("/todo").get_data(as_text=True)


def test_acknowledge_then_dismiss_through_the_api(client, api_headers, hot, session):
    warning_id, _ = hot
    headers = api_headers("he.ld")
    response = client.post(f"/api/v1/warnings/{warning_id}/acknowledge", headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "acknowledged"
    assert client.post(f"/api/v1/warnings/{warning_id}/acknowledge", headers=headers).status_code == 409
    response = client.post(f"/api/v1/warnings/{warning_id}/dismiss", json={"reason": "已核实，系重复登记"}, headers=headers)
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["dismiss_reason"]) == ("dismissed", "已核实，系重复登记")
    # Out of scope is not found, not forbidden: nothing is said about warnings one may not see.
    assert client.post(f"/api/v1/warnings/{warning_id}/acknowledge", headers=api_headers("xu.ld")).status_code == 404


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_dismiss_without_a_reason_is_422_and_nothing_changes(client, api_headers, hot, session, body):
    warning_id, _ = hot
    response = client.post(f"/api/v1/warnings/{warning_id}/dismiss", json=body, headers=api_headers("he.ld"))
    assert response.status_code == 422
    session.expire_all()
    warning = session.get(EarlyWarning, warning_id)
    assert (warning.status, warning.dismiss_reason, warning.closed_at) == ("open", None, None)


def test_supervise_through_the_api_starts_a_linked_prefilled_item(client, api_headers, hot, session):
    warning_id, cases = hot
    response = client.post(f"/api/v1/warnings/{warning_id}/supervise", headers=api_headers("zheng.dc"),
                           json={"lead_unit": "justice", "time_limit_workdays": 5})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["warning"]["status"] == "supervised" and body["warning"]["supervision_instance_id"] == body["instance_id"]
    session.expire_all()
    item = session.get(Instance, body["instance_id"])
    assert (item.process_key, item.business_key, item.data["source"]) == ("supervision", body["business_key"], "预警")
    assert all(c.business_key in item.data["content"] for c in cases)
    again = client.post(f"/api/v1/warnings/{warning_id}/supervise", headers=api_headers("zheng.dc"),
                        json={"lead_unit": "justice", "time_limit_workdays": 5})
    assert again.status_code == 409


def test_supervise_refused_by_the_start_form_is_422_with_the_field(client, api_headers, hot, session):
    warning_id, _ = hot
    response = client.post(f"/api/v1/warnings/{warning_id}/supervise", headers=api_headers("zheng.dc"),
                           json={"lead_unit": "no-such-unit", "time_limit_workdays": 5})
    assert response.status_code == 422
    assert "lead_unit" in {d.get("field") for d in response.get_json()["details"]}
    session.expire_all()
    assert session.get(EarlyWarning, warning_id).status == "open"


def test_the_page_shows_names_keys_and_local_times_and_keeps_the_dismiss_dialog_open(
        client, login, csrf_token, hot, session):
    warning_id, cases = hot
    login(client, "lin.ld")
    html = client.get("/warnings").get_data(as_text=True)
    assert "当事人刘长贵近30日涉及3起矛盾纠纷" in html and "城关镇" in html and "黄色" in html
    assert "2026-03-02 09:00" in html            # raised at T0, in Beijing time
    for case in cases:
        assert f'href="/cases/{case.id}"' in html and case.business_key in html
    response = client.post(f"/warnings/{warning_id}/dismiss", data={"csrf_token": csrf_token(client), "reason": " "})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请填写排除理由" in html and re.search(r'<details class="op" open><summary>排除', html)
    session.expire_all()
    assert session.get(EarlyWarning, warning_id).status == "open"
    response = client.post(f"/warnings/{warning_id}/dismiss",
                           data={"csrf_token": csrf_token(client), "reason": "已化解"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/warnings")
    session.expire_all()
    assert session.get(EarlyWarning, warning_id).dismiss_reason == "已化解"


def test_supervise_on_the_page_opens_the_new_item(client, login, csrf_token, hot, session):
    warning_id, _ = hot
    login(client, "zheng.dc")
    response = client.post(f"/warnings/{warning_id}/supervise", data={
        "csrf_token": csrf_token(client), "item_title": "刘长贵重复纠纷化解", "lead_unit": "justice",
        "time_limit_workdays": "7"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    session.expire_all()
    warning = session.get(EarlyWarning, warning_id)
    assert response.headers["Location"] == f"/cases/{warning.supervision_instance_id}"
    item = session.get(Instance, warning.supervision_instance_id)
    assert (item.data["item_title"], item.data["time_limit_workdays"]) == ("刘长贵重复纠纷化解", 7)


def test_pingan_warnings_evaluate_after_init_and_the_demo_seed(tmp_path, monkeypatch):
    """As `make run` sets a county up: `pingan init` deploys the rules, the seed's hot spot raises a warning once."""
    from click.testing import CliRunner

    from engine.context import open_services
    from engine.settings import load_settings
    from tests.scenario_player import ROOT
    from web.cli import main

    for name in ("PINGAN_DATABASE_URL", "PINGAN_DATABASE_SCHEMA", "PINGAN_PROCESSES_DIR", "PINGAN_FORMS_DIR",
                 "PINGAN_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PINGAN_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PINGAN_DEVELOPMENT", "1")
    runner = CliRunner()
    init = runner.invoke(main, ["init"])
    assert init.exit_code == 0, init.output
    assert "warnings/repeat_dispute v1 已部署" in init.output
    again = runner.invoke(main, ["deploy", str(ROOT)])
    assert again.exit_code == 0 and "warnings/repeat_dispute v1 未变化" in again.output
    assert runner.invoke(main, ["demo", "seed", "--cases", "5", "--months", "2"]).exit_code == 0
    first = runner.invoke(main, ["warnings", "evaluate"])
    assert first.exit_code == 0, first.output
    assert "repeat_dispute v1" in first.output
    raised = int(re.search(r"新预警 (\d+) 条", first.output).group(1))
    svc = open_services(load_settings(env={"PINGAN_INSTANCE_PATH": str(tmp_path)}))
    try:
        with svc.session() as s:
            subjects = {w.subject for w in s.scalars(select(EarlyWarning))}
            assert raised == len(subjects) and "刘长贵" in subjects
    finally:
        svc.dispose()
    again = runner.invoke(main, ["warnings", "evaluate"])
    assert again.exit_code == 0 and "新预警 0 条" in again.output


def test_only_those_who_may_open_supervision_items_get_the_supervise_dialog(client, login, hot):
    login(client, "he.ld")                     # a leader: acknowledge and dismiss, no 督办 (that is the inspector's)
    html = client.get("/warnings").get_data(as_text=True)
    assert "确认排除" in html and "立项督办" not in html
    login(client, "zheng.dc")
    assert "立项督办" in client.get("/warnings").get_data(as_text=True)


def test_the_leaders_notice_opens_the_warning_with_its_history_in_names(client, login, csrf_token, hot, session):
    warning_id, cases = hot
    login(client, "lin.ld")
    html = client.get("/notifications").get_data(as_text=True)
    assert "预警" in html and ">warning<" not in html               # the kind in words, not its code
    assert f'name="go" value="/warnings/{warning_id}"' in html
    page = client.get(f"/warnings/{warning_id}").get_data(as_text=True)
    assert "当事人刘长贵近30日涉及3起矛盾纠纷" in page and "处理经过" in page and "发出预警" in page
    assert "系统" in page and "2026-03-02 09:00" in page
    for case in cases:
        assert f'href="/cases/{case.id}"' in page
    refused = client.post(f"/warnings/{warning_id}/dismiss?one={warning_id}",
                          data={"csrf_token": csrf_token(client), "reason": ""})
    assert refused.status_code == 422 and "处理经过" in refused.get_data(as_text=True)   # still the detail page
    done = client.post(f"/warnings/{warning_id}/dismiss?one={warning_id}",
                       data={"csrf_token": csrf_token(client), "reason": "已逐件核实"})
    assert done.status_code == 302 and done.headers["Location"] == f"/warnings/{warning_id}"
    page = client.get(f"/warnings/{warning_id}").get_data(as_text=True)
    who = re.findall(r'<span class="who">([^<]*)</span>', page)
    assert "已逐件核实" in page and who[0] == "系统" and who[-1].startswith("林")    # who did it, by name


def test_a_warning_outside_the_scope_is_404_on_its_page_and_in_the_api(client, login, api_headers, hot):
    warning_id, _ = hot
    login(client, "xu.ld")                                           # 河西乡's leader
    assert client.get(f"/warnings/{warning_id}").status_code == 404
    assert client.get(f"/api/v1/warnings/{warning_id}", headers=api_headers("xu.ld")).status_code == 404
    body = client.get(f"/api/v1/warnings/{warning_id}", headers=api_headers("he.ld")).get_json()
    assert body["warning"]["id"] == warning_id and [e["kind"] for e in body["history"]] == ["raised"]
    assert body["history"][0]["actor_name"] == "系统"
    notices = client.get("/api/v1/notifications", headers=api_headers("he.ld")).get_json()["items"]
    linked = [n["warning_id"] for n in notices if n["kind"] == "warning"]
    assert warning_id in linked and None not in linked      # each warning notice names its warning
