"""Bad input never reaches a 500: malformed JSON, wrong types, unknown ids, huge or odd payloads."""
from __future__ import annotations

import pytest

from .helpers import open_task_id, start_case


def _assert_error(response, status):
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert set(body) >= {"error", "message", "details"} and isinstance(body["details"], list)
    return body


def test_malformed_json(client, api_headers):
    response = client.post("/api/v1/instances", data='{"process": "review",', content_type="application/json",
                           headers=api_headers("li.sl"))
    body = _assert_error(response, 400)
    assert body["message"] == "JSON 格式不正确"


@pytest.mark.parametrize("payload", [[], "text", 42, {"process": 7}, {"process": "review", "data": "x"},
                                     {"process": "review", "version": "latest"}, {"process": "review", "extra": 1}])
def test_wrong_types_are_422_with_field_details(client, api_headers, payload):
    body = _assert_error(client.post("/api/v1/instances", json=payload, headers=api_headers("li.sl")), 422)
    assert body["details"] and all("message" in d for d in body["details"])


def test_unknown_ids_are_404(client, api_headers):
    headers = api_headers("li.sl")
    for path in ("/api/v1/instances/2147483647", "/api/v1/instances/99999999999999999999999",
                 "/api/v1/tasks/" + "x" * 5000, "/api/v1/attachments/%2e%2e", "/api/v1/processes/" + "k" * 500):
        _assert_error(client.get(path, headers=headers), 404)
    _assert_error(client.post("/api/v1/tasks/nope/complete", json={"data": {}}, headers=headers), 404)
    _assert_error(client.post("/api/v1/instances/-1/cancel", json={}, headers=headers), 404)


def test_huge_json_body_is_413(client, api_headers):
    big = {"process": "review", "data": {"subject": "x" * (3 * 1024 * 1024)}}
    _assert_error(client.post("/api/v1/instances", json=big, headers=api_headers("li.sl")), 413)


def test_deeply_nested_json_is_refused(client, api_headers):
    deep = '{"process": "review", "data": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    response = client.post("/api/v1/instances", data=deep, content_type="application/json", headers=api_headers("li.sl"))
    assert 400 <= response.status_code < 500


def test_nul_characters_are_400(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    response = client.post(f"/api/v1/tasks/{open_task_id(case)}/complete",
                           json={"data": {"subject": "a\u0000b", "amount": 1}}, headers=api_headers("li.sl"))
    _assert_error(response, 400)
    _assert_error(client.get("/api/v1/tasks?process=a%00b", headers=api_headers("li.sl")), 400)


def test_odd_but_valid_text_is_kept(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    subject = "𠮷野家 🏠 '; DROP TABLE instances; --"
    done = client.post(f"/api/v1/tasks/{open_task_id(case)}/complete",
                       json={"data": {"subject": subject, "amount": "１２"}}, headers=api_headers("li.sl"))
    assert done.status_code == 200
    detail = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("li.sl")).get_json()
    assert detail["data"]["subject"] == subject and detail["data"]["amount"] == 12


def test_wrong_method_is_405_json(client, api_headers):
    response = client.delete("/api/v1/processes", headers=api_headers("li.sl"))
    _assert_error(response, 405)
    assert "GET" in response.headers["Allow"]
