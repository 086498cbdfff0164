"""Administration API: orgs, users and roles, hand-over on deactivation or move, tokens, errored cases, definitions."""
from __future__ import annotations

from sqlalchemy import select

from engine.store.models import AuditEntry, HumanTask, User

from .helpers import open_task_id, start_case


def _claimed_task(client, api_headers, username="li.sl", **extra):
    case = start_case(client, api_headers(username), **extra)
    task_id = open_task_id(case)
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=api_headers(username)).status_code == 200
    return case, task_id


def test_admin_endpoints_need_the_admin_role(client, api_headers):
    for path in ("/api/v1/admin/orgs", "/api/v1/admin/users", "/api/v1/admin/tokens", "/api/v1/admin/definitions",
                 "/api/v1/admin/instances/errored"):
        assert client.get(path, headers=api_headers("zhang.dd")).status_code == 403, path
        assert client.get(path, headers=api_headers("admin")).status_code == 200, path
    assert client.get("/api/v1/admin/orgs").status_code == 401


def test_org_tree_and_new_org(client, api_headers):
    orgs = client.get("/api/v1/admin/orgs", headers=api_headers("admin")).get_json()
    assert orgs[0] == {"code": "county", "name": "平安县", "kind": "county", "parent": None, "depth": 0}
    assert {"code": "dongjie-1", "name": "东街社区第一网格", "kind": "grid", "parent": "dongjie", "depth": 3} in orgs
    created = client.post("/api/v1/admin/orgs", json={"code": "dongjie-2", "name": "东街社区第二网格", "kind": "grid",
                                                      "parent": "dongjie"}, headers=api_headers("admin"))
    assert created.status_code == 201 and created.get_json()["depth"] == 3
    dup = client.post("/api/v1/admin/orgs", json={"code": "dongjie-2", "name": "x", "kind": "grid", "parent": "dongjie"},
                      headers=api_headers("admin"))
    assert dup.status_code == 400
    bad_kind = client.post("/api/v1/admin/orgs", json={"code": "x1", "name": "x", "kind": "galaxy"}, headers=api_headers("admin"))
    assert bad_kind.status_code == 422


def test_users_and_roles(client, api_headers):
    headers = api_headers("admin")
    created = client.post("/api/v1/admin/users", json={
        "username": "sun.wg", "name": "孙网格", "org": "liushu-1", "password": "initial-pass-1",
        "roles": [{"role": "grid_worker", "org": "liushu-1"}]}, headers=headers)
    assert created.status_code == 201
    assert created.get_json()["roles"] == [{"role": "grid_worker", "org": "liushu-1"}]
    assert client.post("/api/v1/auth/token", json={"username": "sun.wg", "password": "initial-pass-1"}).status_code == 201
    listed = client.get("/api/v1/admin/users?org=hexi", headers=headers).get_json()
    assert {"sun.wg", "zhao.wg", "qian.sl"} <= {u["username"] for u in listed}
    assert "li.sl" not in {u["username"] for u in listed}
    granted = client.post("/api/v1/admin/users/sun.wg/roles", json={"role": "mediator", "org": "liushu"}, headers=headers)
    assert granted.status_code == 200 and {"role": "mediator", "org": "liushu"} in granted.get_json()["roles"]
    assert client.post("/api/v1/admin/users/sun.wg/roles", json={"role": "mediator", "org": "liushu"},
                       headers=headers).status_code == 409
    removed = client.delete("/api/v1/admin/users/sun.wg/roles/mediator/liushu", headers=headers)
    assert removed.status_code == 200 and len(removed.get_json()["roles"]) == 1
    patched = client.patch("/api/v1/admin/users/sun.wg", json={"phone": "13900000000"}, headers=headers)
    assert patched.get_json()["phone"] == "13900000000"
    assert client.post("/api/v1/admin/users", json={"username": "bad name!", "name": "x", "org": "county",
                                                    "password": "12345678"}, headers=headers).status_code == 422
    assert client.get("/api/v1/admin/users/ghost", headers=headers).status_code == 404


def test_deactivation_hands_open_tasks_to_the_successor(client, api_headers, session):
    case, task_id = _claimed_task(client, api_headers)
    leaver_headers = api_headers("li.sl")
    response = client.post("/api/v1/admin/users/li.sl/deactivate", json={"successor": "zhang.dd", "opinion": "调离"},
                           headers=api_headers("admin"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["user"]["active"] is False
    assert [t["id"] for t in body["to_successor"]] == [task_id] and body["to_pool"] == []
    session.expire_all()
    assert session.get(HumanTask, task_id).assignee.username == "zhang.dd"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.instance_id == case["id"])
                            .order_by(AuditEntry.seq.desc())).first()
    assert entry.kind == "reassigned" and entry.opinion == "调离"
    assert entry.payload["from"] == "li.sl" and entry.payload["to"] == "zhang.dd"
    # The successor now sees it in their to-do list; the leader can no longer sign in or use tokens.
    todo = client.get("/api/v1/tasks?view=todo", headers=api_headers("zhang.dd")).get_json()
    assert task_id in [t["id"] for t in todo["items"] if t["assignee"] == "zhang.dd"]
    assert client.get("/api/v1/auth/me", headers=leaver_headers).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": "li.sl", "password": "pingan-demo-2026"}).status_code == 401


def test_deactivation_without_successor_returns_tasks_to_the_pool(client, api_headers, session):
    case, task_id = _claimed_task(client, api_headers)
    body = client.post("/api/v1/admin/users/li.sl/deactivate", json={}, headers=api_headers("admin")).get_json()
    assert [t["id"] for t in body["to_pool"]] == [task_id]
    assert body["unstaffed"] == []  # the county dispatcher still covers 城关镇
    session.expire_all()
    assert session.get(HumanTask, task_id).assignee_id is None
    reactivated = client.post("/api/v1/admin/users/li.sl/reactivate", headers=api_headers("admin"))
    assert reactivated.get_json()["active"] is True


def test_successor_without_the_role_changes_nothing(client, api_headers, session):
    case, task_id = _claimed_task(client, api_headers)
    refused = client.post("/api/v1/admin/users/li.sl/deactivate", json={"successor": "wang.wg"}, headers=api_headers("admin"))
    assert refused.status_code == 409
    assert refused.get_json()["details"]
    session.expire_all()
    assert session.scalar(select(User.active).where(User.username == "li.sl")) is True
    assert session.get(HumanTask, task_id).assignee.username == "li.sl"


def test_move_hands_over_only_tasks_the_user_can_no_longer_do(client, api_headers, session):
    case, task_id = _claimed_task(client, api_headers)
    moved = client.post("/api/v1/admin/users/li.sl/move", json={"org": "hexi", "successor": "zhang.dd"},
                        headers=api_headers("admin"))
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["user"]["org"] == "hexi"
    assert body["user"]["roles"] == [{"role": "dispatcher", "org": "hexi"}]
    assert [t["id"] for t in body["to_successor"]] == [task_id]
    session.expire_all()
    assert session.get(HumanTask, task_id).assignee.username == "zhang.dd"


def test_move_keeps_tasks_still_in_reach(client, api_headers, session):
    case, task_id = _claimed_task(client, api_headers, "zhang.dd", org="chengguan")
    body = client.post("/api/v1/admin/users/zhang.dd/move", json={"org": "chengguan", "roles": [
        {"role": "dispatcher", "org": "chengguan"}]}, headers=api_headers("admin")).get_json()
    assert body["to_pool"] == [] and body["to_successor"] == []  # the case is in 城关镇: still in reach
    session.expire_all()
    assert session.get(HumanTask, task_id).assignee.username == "zhang.dd"


def test_township_admin_is_limited_to_their_township(client, api_headers, session):
    client.post("/api/v1/admin/users/lin.ld/roles", json={"role": "admin", "org": "chengguan"}, headers=api_headers("admin"))
    headers = api_headers("lin.ld")
    users = {u["username"] for u in client.get("/api/v1/admin/users", headers=headers).get_json()}
    assert "li.sl" in users and "qian.sl" not in users
    assert client.get("/api/v1/admin/users/qian.sl", headers=headers).status_code == 404
    assert client.post("/api/v1/admin/users/li.sl/roles", json={"role": "mediator", "org": "hexi"},
                       headers=headers).status_code == 403


def test_unlock_and_reset_password(client, api_headers):
    for _ in range(5):
        client.post("/api/v1/auth/token", json={"username": "wang.wg", "password": "bad-bad-bad"})
    assert client.post("/api/v1/auth/token", json={"username": "wang.wg", "password": "pingan-demo-2026"}).status_code == 403
    locked = client.get("/api/v1/admin/users/wang.wg", headers=api_headers("admin")).get_json()
    assert locked["locked_until"] is not None
    assert client.post("/api/v1/admin/users/wang.wg/unlock", headers=api_headers("admin")).status_code == 200
    assert client.post("/api/v1/auth/token", json={"username": "wang.wg", "password": "pingan-demo-2026"}).status_code == 201
    assert client.post("/api/v1/admin/users/wang.wg/password", json={"password": "reset-pass-9"},
                       headers=api_headers("admin")).status_code == 204
    assert client.post("/api/v1/auth/token", json={"username": "wang.wg", "password": "reset-pass-9"}).status_code == 201


def test_tokens_issue_list_revoke(client, api_headers):
    created = client.post("/api/v1/admin/tokens", json={"username": "zhou.ga", "label": "12345 热线"},
                          headers=api_headers("admin"))
    assert created.status_code == 201
    token = created.get_json()["token"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).get_json()["username"] == "zhou.ga"
    rows = client.get("/api/v1/admin/tokens?user=zhou.ga", headers=api_headers("admin")).get_json()
    assert rows[0]["label"] == "12345 热线" and rows[0]["prefix"] == token[:10] and "token" not in rows[0]
    revoked = client.delete(f"/api/v1/admin/tokens/{created.get_json()['id']}", headers=api_headers("admin"))
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_errored_cases_and_retry(client, api_headers):
    case = start_case(client, api_headers("li.sl"), "fragile")
    done = client.post(f"/api/v1/tasks/{open_task_id(case, 'enter')}/complete", json={"data": {"divisor": 0}},
                       headers=api_headers("li.sl"))
    assert done.status_code == 200 and done.get_json()["instance"]["status"] == "error"
    errored = client.get("/api/v1/admin/instances/errored", headers=api_headers("admin")).get_json()
    [row] = [i for i in errored["items"] if i["id"] == case["id"]]
    assert row["error"]["element_id"] == "compute"
    assert client.post(f"/api/v1/admin/instances/{case['id']}/retry", json={}, headers=api_headers("zhang.dd")).status_code == 403
    retried = client.post(f"/api/v1/admin/instances/{case['id']}/retry", json={"data": {"divisor": 4}},
                          headers=api_headers("admin"))
    assert retried.status_code == 200 and retried.get_json()["status"] == "running"
    detail = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("li.sl")).get_json()
    assert [t["element_id"] for t in detail["open_tasks"]] == ["check"]
    assert detail["data"]["ratio"] == 25
    again = client.post(f"/api/v1/admin/instances/{case['id']}/retry", json={}, headers=api_headers("admin"))
    assert again.status_code in (400, 409)


def test_definitions_are_readable(client, api_headers):
    rows = client.get("/api/v1/admin/definitions", headers=api_headers("admin")).get_json()
    review = [r for r in rows if r["key"] == "review"][0]
    assert review["version"] == 1 and len(review["content_hash"]) == 64
    detail = client.get("/api/v1/admin/definitions/review/1", headers=api_headers("admin")).get_json()
    assert "review.bpmn" in detail["sources"] and "review/register" in detail["forms"]
    assert client.get("/api/v1/admin/definitions/review/99", headers=api_headers("admin")).status_code == 404
