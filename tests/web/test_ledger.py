"""The supervision ledger on the web (issue 12, item 1): the page and the API give the same rows, the
export has exactly the ledger's columns, bulk 催办 reports each item, the printed 督办单 and 督办通报."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from engine.store.audit import EntryKind
from engine.store.models import AuditEntry
from tests.board.conftest import beijing, library, start_item  # noqa: F401  (fixtures)
from web.pages.ledger import COLUMNS

ROW = re.compile(r'<tr class="[^"]*" data-item="(\d+)">')


@pytest.fixture
def items(session, start_item, frozen):  # noqa: F811
    a = start_item("消防通道整治", "housing", assisting=["police", "justice"])
    b = start_item("=HYPERLINK(\"http://evil.example\",\"食品安全\")", "market", source="会议决定", days=5)
    c = start_item("欠薪问题化解", "hrss", source="群众反映", approve=False)
    d = start_item("城关镇积案化解", "petition", org="chengguan", source="上级交办")
    session.commit()
    frozen.set(beijing("2026-03-10T09:00:00"))  # b is overdue (yellow), the others are not
    return a.id, b.id, c.id, d.id


def _page_ids(client, query=""):
    response = client.get(f"/ledger?{query}")
    assert response.status_code == 200
    return [int(i) for i in ROW.findall(response.get_data(as_text=True))]


def _api_ids(client, headers, query=""):
    response = client.get(f"/api/v1/supervision/items?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [i["instance_id"] for i in response.get_json()["items"]]


@pytest.mark.parametrize("username", ["zheng.dc", "wu.zj", "lin.ld"])
@pytest.mark.parametrize("query", ["", "card=yellow", "card=none&sort=business_key&order=desc", "unit=police",
                                   "township=chengguan", "source=%E4%BC%9A%E8%AE%AE%E5%86%B3%E5%AE%9A",
                                   "status=pending", "created_from=2026-03-02&created_to=2026-03-02",
                                   "created_from=2026-03-03", "sort=lead_unit", "sort=card&order=desc"])
def test_the_page_and_the_api_give_the_same_rows_for_the_same_filters(client, login, api_headers, items, username, query):
    login(client, username)
    page = _page_ids(client, query)
    assert page == _api_ids(client, api_headers(username), query)
    expected = {("zheng.dc", ""): 4, ("zheng.dc", "card=yellow"): 1, ("wu.zj", ""): 1, ("lin.ld", ""): 1}
    assert len(page) == expected.get((username, query), len(page))


def test_every_column_of_the_page_sorts_both_ways_like_the_api(client, login, api_headers, items):
    login(client, "zheng.dc")
    for key, _, _ in COLUMNS:
        for order in ("asc", "desc"):
            query = f"sort={key}&order={order}"
            rows = _page_ids(client, query)
            assert sorted(rows) == sorted(items) and rows == _api_ids(client, api_headers("zheng.dc"), query), query
    assert _page_ids(client, "sort=business_key&order=desc") == sorted(items, reverse=True)


def test_the_api_item_has_the_documented_fields(client, api_headers, items):
    a, b, c, d = items
    body = client.get("/api/v1/supervision/items?card=yellow", headers=api_headers("zheng.dc")).get_json()
    assert body["total"] == 1
    [item] = body["items"]
    assert {k: item[k] for k in ("instance_id", "lead_unit", "card", "status", "days_left", "current_step")} == {
        "instance_id": b, "lead_unit": "market", "card": "yellow", "status": "in_progress", "days_left": -1,
        "current_step": "签收"}
    assert item["due_at"].startswith("2026-03-09T09:30:00")   # 17:30 Beijing, in UTC
    assert item["business_key"].startswith("DB-20260302-")
    assert client.get("/api/v1/supervision/items?card=purple", headers=api_headers("zheng.dc")).status_code == 422
    openapi = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/supervision/items" in openapi["paths"]


def test_the_page_shows_names_local_dates_and_cards(client, login, items):
    login(client, "zheng.dc")
    html = client.get("/ledger?sort=business_key").get_data(as_text=True)
    assert "县住建局" in html and "县公安局 ○" in html and ">housing<" not in html
    assert "2026-03-16 17:30" in html          # due, in Beijing time
    assert '<span class="card-badge card-yellow">黄牌</span>' in html
    assert "超期 1 个工作日" in html and "剩 4 个工作日" in html
    # Unparseable filters are dropped, never a server error.
    assert client.get("/ledger?card=purple&created_from=tomorrow&sort=nope").status_code == 200


def test_the_export_has_exactly_the_ledgers_columns_and_rows(client, login, items):
    login(client, "zheng.dc")
    response = client.get("/ledger/export.xlsx?sort=business_key")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == [zh for _, zh, _ in COLUMNS]
    assert len(rows) == 1 + 4
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])
    first = rows[1]
    assert first[1:5] == ["消防通道整治", "领导批示", "县住建局", "县公安局（未反馈）、县司法局（未反馈）"]
    assert first[5:7] == ["2026-03-02", "2026-03-16 17:30"]
    assert first[9:13] == ["剩 4 个工作日", "正常", 0, "办理中"]
    # A title typed like a formula stays text.
    cell = sheet.cell(row=3, column=2)
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s" and cell.quotePrefix
    # The export follows the filters.
    only_yellow = load_workbook(io.BytesIO(client.get("/ledger/export.xlsx?card=yellow").data)).active
    assert only_yellow.max_row == 2


def _urges(session, instance_id):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.instance_id == instance_id, AuditEntry.kind == EntryKind.URGED))


def test_bulk_urge_from_the_page_reports_each_item_and_a_second_urge_is_refused_per_item(
        client, login, csrf_token, session, items, frozen):
    a, b, c, d = items
    login(client, "zheng.dc")
    form = {"csrf_token": csrf_token(client), "item": [str(a), str(b)], "opinion": "请抓紧"}
    response = client.post("/ledger/urge?card=none", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/ledger?card=none")
    assert (_urges(session, a), _urges(session, b)) == (3, 1)
    frozen.advance(timedelta(minutes=1))
    form["item"] = [str(a), str(d)]
    html = client.post("/ledger/urge", data=form, follow_redirects=True).get_data(as_text=True)
    assert "协办反馈：该任务 10 分钟内已催办过，请稍后再试" in html   # a: refused, shown for a
    assert "已催办 1 人" in html                                   # d: urged all the same
    assert (_urges(session, a), _urges(session, d)) == (3, 1)
    # No CSRF token: refused, nothing urged.
    assert client.post("/ledger/urge", data={"item": [str(c)]}).status_code == 400


def test_the_urge_redirect_and_the_pages_links_carry_only_the_filters(client, login, csrf_token, items):
    login(client, "zheng.dc")
    response = client.post("/ledger/urge?card=none&_external=1&_scheme=javascript&next=//evil.example",
                           data={"csrf_token": csrf_token(client), "item": []})
    assert response.status_code == 302 and response.headers["Location"] == "/ledger?card=none"
    html = client.get("/ledger?card=none&_anchor=x&evil=%22%3E%3Cscript%3E").get_data(as_text=True)
    assert "evil" not in html and "_anchor" not in html and '"><script>' not in html


def test_bulk_urge_through_the_api(client, api_headers, session, items):
    a, b, c, d = items
    response = client.post("/api/v1/supervision/items/urge", json={"instance_ids": [b, 999999]},
                           headers=api_headers("zheng.dc"))
    assert response.status_code == 200
    assert [(r["instance_id"], r["ok"], r["reminded"]) for r in response.get_json()["results"]] == [
        (b, True, 1), (999999, False, 0)]
    assert _urges(session, b) == 1


def test_the_menu_offers_the_ledger_to_those_who_track_supervision(client, login):
    for username, shown in [("zheng.dc", True), ("he.ld", True), ("lin.ld", True), ("admin", True),
                            ("wu.zj", True), ("zhang.dd", False), ("wang.wg", False)]:
        login(client, username)
        assert ('href="/ledger"' in client.get("/todo").get_data(as_text=True)) is shown, username


def test_the_printed_sheet_and_notice(client, login, items, session):
    a, b, c, d = items
    login(client, "zheng.dc")
    sheet = client.get(f"/ledger/{a}/print").get_data(as_text=True)
    assert "督办单" in sheet and "消防通道整治的督办内容" in sheet and "县住建局" in sheet and "print.css" in sheet
    assert "（10 个工作日）" in sheet
    notice = client.get("/ledger/notice?created_from=2026-03-01&created_to=2026-03-31").get_data(as_text=True)
    # Grouped by lead unit; c (awaiting approval) is not reported; b is overdue.
    assert "本期共交办督办事项 <b>3</b> 项，其中按期办结 <b>0</b> 项，超期 <b>1</b> 项，亮红牌 <b>0</b> 项" in notice
    assert [u for u in re.findall(r"<h2>\d+\. (\S+)</h2>", notice)] == ["县住建局", "县信访局", "县市场监管局"]
    # Out of scope: the sheet of another unit's item is not found.
    login(client, "tang.jg")
    assert client.get(f"/ledger/{a}/print").status_code == 404
    assert client.get(f"/ledger/{b}/print").status_code == 200
