"""Messages from outside: delivered to the waiting case, kept when the definition says so, else 404."""
from __future__ import annotations

from .helpers import open_task_id, start_case


def _waiting_case(client, api_headers, case_no="(2026)平调确字第1号"):
    case = start_case(client, api_headers("chen.tj"), "await_msg")
    done = client.post(f"/api/v1/tasks/{open_task_id(case, 'record')}/complete", json={"data": {"case_no": case_no}},
                       headers=api_headers("chen.tj"))
    assert done.status_code == 200
    return case


def test_message_reaches_the_waiting_case(client, api_headers):
    case = _waiting_case(client, api_headers)
    response = client.post("/api/v1/messages/judicial_confirmation",
                           json={"correlation": {"case_no": "(2026)平调确字第1号"}, "payload": {"confirmed": True}},
                           headers=api_headers("zhang.dd"))
    assert response.status_code == 200
    assert response.get_json() == {"delivered_to": [case["id"]], "started": [], "kept": None}
    detail = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("chen.tj")).get_json()
    assert detail["status"] == "completed"
    assert "message_received" in [h["kind"] for h in detail["history"]]


def test_unmatched_message_is_kept_when_the_definition_says_so(client, api_headers):
    response = client.post("/api/v1/messages/judicial_confirmation", json={"correlation": {"case_no": "nobody"}},
                           headers=api_headers("zhang.dd"))
    assert response.status_code == 200
    assert response.get_json()["kept"] is not None


def test_message_nobody_waits_for_is_404(client, api_headers):
    response = client.post("/api/v1/messages/court_ruling", json={"payload": {}}, headers=api_headers("zhang.dd"))
    assert response.status_code == 404
    assert response.get_json()["error"] == "message_not_delivered"


def test_only_integration_roles_send_messages(client, api_headers):
    assert client.post("/api/v1/messages/judicial_confirmation", json={}, headers=api_headers("chen.tj")).status_code == 403
    assert client.post("/api/v1/messages/judicial_confirmation", json={"correlation": "x"},
                       headers=api_headers("zhang.dd")).status_code == 422
