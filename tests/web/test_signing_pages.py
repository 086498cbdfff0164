"""加签/减签 on the task page and over the API: buttons only for whoever may use them, inline errors, audit."""
from __future__ import annotations

from engine.signing.models import signers_of
from engine.store.models import HumanTask, TaskStatus

from .pages_helpers import post, review_at_approval, text_of


def _claimed_by_leader(session, client, login, csrf_token):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    if task.assignee_id is None:
        post(client, csrf_token, f"/tasks/{task.id}/claim")
    return instance, task


def test_before_signer_signs_on_the_page_and_the_holder_sees_it(client, login, csrf_token, session):
    instance, task = _claimed_by_leader(session, client, login, csrf_token)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "加签" in page and "前加签" in page and "后加签" in page

    # No one chosen: the dialog stays open with the message beside it, what was typed kept.
    refused = post(client, csrf_token, f"/tasks/{task.id}/signers", {"position": "before", "opinion": "请先核实金额"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "请选择加签人" in html and "请先核实金额" in html and 'open' in html.split("确认加签")[0].rsplit("<details", 1)[1]

    added = post(client, csrf_token, f"/tasks/{task.id}/signers", {"position": "before", "to": "zheng.dc",
                                                                 "opinion": "请先核实金额"})
    assert added.status_code == 302
    holder = text_of(client.get(f"/tasks/{task.id}"))
    assert "加签人" in holder and "签署中" in holder and "减签" in holder and "提交" not in holder.split("加签人")[0][-40:]

    login(client, "zheng.dc")
    signer = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "加签签署" in signer and "提交签署" in signer and 'name="f.approved"' not in signer
    missing = post(client, csrf_token, f"/tasks/{task.id}/sign", {"decision": "disagree", "opinion": ""})
    assert missing.status_code == 422 and "不同意时请填写理由" in missing.get_data(as_text=True)
    done = post(client, csrf_token, f"/tasks/{task.id}/sign", {"decision": "agree", "opinion": "金额属实"})
    assert done.status_code == 302

    login(client, "he.ld")
    session.expire_all()
    row = session.get(HumanTask, task.id)
    assert row.owner_id is None and row.assignee_id is not None
    case = text_of(client.get(f"/cases/{instance.id}"))
    assert "加签" in case and "前加签" in case and "会签" in case and "同意" in case and "金额属实" in case


def test_after_signers_over_the_api_and_removal(client, login, csrf_token, session, api_headers):
    instance, task = review_at_approval(session)
    leader = api_headers("he.ld")
    if task.assignee_id is None:
        assert client.post(f"/api/v1/tasks/{task.id}/claim", headers=leader).status_code == 200
    detail = client.get(f"/api/v1/tasks/{task.id}", headers=leader).get_json()
    assert "add_signer" in detail["actions"] and detail["signers"] == []

    bad = client.post(f"/api/v1/tasks/{task.id}/signers", headers=leader, json={"to": ["zheng.dc"], "position": "up"})
    assert bad.status_code == 422
    r = client.post(f"/api/v1/tasks/{task.id}/signers", headers=leader,
                    json={"to": ["zheng.dc"], "position": "after", "opinion": "请督查室会签"})
    assert r.status_code == 200, r.get_json()
    r = client.post(f"/api/v1/tasks/{task.id}/complete", headers=leader, json={"data": {"approved": True}})
    assert r.status_code == 200 and r.get_json()["task"]["status"] == "open"

    inspector = api_headers("zheng.dc")
    detail = client.get(f"/api/v1/tasks/{task.id}", headers=inspector).get_json()
    assert "sign" in detail["actions"] and "complete" not in detail["actions"]
    assert detail["signers"][0]["name"] and detail["signers"][0]["status"] == "pending"
    # The signer may not remove themself from someone else's queue (they did not add it).
    sid = detail["signers"][0]["id"]
    assert client.post(f"/api/v1/tasks/{task.id}/signers/{sid}/remove", headers=inspector, json={}).status_code == 403
    # The holder removes the signer whose turn it is: the held submission completes.
    r = client.post(f"/api/v1/tasks/{task.id}/signers/{sid}/remove", headers=leader, json={"opinion": "已电话确认"})
    assert r.status_code == 200 and r.get_json()["task"]["status"] == "completed"
    session.expire_all()
    assert session.get(HumanTask, task.id).status == TaskStatus.COMPLETED
    assert [s.status for s in signers_of(session, task.id)] == ["removed"]
    again = client.post(f"/api/v1/tasks/{task.id}/signers/{sid}/remove", headers=leader, json={})
    assert again.status_code == 409
