"""Pages: lists, the case page (masking, diagram, printouts), search with Excel export, notifications, files."""
from __future__ import annotations

import io

from lxml import etree
from openpyxl import load_workbook

from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from tests.factories import only_task

from .helpers import ID_NUMBER, PHONE, deploy_privacy
from .pages_helpers import post, review_at_approval, text_of


def _privacy_case(session, tmp_path, *, by="zhang.dd"):
    deploy_privacy(session, tmp_path)
    actor = actor_for(session, username=by)
    instance = lifecycle.start_instance(session, process_key="privacy", actor=actor,
                                      data={"applicant": "赵大妈", "phone": PHONE, "id_number": ID_NUMBER})
    session.commit()
    return instance


def test_todo_counts_filters_and_other_lists(client, login, session):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    html = client.get("/todo").get_data(as_text=True)
    assert "领导审批" in html and "正常" in html and instance.business_key in html
    assert "领导审批" in client.get("/todo?light=green&process=review").get_data(as_text=True)
    assert "没有待办任务" in client.get("/todo?light=red").get_data(as_text=True)
    assert "没有待办任务" in client.get("/todo?org=hexi").get_data(as_text=True)
    login(client, "zhang.dd")
    assert instance.title in client.get("/started").get_data(as_text=True)
    assert "登记" in client.get("/done").get_data(as_text=True)


def test_case_page_shows_data_timeline_tasks_and_diagram(client, login, session):
    instance, task = review_at_approval(session, subject="修缮东街围墙")
    login(client, "zhang.dd")
    r = client.get(f"/cases/{instance.id}")
    page = text_of(r)
    assert r.status_code == 200
    for text in ("修缮东街围墙", "办理中", "当前办理", "领导审批", "流程图", "办理过程", "发起案件", "请审批"):
        assert text in page, text
    xml = client.get(f"/cases/{instance.id}/diagram.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    root = etree.fromstring(xml.data)
    shapes = {s.get("bpmnElement") for s in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape")}
    assert {"register", "approve", "gw_level"} <= shapes, "a layout is generated for a file without one"
    assert '"current": ["approve"]' in r.get_data(as_text=True) and '"completed": ["register"]' in r.get_data(as_text=True)


def test_case_outside_scope_is_404(client, login, session):
    instance, _ = review_at_approval(session)
    login(client, "zhao.wg")
    assert client.get(f"/cases/{instance.id}").status_code == 404
    assert client.get(f"/cases/{instance.id}/diagram.bpmn").status_code == 404
    assert client.get(f"/cases/{instance.id}/print/mediation_agreement").status_code == 404


def test_personal_data_is_masked_for_cc_readers_and_in_search(client, login, csrf_token, session, tmp_path):
    instance = _privacy_case(session, tmp_path)
    login(client, "zhang.dd")
    full = client.get(f"/cases/{instance.id}").get_data(as_text=True)
    assert PHONE in full and ID_NUMBER in full
    for url in ("/started", "/todo", "/search"):  # lists mask even for those who may see it all
        listed = client.get(url).get_data(as_text=True)
        assert PHONE not in listed and "138****5678" in listed, url
    post(client, csrf_token, f"/cases/{instance.id}/cc", {"to": ["zhao.wg"]})
    login(client, "zhao.wg")  # a grid worker elsewhere, only copied in
    masked = client.get(f"/cases/{instance.id}").get_data(as_text=True)
    assert PHONE not in masked and "138****5678" in masked and ID_NUMBER not in masked
    assert "个人信息已打码" in masked


def test_search_by_fields_pages_and_exports_excel(client, login, session):
    first, _ = review_at_approval(session, subject="修缮城关中学围墙")
    review_at_approval(session, subject="疏通河西排水沟")
    login(client, "zhang.dd")
    page = client.get("/search?process=review&cf.subject=修缮城关").get_data(as_text=True)
    assert first.business_key in page and "疏通河西排水沟" not in page and "共 <b>1</b> 件" in page
    assert "没有符合条件的案件" in client.get("/search?key=NOPE").get_data(as_text=True)
    assert client.get("/search?from=2000-01-01&to=2000-01-02&status=running").status_code == 200
    x = client.get("/search/export.xlsx?process=review&cf.subject=修缮城关")
    assert x.status_code == 200 and x.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(x.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "案件编号" and rows[1][0] == first.business_key and "修缮城关中学围墙" in rows[1]


def test_search_never_shows_other_townships_cases(client, login, session):
    instance, _ = review_at_approval(session, subject="县级事项")
    login(client, "xu.ld")
    assert instance.business_key not in client.get("/search").get_data(as_text=True)


def test_printouts_render_from_case_data(client, login, session):
    instance, _ = review_at_approval(session)
    login(client, "zhang.dd")
    agreement = client.get(f"/cases/{instance.id}/print/mediation_agreement")
    assert agreement.status_code == 200
    html = agreement.get_data(as_text=True)
    assert "人民调解协议书" in html and instance.business_key in html and "司法确认" in html
    notice = client.get(f"/cases/{instance.id}/print/rectification_notice").get_data(as_text=True)
    assert "整改通知书" in notice and "平安县" in notice
    assert client.get(f"/cases/{instance.id}/print/nothing").status_code == 404


def test_notification_centre_and_unread_badge(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "zheng.dc")
    post(client, csrf_token, f"/tasks/{task.id}/urge", {"opinion": "尽快"})
    login(client, "he.ld")
    todo = client.get("/todo").get_data(as_text=True)
    assert 'id="unread-count"' in todo
    notes = client.get("/notifications").get_data(as_text=True)
    assert "催办" in notes and "尽快" in notes
    r = post(client, csrf_token, "/notifications/read")
    assert r.status_code == 302
    assert 'id="unread-count"' not in client.get("/todo").get_data(as_text=True)


def test_file_field_upload_and_download_only_for_those_who_see_the_case(client, login, csrf_token, session, tmp_path):
    instance = _privacy_case(session, tmp_path)
    task = only_task(session, instance.id, "handle")
    login(client, "zhang.dd")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    r = client.post(f"/tasks/{task.id}", data={
        "csrf_token": csrf_token(client), "f.result": "", "action": "complete",
        "f.photos.upload": (io.BytesIO(png), "现场.png")}, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "此项为必填项" in html and "现场.png" in html, "the file survives the error"
    import re
    attachment_id = re.search(r'name="f.photos" value="([0-9a-f]+)"', html).group(1)
    assert client.get(f"/attachments/{attachment_id}").status_code == 200
    login(client, "zhao.wg")
    assert client.get(f"/attachments/{attachment_id}").status_code == 404
    bad = client.post(f"/tasks/{task.id}", data={
        "csrf_token": csrf_token(client), "f.result": "x", "action": "complete",
        "f.photos.upload": (io.BytesIO(b"MZ..."), "virus.exe")}, content_type="multipart/form-data")
    assert bad.status_code in (404, 422)


def test_admin_pages_for_admins_only(client, login, csrf_token, session):
    login(client, "zhang.dd")
    for url in ("/admin", "/admin/orgs", "/admin/users", "/admin/tokens", "/admin/processes", "/admin/errors"):
        assert client.get(url).status_code == 403, url
    login(client, "admin")
    for url, text in (("/admin", "系统管理"), ("/admin/orgs", "城关镇"), ("/admin/users", "王网格"),
                      ("/admin/tokens", "签发令牌"), ("/admin/processes", "简单审批"), ("/admin/errors", "出错"),
                      ("/admin/users/wang.wg", "网格员")):
        r = client.get(url)
        assert r.status_code == 200 and text in r.get_data(as_text=True), url


def test_admin_deactivates_a_user_handing_tasks_to_a_successor(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    post(client, csrf_token, f"/tasks/{task.id}/claim")
    login(client, "admin")
    assert "领导审批" in client.get("/admin/users/he.ld").get_data(as_text=True)
    r = post(client, csrf_token, "/admin/users/he.ld/deactivate", {"successor": "lin.ld", "opinion": "调离"})
    assert r.status_code in (302, 409)
    if r.status_code == 409:  # 林镇长 leads 城关镇 only; the county task needs a county leader
        assert "无法按要求移交" in r.get_data(as_text=True)
        r = post(client, csrf_token, "/admin/users/he.ld/deactivate", {"successor": "", "opinion": "调离"})
    assert r.status_code == 302
    session.expire_all()
    from engine.store.models import HumanTask, User
    from sqlalchemy import select
    assert session.scalar(select(User.active).where(User.username == "he.ld")) is False
    assert session.get(HumanTask, task.id).assignee_id is None
    assert "人员调整移交" in text_of(client.get(f"/cases/{instance.id}"))


def test_admin_issues_a_token_shown_once(client, login, csrf_token):
    login(client, "admin")
    r = post(client, csrf_token, "/admin/tokens", {"username": "zhou.ga", "label": "12345 热线"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "只显示这一次" in html and "pa_" in html
    assert "只显示这一次" not in client.get("/admin/tokens").get_data(as_text=True)


def test_notifications_quote_case_titles_with_personal_data_masked(client, login, session, tmp_path, api_headers):
    instance = _privacy_case(session, tmp_path)
    assert PHONE in instance.title
    from engine.org.orgs import actor_for as _actor
    from engine.runtime import notifications

    me = _actor(session, username="zhang.dd")
    notifications.notify(session, user_ids=[me.id], kind="cc", text=f"抄送：{instance.title}", instance_id=instance.id)
    notifications.notify(session, user_ids=[me.id], kind="cc", text="没有案件的通知")
    session.commit()
    login(client, "zhang.dd")
    notes = client.get("/notifications").get_data(as_text=True)
    assert PHONE not in notes and "138****5678" in notes and "没有案件的通知" in notes
    texts = [n["text"] for n in client.get("/api/v1/notifications", headers=api_headers("zhang.dd")).get_json()["items"]]
    assert "抄送：求助：赵大妈 138****5678" in texts and "没有案件的通知" in texts  # the API shows what the page shows
