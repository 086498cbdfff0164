"""Processes and cases through the API: list, start (idempotently), read, cancel, search, masking."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.store.models import IdempotencyKey, Instance

from .helpers import ID_NUMBER, PHONE, deploy_privacy, start_case


def test_process_list_says_who_may_start(client, api_headers):
    rows = {p["key"]: p for p in client.get("/api/v1/processes", headers=api_headers("li.sl")).get_json()}
    assert rows["review"] == {"key": "review", "name": "简单审批", "version": 1, "can_start": True,
                              "description": None, "category": None}
    leader = {p["key"]: p for p in client.get("/api/v1/processes", headers=api_headers("he.ld")).get_json()}
    assert leader["review"]["can_start"] is False  # start_roles: [dispatcher]


def test_process_detail_has_start_form_schema(client, api_headers, session, tmp_path):
    deploy_privacy(session, tmp_path)
    body = client.get("/api/v1/processes/privacy", headers=api_headers("li.sl")).get_json()
    schema = body["start_form_schema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["applicant", "phone"]
    assert schema["properties"]["phone"]["x-sensitive"] is True
    # Without a start form a start carries no data, and the schema says so.
    empty = client.get("/api/v1/processes/review", headers=api_headers("li.sl")).get_json()["start_form_schema"]
    assert (empty["properties"], empty["additionalProperties"]) == ({}, False)
    assert client.get("/api/v1/processes/nope", headers=api_headers("li.sl")).status_code == 404


def test_start_returns_201_with_instance_and_open_tasks(client, api_headers):
    response = client.post("/api/v1/instances", json={"process": "review", "data": {}}, headers=api_headers("li.sl"))
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/instances/{body['id']}")
    assert {k: body[k] for k in ("process", "version", "status", "org", "started_by")} == {
        "process": "review", "version": 1, "status": "running", "org": "chengguan", "started_by": "li.sl"}
    assert body["business_key"].startswith("RV-")
    [task] = body["open_tasks"]
    assert {k: task[k] for k in ("instance_id", "element_id", "title", "candidate_role", "candidate_org",
                                 "assignee", "status", "light")} == {
        "instance_id": body["id"], "element_id": "register", "title": "登记", "candidate_role": "dispatcher",
        "candidate_org": "chengguan", "assignee": None, "status": "open", "light": "green"}
    assert [h["kind"] for h in body["history"]] == ["started"]


def test_start_refusals(client, api_headers):
    assert client.post("/api/v1/instances", json={"process": "review"}, headers=api_headers("he.ld")).status_code == 403
    assert client.post("/api/v1/instances", json={"process": "ghost"}, headers=api_headers("li.sl")).status_code == 404
    assert client.post("/api/v1/instances", json={"data": {}}, headers=api_headers("li.sl")).status_code == 422
    wrong_type = client.post("/api/v1/instances", json={"process": "review", "data": [1, 2]}, headers=api_headers("li.sl"))
    assert wrong_type.status_code == 422
    assert wrong_type.get_json()["details"][0]["field"] == "data"


def test_start_form_is_validated_with_field_errors(client, api_headers, session, tmp_path):
    deploy_privacy(session, tmp_path)
    response = client.post("/api/v1/instances", json={"process": "privacy", "data": {"applicant": "张三", "phone": "12"}},
                           headers=api_headers("li.sl"))
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "form_invalid"
    assert [d["field"] for d in body["details"]] == ["phone"]


def test_idempotency_key_replays_the_first_result(client, api_headers, session):
    headers = api_headers("li.sl") | {"Idempotency-Key": "hotline-2026-0001"}
    before = session.scalar(select(func.count()).select_from(Instance))
    first = client.post("/api/v1/instances", json={"process": "review", "data": {}}, headers=headers)
    second = client.post("/api/v1/instances", json={"process": "review", "data": {}}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert session.scalar(select(func.count()).select_from(Instance)) == before + 1
    other = client.post("/api/v1/instances", json={"process": "review", "data": {}},
                        headers=api_headers("li.sl") | {"Idempotency-Key": "hotline-2026-0002"})
    assert other.get_json()["id"] != first.get_json()["id"]


def test_idempotency_key_with_a_different_body_is_refused(client, api_headers):
    headers = api_headers("li.sl") | {"Idempotency-Key": "k-1"}
    assert client.post("/api/v1/instances", json={"process": "review"}, headers=headers).status_code == 201
    reused = client.post("/api/v1/instances", json={"process": "review", "business_key": "X-1"}, headers=headers)
    assert reused.status_code == 422
    assert reused.get_json()["error"] == "idempotency_key_reused"


def test_failed_start_does_not_burn_the_key(client, api_headers, session):
    headers = api_headers("he.ld") | {"Idempotency-Key": "retry-me"}
    assert client.post("/api/v1/instances", json={"process": "review"}, headers=headers).status_code == 403
    assert session.scalar(select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == "retry-me")) == 0


def test_idempotency_keys_are_per_user(client, api_headers):
    a = client.post("/api/v1/instances", json={"process": "review"}, headers=api_headers("li.sl") | {"Idempotency-Key": "same"})
    b = client.post("/api/v1/instances", json={"process": "review"}, headers=api_headers("zhang.dd") | {"Idempotency-Key": "same"})
    assert a.get_json()["id"] != b.get_json()["id"]


def test_bad_idempotency_key_is_400(client, api_headers):
    response = client.post("/api/v1/instances", json={"process": "review"},
                           headers=api_headers("li.sl") | {"Idempotency-Key": "x" * 201})
    assert response.status_code == 400


def test_get_instance_and_scope(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    own = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("li.sl"))
    assert own.status_code == 200 and own.get_json()["id"] == case["id"]
    assert client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("zhang.dd")).status_code == 200  # county
    hidden = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("qian.sl"))  # 河西乡
    assert hidden.status_code == 404
    assert hidden.get_json()["error"] == "not_found"
    assert client.get("/api/v1/instances/99999999", headers=api_headers("li.sl")).status_code == 404


def test_cancel_by_initiator_only(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    county = client.post(f"/api/v1/instances/{case['id']}/cancel", json={}, headers=api_headers("zhang.dd"))
    assert county.status_code == 403
    ok = client.post(f"/api/v1/instances/{case['id']}/cancel", json={"reason": "重复登记"}, headers=api_headers("li.sl"))
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["status"] == "cancelled" and body["open_tasks"] == []
    assert body["history"][-1]["kind"] == "cancelled" and body["history"][-1]["opinion"] == "重复登记"
    again = client.post(f"/api/v1/instances/{case['id']}/cancel", json={}, headers=api_headers("li.sl"))
    assert again.status_code == 409
    assert client.post(f"/api/v1/instances/{case['id']}/cancel", json={}, headers=api_headers("qian.sl")).status_code == 404


def test_personal_data_is_masked_in_lists_and_full_in_detail(client, api_headers, session, tmp_path):
    deploy_privacy(session, tmp_path)
    case = start_case(client, api_headers("li.sl"), "privacy",
                      {"applicant": "张三", "phone": PHONE, "id_number": ID_NUMBER})
    assert case["data"]["phone"] == PHONE and case["data"]["id_number"] == ID_NUMBER
    detail = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("zhang.dd")).get_json()
    assert detail["data"]["phone"] == PHONE and PHONE in detail["title"]
    todo = client.get("/api/v1/tasks?view=todo&process=privacy", headers=api_headers("li.sl")).get_json()
    [row] = [t for t in todo["items"] if t["instance_id"] == case["id"]]
    assert PHONE not in row["case_title"] and "138****5678" in row["case_title"]
    started = client.get("/api/v1/tasks?view=started", headers=api_headers("li.sl")).get_json()
    [mine] = [c for c in started["items"] if c["id"] == case["id"]]
    assert PHONE not in mine["title"]
    found = client.get(f"/api/v1/instances?business_key={case['business_key']}", headers=api_headers("li.sl")).get_json()
    assert found["total"] == 1 and PHONE not in found["items"][0]["title"]
    assert "data" not in found["items"][0]


def test_search_is_scoped(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    assert client.get(f"/api/v1/instances?business_key={case['business_key']}",
                      headers=api_headers("qian.sl")).get_json()["total"] == 0
    bad = client.get("/api/v1/instances?status=sleeping", headers=api_headers("li.sl"))
    assert bad.status_code == 422


def test_concurrent_retries_with_one_key_create_one_case(committed):
    """Two clients sending the same key at once (a hotline's retry racing its original) get one case."""
    import threading

    from sqlalchemy import delete

    from engine.org.auth import issue_token
    from engine.store.models import ApiToken
    from web.app import create_app

    app = create_app(committed.settings, services=committed)
    app.config.update(TESTING=True)
    with committed.session() as s:
        token = issue_token(s, username="li.sl", label="race")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "race-0001"}
    results, barrier = [], threading.Barrier(2)

    def send():
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/instances", json={"process": "review"}, headers=headers)
        results.append((response.status_code, response.get_json().get("id")))

    threads = [threading.Thread(target=send) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert [status for status, _ in results] == [201, 201]
        assert len({case_id for _, case_id in results}) == 1
    finally:
        with committed.session() as s:
            s.execute(delete(IdempotencyKey).where(IdempotencyKey.key == "race-0001"))
            s.execute(delete(ApiToken).where(ApiToken.label == "race"))
