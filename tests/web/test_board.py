"""看板 (issue 12, item 2) through the app: each number opens a list showing that many rows; the API gives the same figures.

Each test seeds a demo history (``seed_history``) inside its rolled-back transaction, with the
clock held at the seed's "now".
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone

import pytest

from engine import clock
from engine.board.figures import board
from engine.clock import FrozenClock
from engine.definitions import deployment
from engine.org.orgs import actor_for
from engine.seed import seed_history
from tests.scenario_player import ROOT
from tests.web.pages_helpers import post

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Beijing
PASSWORD = "pingan-demo-2026"
KPI = re.compile(r'<a class="kpi [^"]*" href="([^"]+)" data-key="(\w+)">.*?<span class="kpi-value">(\d+)</span>', re.S)
CELL = re.compile(r'<td data-label="[^"]*" class="num [^"]*"><a href="([^"]+)">(\d+)</a></td>')


@pytest.fixture
def seeded(session):
    deployment.deploy(session, paths=[ROOT], actor="test")  # the shipped processes, as `pingan init` deploys them
    seed_history(session, cases=30, months=6, seed=5, now=NOW)
    session.commit()
    previous = clock.install(FrozenClock(NOW))
    yield session
    clock.install(previous)


def _listed(client, url: str) -> int:
    page = client.get(url)
    assert page.status_code == 200, url
    text = page.get_data(as_text=True)
    found = re.search(r'<b id="ledger-total">(\d+)</b>', text) or re.search(r"共 ?<b>(\d+)</b>", text)
    assert found, url
    return int(found.group(1))


@pytest.mark.parametrize("username", ["he.ld", "lin.ld", "wu.zj"])
def test_every_number_on_the_board_opens_a_list_of_that_many_cases(seeded, client, login, username):
    login(client, username)
    page = client.get("/board")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    kpis = KPI.findall(text)
    assert [k for _, k, _ in kpis] == ["in_progress", "due_soon", "overdue", "closed_this_month"]
    cells = CELL.findall(text)
    assert cells, "the township and unit tables are missing"
    for url, *rest in [*kpis, *cells]:
        value = int(rest[-1])
        assert _listed(client, html.unescape(url)) == value, url
    expected = board(seeded, actor=actor_for(seeded, username=username), now=NOW)
    assert [int(v) for _, _, v in kpis] == [c.value for c in expected.counts]
    assert "echarts.min.js" in text and 'id="chart-months"' in text
    assert "按期办结率" in text and "调解成功率" in text and "网格事件平均处置用时" in text


def test_the_api_gives_the_figures_of_the_page_each_with_its_list(seeded, client, login):
    login(client, "he.ld")
    body = client.get("/api/v1/board").get_json()
    county = board(seeded, actor=actor_for(seeded, username="he.ld"), now=NOW)
    assert [c["value"] for c in body["counts"]] == [c.value for c in county.counts]
    assert body["counts"][2]["params"] == {"status": "running", "deadline": "overdue"}
    assert body["counts"][2]["url"].startswith("/search?")
    assert {c["key"] for c in body["cards"]} == {"none", "near", "yellow", "red"}
    for figure in [*body["cards"], body["by_type"][0], body["closed_by_month"][-2], body["trends"][0]["previous"]]:
        assert _listed(client, figure["url"]) == figure["value"], figure
    assert len(body["started_by_month"]) == 6 and body["month_start"] == "2026-06-01"
    # A township leader's board is the township's.
    client.get("/logout")
    login(client, "lin.ld")
    town = client.get("/api/v1/board").get_json()
    assert [r["code"] for r in town["by_area"]] == ["chengguan"]
    assert town["counts"][0]["value"] < body["counts"][0]["value"]


def test_leaders_and_inspectors_land_on_the_board_and_others_on_their_to_do_list(client, csrf_token, login):
    for username, home in [("he.ld", "/board"), ("zheng.dc", "/board"), ("lin.ld", "/board"), ("wang.wg", "/todo"),
                           ("zhang.dd", "/todo")]:
        signed = post(client, csrf_token, "/login", {"username": username, "password": PASSWORD})
        assert signed.status_code == 302 and signed.headers["Location"] == home, username
        assert client.get("/").headers["Location"] == home
        menu = client.get("/todo").get_data(as_text=True)
        assert ('href="/board"' in menu) == (home == "/board"), username
        post(client, csrf_token, "/logout")
    # An explicit next page still wins.
    signed = post(client, csrf_token, "/login", {"username": "he.ld", "password": PASSWORD, "next": "/search"})
    assert signed.headers["Location"] == "/search"


def test_the_board_right_alone_makes_the_board_home(session, client, login):
    from sqlalchemy import select

    from engine.org.orgs import grant_role
    from engine.store.models import User

    grant_role(session, user=session.scalar(select(User).where(User.username == "wang.wg")), role="board",
               org_code="dongjie")
    session.commit()
    login(client, "wang.wg")
    assert client.get("/").headers["Location"] == "/board"
    assert client.get("/board").status_code == 200


def test_a_figure_links_where_url_for_would(app):
    from flask import url_for

    from engine.board.figures import ListLink
    from web.api.schemas_board import PAGES, link_url

    links = [ListLink("search", {"status": "running", "deadline": "overdue", "org": "chengguan"}),
             ListLink("search", {"from": "2026-07-01", "to": "2026-07-31", "process": "grid_event"}),
             ListLink("ledger", {"status": "in_progress", "card": "red"}),
             ListLink("search", {"unit": "派出所 一/二", "closed_from": "2026-12-01"}),
             ListLink("ledger", {})]
    with app.test_request_context("/"):
        for link in links:
            assert link_url(link) == url_for(PAGES[link.page], **link.params)


def test_a_township_row_opens_its_own_board_with_a_way_back(seeded, client, login):
    login(client, "he.ld")
    county = client.get("/api/v1/board").get_json()
    row = next(r for r in county["by_area"] if r["code"] == "chengguan")
    assert county["area"] is None and county["area_level"] == "township"
    assert row["board_url"] == "/board?area=chengguan"
    town = client.get("/api/v1/board?area=chengguan").get_json()
    assert town["area"] == {"code": "chengguan", "name": "城关镇", "kind": "township", "trail": [], "up_url": "/board"}
    assert [c["value"] for c in town["counts"]] == [c["value"] for c in row["counts"]]
    assert town["counts"][0]["params"] == {"status": "running", "org": "chengguan"}
    assert town["cards"][0]["params"]["township"] == "chengguan"
    for figure in [*town["counts"], *town["cards"], town["trends"][0]["current"]]:
        assert _listed(client, figure["url"]) == figure["value"], figure
    # The page: the township's name in the title, the way back, and the same numbers.
    page = client.get(row["board_url"]).get_data(as_text=True)
    assert "看板 · 城关镇" in page
    assert re.search(r'href="/board"[^>]*data-testid="board-up"', page)
    assert [int(v) for _, _, v in KPI.findall(page)] == [c["value"] for c in town["counts"]]
    county_page = client.get("/board").get_data(as_text=True)
    assert 'href="/board?area=chengguan"' in county_page


def test_a_board_outside_the_scope_or_of_no_org_is_refused_in_chinese(seeded, client, login):
    login(client, "lin.ld")
    refused = client.get("/api/v1/board?area=hexi")
    assert refused.status_code == 403
    assert "河西乡" in refused.get_json()["message"] and "不在您的查看范围内" in refused.get_json()["message"]
    unknown = client.get("/api/v1/board?area=nowhere")
    assert unknown.status_code == 404 and "nowhere" in unknown.get_json()["message"]
    page = client.get("/board?area=hexi")
    assert page.status_code == 403 and "不在您的查看范围内" in page.get_data(as_text=True)
    # Her own township's row has nothing to open: it is her whole board.
    own = client.get("/api/v1/board").get_json()
    assert [(r["code"], r["board_url"]) for r in own["by_area"]][0] == ("chengguan", None)
