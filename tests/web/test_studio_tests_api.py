"""The studio's test API: a draft's scenarios run with the failing step and path; play, record, save, run."""
from __future__ import annotations

import yaml

from tests.scenario_player import library_files
from tests.studio.conftest import library  # noqa: F401 (fixture)

NOT_ACCEPTED = yaml.safe_load(library_files("mediation")["tests/scenarios/mediation/not_accepted.yaml"])


def _draft(client, headers, *, scenarios: bool = False) -> dict:
    """A draft of the deployed mediation, with the library's scenarios when asked."""
    response = client.post("/api/v1/drafts", json={"process": "mediation"}, headers=headers)
    assert response.status_code == 201, response.get_json()
    draft = response.get_json()
    for path, text in library_files("mediation").items():
        if scenarios and path.startswith("tests/"):
            saved = client.put(f"/api/v1/drafts/{draft['id']}/files/{path}",
                               json={"text": text, "base_revision": draft["revision"]}, headers=headers)
            assert saved.status_code == 200, saved.get_json()
            draft["revision"] = saved.get_json()["revision"]
    return draft


def test_a_drafts_scenarios_pass_and_a_broken_one_names_its_step(client, api_headers, library):  # noqa: F811
    h = api_headers("designer")
    draft = _draft(client, h, scenarios=True)
    report = client.post(f"/api/v1/drafts/{draft['id']}/test", json={}, headers=h)
    assert report.status_code == 200, report.get_json()
    body = report.get_json()
    assert body["failed"] == 0 and body["passed"] == len(body["scenarios"]) >= 8
    assert {s["name"] for s in body["scenarios"]} >= {"mediation/not_accepted", "mediation/limit_no_consent"}
    limit = next(s for s in body["scenarios"] if s["name"] == "mediation/limit_no_consent")
    assert limit["passed"] and limit["failing_step"] is None and "limit_timer" in limit["path"]

    broken = dict(NOT_ACCEPTED, expect={"status": "completed", "end": "end_closed"})
    url = f"/api/v1/drafts/{draft['id']}/files/tests/scenarios/mediation/broken.yaml"
    saved = client.put(url, json={"text": yaml.safe_dump(broken, allow_unicode=True), "base_revision": draft["revision"]},
                       headers=h)
    assert saved.status_code == 200, saved.get_json()
    listed = client.get(f"/api/v1/drafts/{draft['id']}/scenarios", headers=h).get_json()
    assert {"name": "mediation/broken", "process": "mediation", "file": "tests/scenarios/mediation/broken.yaml",
            "title": NOT_ACCEPTED["title"], "steps": 2, "problem": None} in listed
    body = client.post(f"/api/v1/drafts/{draft['id']}/test", json={"only": ["broken"]}, headers=h).get_json()
    [result] = body["scenarios"]
    assert (result["name"], result["passed"], body["failed"]) == ("mediation/broken", False, 1)
    assert result["failing_step"] == {"index": 3, "kind": "end", "description": "结束时的检查"}
    assert "预期结束于 end_closed" in result["message"]
    assert result["path"][-1] == "end_not_accepted"


def test_only_designers_test_and_play(client, api_headers, library):  # noqa: F811
    draft = _draft(client, api_headers("designer"))
    for url in (f"/api/v1/drafts/{draft['id']}/test", f"/api/v1/drafts/{draft['id']}/play"):
        refused = client.post(url, json={}, headers=api_headers("li.sl"))
        assert refused.status_code == 403 and "流程设计员" in refused.get_json()["message"]
    assert client.post("/api/v1/drafts/999999/test", json={}, headers=api_headers("designer")).status_code == 404


def test_play_record_save_and_run(client, api_headers, library):  # noqa: F811
    h = api_headers("designer")
    draft = _draft(client, h)
    play = client.post(f"/api/v1/drafts/{draft['id']}/play", headers=h)
    assert play.status_code == 201, play.get_json()
    view = play.get_json()
    assert view["started"] is False and view["now"].startswith("2026-03-02T01:00")
    assert "li.sl" in [p["username"] for p in view["starters"]] and view["start_form"]["properties"]
    base = f"/api/v1/drafts/{draft['id']}/play/{view['id']}"

    view = client.post(base + "/start", json={"as": "li.sl", "data": NOT_ACCEPTED["start"]["data"]}, headers=h).get_json()
    [accept] = view["tasks"]
    assert accept["element_id"] == "accept" and "li.sl" in [p["username"] for p in accept["candidates"]]

    invalid = client.post(base + f"/tasks/{accept['id']}/complete", json={"as": "li.sl", "data": {"accepted": False}},
                          headers=h)
    assert invalid.status_code == 422 and invalid.get_json()["details"]
    wrong = client.post(base + f"/tasks/{accept['id']}/complete", json={"as": "chen.tj", "data": {}}, headers=h)
    assert wrong.status_code == 403

    waited = client.post(base + "/advance", json={"hours": 2}, headers=h).get_json()
    assert waited["now"].startswith("2026-03-02T03:00")
    done = client.post(base + f"/tasks/{accept['id']}/complete", json={
        "as": "li.sl", "data": NOT_ACCEPTED["steps"][1]["data"]}, headers=h)
    assert done.status_code == 200, done.get_json()
    view = done.get_json()
    assert view["case"]["status"] == "completed" and view["path"][-1] == "end_not_accepted"

    preview = client.get(base + "/recording?title=不予受理（录制）", headers=h).get_json()["text"]
    assert "title: 不予受理（录制）" in preview and "advance: PT2H" in preview

    saved = client.post(base + "/save", json={"name": "recorded", "title": "不予受理（录制）",
                                              "base_revision": draft["revision"]}, headers=h)
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json() == {"path": "tests/scenarios/mediation/recorded.yaml", "revision": draft["revision"] + 1}
    body = client.post(f"/api/v1/drafts/{draft['id']}/test", json={"only": ["recorded"]}, headers=h).get_json()
    assert [(s["name"], s["passed"]) for s in body["scenarios"]] == [("mediation/recorded", True)]

    again = client.post(base + "/save", json={"name": "recorded", "base_revision": draft["revision"] + 1}, headers=h)
    assert again.status_code == 409
    bad_name = client.post(base + "/save", json={"name": "../x", "base_revision": 2}, headers=h)
    assert bad_name.status_code == 422

    # Someone else's session is not there for them; an ended one is gone.
    assert client.get(base, headers=api_headers("admin")).status_code == 404
    assert client.delete(base, headers=h).status_code == 204
    assert client.get(base, headers=h).status_code == 404
