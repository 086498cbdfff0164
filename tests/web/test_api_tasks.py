"""Task operations through the API: lists, detail with form schema, complete, and every other operation."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.store.models import AuditEntry, CarbonCopy, HumanTask, Instance

from .helpers import open_task_id, start_case

BIG = {"subject": "修缮围墙", "amount": 20000}


def _complete(client, headers, task_id, data=None, opinion=None):
    return client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data or {}, "opinion": opinion}, headers=headers)


def _to_approval(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    done = _complete(client, api_headers("li.sl"), open_task_id(case, "register"), BIG, "请领导审批")
    assert done.status_code == 200, done.get_json()
    approve = [t for t in done.get_json()["open_tasks"] if t["element_id"] == "approve"][0]
    return case, approve


def test_todo_lists_pool_tasks_with_counts(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    body = client.get("/api/v1/tasks?view=todo", headers=api_headers("li.sl")).get_json()
    assert body["view"] == "todo"
    assert open_task_id(case) in [t["id"] for t in body["items"]]
    assert body["counts"]["total"] >= 1 and set(body["counts"]) == {"green", "yellow", "red", "total"}
    other = client.get("/api/v1/tasks?view=todo", headers=api_headers("qian.sl")).get_json()
    assert open_task_id(case) not in [t["id"] for t in other["items"]]
    assert client.get("/api/v1/tasks?view=nonsense", headers=api_headers("li.sl")).status_code == 422
    assert client.get("/api/v1/tasks?limit=0", headers=api_headers("li.sl")).status_code == 422


def test_task_detail_has_form_schema_and_actions(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    body = client.get(f"/api/v1/tasks/{task_id}", headers=api_headers("li.sl")).get_json()
    schema = body["form_schema"]
    assert schema["required"] == ["subject", "amount"]
    assert schema["properties"]["amount"]["type"] == "number"
    assert {"complete", "claim", "transfer", "delegate", "cc"} <= set(body["actions"])
    assert client.get(f"/api/v1/tasks/{task_id}", headers=api_headers("qian.sl")).status_code == 404
    assert client.get("/api/v1/tasks/no-such-task", headers=api_headers("li.sl")).status_code == 404


def test_complete_validates_and_changes_nothing_on_error(client, api_headers, session):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    bad = _complete(client, api_headers("li.sl"), task_id, {"subject": "", "amount": -1, "extra": 1})
    assert bad.status_code == 422
    body = bad.get_json()
    assert body["error"] == "form_invalid"
    assert {d["field"] for d in body["details"]} == {"subject", "amount", "extra"}
    assert all(d["message"] for d in body["details"])
    session.expire_all()
    assert session.get(HumanTask, task_id).status == "open"
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.instance_id == case["id"])) == 1


def test_double_submit_second_is_409_and_nothing_changes(client, api_headers, session):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    first = _complete(client, api_headers("li.sl"), task_id, {"subject": "小事", "amount": 10})
    assert first.status_code == 200
    assert first.get_json()["instance"]["status"] == "completed"
    session.expire_all()
    entries = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.instance_id == case["id"]))
    data = dict(session.get(Instance, case["id"]).data)
    second = _complete(client, api_headers("li.sl"), task_id, {"subject": "改了", "amount": 99})
    assert second.status_code == 409
    assert second.get_json()["error"] == "task_not_open"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.instance_id == case["id"])) == entries
    assert session.get(Instance, case["id"]).data == data


def test_completion_goes_to_the_next_step_with_deadline_and_light(client, api_headers, frozen):
    case, approve = _to_approval(client, api_headers)
    assert approve["candidate_role"] == "leader" and approve["light"] == "green" and approve["due_at"]
    detail = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("lin.ld")).get_json()
    assert detail["history"][-1]["kind"] == "task_completed"
    assert detail["history"][-1]["opinion"] == "请领导审批"
    done = _complete(client, api_headers("lin.ld"), approve["id"], {"approved": True}, "同意")
    assert done.status_code == 200
    assert done.get_json()["instance"]["status"] == "completed"
    done_view = client.get("/api/v1/tasks?view=done", headers=api_headers("lin.ld")).get_json()
    assert approve["id"] in [t["id"] for t in done_view["items"]]


def test_claim_and_release(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers=api_headers("li.sl"))
    assert claimed.status_code == 200 and claimed.get_json()["task"]["assignee"] == "li.sl"
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=api_headers("li.sl")).status_code == 409
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=api_headers("zhang.dd")).status_code == 403
    released = client.post(f"/api/v1/tasks/{task_id}/release", headers=api_headers("li.sl"))
    assert released.status_code == 200 and released.get_json()["task"]["assignee"] is None


def test_transfer_to_someone_in_the_pool(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    refused = client.post(f"/api/v1/tasks/{task_id}/transfer", json={"to": "wang.wg"}, headers=api_headers("li.sl"))
    assert refused.status_code == 403
    ok = client.post(f"/api/v1/tasks/{task_id}/transfer", json={"to": "zhang.dd", "opinion": "请县里办"},
                     headers=api_headers("li.sl"))
    assert ok.status_code == 200 and ok.get_json()["task"]["assignee"] == "zhang.dd"
    assert _complete(client, api_headers("li.sl"), task_id, {"subject": "a", "amount": 1}).status_code == 403
    assert client.post(f"/api/v1/tasks/{task_id}/transfer", json={"to": "ghost"}, headers=api_headers("zhang.dd")).status_code == 404


def test_delegate_and_resolve(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    client.post(f"/api/v1/tasks/{task_id}/claim", headers=api_headers("li.sl"))
    lent = client.post(f"/api/v1/tasks/{task_id}/delegate", json={"to": "wang.wg"}, headers=api_headers("li.sl"))
    assert lent.status_code == 200
    assert lent.get_json()["task"]["assignee"] == "wang.wg" and lent.get_json()["task"]["owner"] == "li.sl"
    detail = client.get(f"/api/v1/tasks/{task_id}", headers=api_headers("wang.wg")).get_json()
    assert "resolve" in detail["actions"] and "complete" not in detail["actions"]
    assert _complete(client, api_headers("wang.wg"), task_id, {"subject": "a", "amount": 1}).status_code == 403
    back = client.post(f"/api/v1/tasks/{task_id}/resolve", json={"opinion": "已核实", "draft": {"subject": "围墙"}},
                       headers=api_headers("wang.wg"))
    assert back.status_code == 200 and back.get_json()["task"]["assignee"] == "li.sl"
    assert client.get(f"/api/v1/tasks/{task_id}", headers=api_headers("li.sl")).get_json()["draft"] == {"subject": "围墙"}


def test_return_to_an_earlier_step(client, api_headers):
    case, approve = _to_approval(client, api_headers)
    no_opinion = client.post(f"/api/v1/tasks/{approve['id']}/return", json={"to_task": "register"},
                             headers=api_headers("lin.ld"))
    assert no_opinion.status_code in (400, 422)  # the engine asks for the opinion
    unknown = client.post(f"/api/v1/tasks/{approve['id']}/return", json={"to_task": "nowhere", "opinion": "x"},
                          headers=api_headers("lin.ld"))
    assert 400 <= unknown.status_code < 500
    back = client.post(f"/api/v1/tasks/{approve['id']}/return", json={"to_task": "register", "opinion": "金额有误"},
                       headers=api_headers("lin.ld"))
    assert back.status_code == 200
    [reopened] = back.get_json()["open_tasks"]
    assert reopened["element_id"] == "register" and reopened["assignee"] == "li.sl"


def test_withdraw_while_next_step_untouched(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    register = open_task_id(case)
    _complete(client, api_headers("li.sl"), register, BIG)
    assert client.post(f"/api/v1/tasks/{register}/withdraw", json={}, headers=api_headers("zhang.dd")).status_code == 403
    back = client.post(f"/api/v1/tasks/{register}/withdraw", json={"opinion": "填错了"}, headers=api_headers("li.sl"))
    assert back.status_code == 200
    assert [t["element_id"] for t in back.get_json()["open_tasks"]] == ["register"]


def test_withdraw_refused_once_the_next_step_is_claimed(client, api_headers):
    case, approve = _to_approval(client, api_headers)
    register = [h for h in client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("li.sl")).get_json()["history"]
                if h["kind"] == "task_completed"][0]["task_id"]
    client.post(f"/api/v1/tasks/{approve['id']}/claim", headers=api_headers("lin.ld"))
    assert client.post(f"/api/v1/tasks/{register}/withdraw", json={}, headers=api_headers("li.sl")).status_code == 409


def test_cc_once_per_person_and_makes_the_case_visible(client, api_headers, session):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    assert client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("qian.sl")).status_code == 404
    first = client.post(f"/api/v1/tasks/{task_id}/cc", json={"users": ["qian.sl", "he.ld"]}, headers=api_headers("li.sl"))
    assert first.status_code == 200 and sorted(first.get_json()["copied"]) == ["he.ld", "qian.sl"]
    again = client.post(f"/api/v1/tasks/{task_id}/cc", json={"users": ["qian.sl"]}, headers=api_headers("li.sl"))
    assert (again.status_code, again.get_json().get("copied")) in ((200, []), (409, None))
    assert session.scalar(select(func.count()).select_from(CarbonCopy).where(CarbonCopy.instance_id == case["id"])) == 2
    assert client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("qian.sl")).status_code == 200
    cc_view = client.get("/api/v1/tasks?view=cc", headers=api_headers("qian.sl")).get_json()
    [row] = [c for c in cc_view["items"] if c["id"] == case["id"]]
    assert row["cc_by"] == "li.sl"
    assert client.post(f"/api/v1/tasks/{task_id}/cc", json={"users": []}, headers=api_headers("li.sl")).status_code == 422


def test_urge_by_initiator_then_too_soon(client, api_headers, frozen):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    assert client.post(f"/api/v1/tasks/{task_id}/urge", json={}, headers=api_headers("wang.wg")).status_code == 404
    first = client.post(f"/api/v1/tasks/{task_id}/urge", json={"opinion": "尽快"}, headers=api_headers("lin.ld"))
    assert first.status_code == 200 and first.get_json()["reminded"] >= 1
    assert client.post(f"/api/v1/tasks/{task_id}/urge", json={}, headers=api_headers("lin.ld")).status_code == 409
    notices = client.get("/api/v1/notifications", headers=api_headers("li.sl")).get_json()
    assert notices["unread"] >= 1 and any("催办" in n["text"] for n in notices["items"])
    assert client.post("/api/v1/notifications/read", json={}, headers=api_headers("li.sl")).status_code == 204
    assert client.get("/api/v1/notifications", headers=api_headers("li.sl")).get_json()["unread"] == 0


def test_draft_is_saved_for_the_worker(client, api_headers, session):
    case = start_case(client, api_headers("li.sl"))
    task_id = open_task_id(case)
    saved = client.put(f"/api/v1/tasks/{task_id}/draft", json={"data": {"subject": "写了一半"}}, headers=api_headers("li.sl"))
    assert saved.status_code == 204
    assert client.get(f"/api/v1/tasks/{task_id}", headers=api_headers("li.sl")).get_json()["draft"] == {"subject": "写了一半"}
    assert client.put(f"/api/v1/tasks/{task_id}/draft", json={"data": {}}, headers=api_headers("lin.ld")).status_code == 403
    assert client.put(f"/api/v1/tasks/{task_id}/draft", json={}, headers=api_headers("li.sl")).status_code == 422
