"""The examples of docs/api.md are run: their process keys exist and their requests get the answers shown."""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.web.test_submission_contract import library  # noqa: F401 (fixture)

API_MD = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
PROCESSES = {p.stem for p in (Path(__file__).resolve().parents[2] / "processes").glob("*.bpmn")}


def _bodies() -> list[dict]:
    """Every JSON request body of the examples (the part after ``-d '``)."""
    return [json.loads(b) for b in re.findall(r"-d '(\{.*?\})'", API_MD)]


def test_every_process_key_in_the_examples_exists():
    named = set(re.findall(r'"process": "([a-z_]+)"', API_MD)) | set(re.findall(r"/processes/([a-z_]+)\"", API_MD))
    assert named and named <= PROCESSES, named - PROCESSES


def test_the_case_and_task_examples_do_what_the_guide_says(client, api_headers, session, library):  # noqa: F811
    bodies = _bodies()
    start = next(b for b in bodies if b.get("process") == "grid_event")
    assert client.get("/api/v1/processes/grid_event", headers=api_headers("wang.wg")).get_json()["start_form_schema"]
    case = client.post("/api/v1/instances", json=start, headers=api_headers("wang.wg") | {"Idempotency-Key": "12345-1"})
    assert case.status_code == 201
    body = case.get_json()
    assert body["business_key"].startswith("WG-") and [t["element_id"] for t in body["open_tasks"]] == ["accept"]
    task = body["open_tasks"][0]["id"]

    complete = next(b for b in bodies if b.get("opinion") == "情况属实，予以立案")
    refused = client.post(f"/api/v1/tasks/{task}/complete", json={"data": {"decision": "立案"}},
                          headers=api_headers("li.sl"))
    assert refused.status_code == 422
    assert [(d["field"], d["message"]) for d in refused.get_json()["details"]] == [("category", "此项为必填项")]
    assert '"details": [{"field": "category", "message": "此项为必填项"' in API_MD
    assert client.post(f"/api/v1/tasks/{task}/complete", json=complete, headers=api_headers("li.sl")).status_code == 200
    again = client.post(f"/api/v1/tasks/{task}/complete", json=complete, headers=api_headers("li.sl"))
    assert again.status_code == 409 and again.get_json()["error"] == "task_not_open"

    dispatch = next(t for t in client.get(f"/api/v1/instances/{body['id']}", headers=api_headers("li.sl"))
                    .get_json()["open_tasks"] if t["element_id"] == "dispatch")
    back = next(b for b in bodies if "to_task" in b)
    returned = client.post(f"/api/v1/tasks/{dispatch['id']}/return", json=back, headers=api_headers("li.sl"))
    assert returned.status_code == 200
    assert [t["element_id"] for t in returned.get_json()["open_tasks"]] == ["accept"]
