"""POST /api/v1/migrations and GET /api/v1/migrations/{job}: designers only, dry run, a job with progress."""
from __future__ import annotations

import pytest

from engine.org.orgs import actor_for
from engine.store.models import Instance
from tests.factories import open_tasks
from tests.studio.mediation_versions import (
    add_review_step, copy_mediation, deploy_version, remove_leader_step, start_at,
)


@pytest.fixture
def mediation(session, tmp_path):
    """Mediation v1 with a case at acceptance and a high-risk case at its alerts, then v2 (review added, leader step removed)."""
    repo = copy_mediation(tmp_path / "repo")
    v1 = deploy_version(session, repo)
    actors = lambda name: actor_for(session, username=name)  # noqa: E731
    movable = start_at(session, actors, "accept", version=v1)
    stuck = start_at(session, actors, "alerts", version=v1)
    add_review_step(repo)
    remove_leader_step(repo)
    v2 = deploy_version(session, repo)
    session.commit()
    return {"v1": v1, "v2": v2, "movable": movable.id, "stuck": stuck.id}


def _version(session, instance_id: int) -> int:
    session.expire_all()
    return session.get(Instance, instance_id).definition.version


def test_staff_get_403(client, api_headers, mediation):
    body = {"process": "mediation", "to_version": mediation["v2"], "dry_run": True}
    for user in ("li.sl", "zheng.dc", "he.ld"):
        refused = client.post("/api/v1/migrations", json=body, headers=api_headers(user))
        assert refused.status_code == 403, user
        assert refused.get_json()["message"] == "只有流程设计员和系统管理员可以使用流程设计"
    assert client.get("/api/v1/migrations/1", headers=api_headers("li.sl")).status_code == 403


def test_dry_run_lists_each_case_and_changes_nothing(client, api_headers, session, mediation):
    response = client.post("/api/v1/migrations", headers=api_headers("designer"), json={
        "process": "mediation", "to_version": mediation["v2"], "from_version": mediation["v1"],
        "instances": [mediation["movable"], mediation["stuck"]], "dry_run": True})
    assert response.status_code == 200
    cases = {c["id"]: c for c in response.get_json()["cases"]}
    assert set(cases) == {mediation["movable"], mediation["stuck"]} and response.get_json()["total"] == 2
    assert cases[mediation["movable"]]["ok"] is True
    assert cases[mediation["movable"]]["business_key"].startswith("TJ-")
    assert cases[mediation["stuck"]] == {
        "id": mediation["stuck"], "business_key": cases[mediation["stuck"]]["business_key"], "ok": False,
        "reason": f"当前步骤“领导阅批”在 v{mediation['v2']} 中已删除",
        "reason_en": f"the current task 'alert_leader' is gone in v{mediation['v2']}", "from_version": mediation["v1"]}
    assert _version(session, mediation["movable"]) == mediation["v1"]


def test_a_job_moves_the_cases_and_reports_progress(client, api_headers, session, mediation, login):
    started = client.post("/api/v1/migrations", headers=api_headers("designer"), json={
        "process": "mediation", "to_version": mediation["v2"], "from_version": mediation["v1"],
        "instances": [mediation["movable"], mediation["stuck"]], "dry_run": False})
    assert started.status_code == 202
    job = started.get_json()["job"]
    progress = client.get(f"/api/v1/migrations/{job}", headers=api_headers("admin"))
    assert progress.status_code == 200
    body = progress.get_json()
    assert (body["status"], body["done"], body["total"], body["moved"]) == ("done", 2, 2, 1)
    assert [(c["id"], c["ok"]) for c in body["cases"]] == [(mediation["movable"], True), (mediation["stuck"], False)]
    assert body["created_by"] == "designer" and body["to_version"] == mediation["v2"]
    assert _version(session, mediation["movable"]) == mediation["v2"]
    assert _version(session, mediation["stuck"]) == mediation["v1"]
    # The case page's API shows the moved case on the new version with its task kept.
    case = client.get(f"/api/v1/instances/{mediation['movable']}", headers=api_headers("admin")).get_json()
    assert [t["id"] for t in case["open_tasks"]] == [t.id for t in open_tasks(session, mediation["movable"])]
    # The case page draws the new version's diagram, with the added step; the refused case keeps the old one.
    login(client, "admin")
    assert 'id="review"' in client.get(f"/cases/{mediation['movable']}/diagram.bpmn").get_data(as_text=True)
    assert 'id="review"' not in client.get(f"/cases/{mediation['stuck']}/diagram.bpmn").get_data(as_text=True)
    page = client.get(f"/cases/{mediation['movable']}").get_data(as_text=True)
    assert "迁移到新版本" in page and f"流程版本 v{mediation['v1']} → v{mediation['v2']}" in page


def test_bad_requests_change_nothing(client, api_headers, session, mediation):
    headers = api_headers("designer")
    assert client.post("/api/v1/migrations", json={"process": "mediation"}, headers=headers).status_code == 422
    missing = client.post("/api/v1/migrations", json={"process": "mediation", "to_version": 99, "dry_run": False},
                          headers=headers)
    assert missing.status_code == 404
    assert client.get("/api/v1/migrations/2147483647", headers=headers).status_code == 404
    assert _version(session, mediation["movable"]) == mediation["v1"]


def test_the_openapi_document_describes_both_operations(client, api_headers):
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/migrations"]["post"]
    assert {"200", "202", "403", "422"} <= set(post["responses"])
    assert "dry_run" in spec["components"]["schemas"]["MigrationRequest"]["properties"]
    assert "/api/v1/migrations/{job_id}" in spec["paths"]


def test_a_stopped_job_is_resumed(client, api_headers, session, frozen, mediation):
    from datetime import timedelta

    from engine.org.orgs import actor_for
    from engine.studio.migration import LEASE, start_migration
    from engine.studio.migration_models import JobStatus

    job = start_migration(session, actor=actor_for(session, username="designer"), process_key="mediation",
                          to_version=mediation["v2"], instance_ids=[mediation["movable"]])
    job.status, job.heartbeat_at = JobStatus.RUNNING, frozen.now()  # a runner took it ...
    session.commit()
    headers = api_headers("designer")
    live = client.get(f"/api/v1/migrations/{job.id}", headers=headers).get_json()
    assert (live["status"], live["stalled"]) == ("running", False)
    assert client.post(f"/api/v1/migrations/{job.id}/resume", headers=headers).status_code == 409
    frozen.advance(LEASE + timedelta(seconds=1))  # ... and died with the web process
    assert client.get(f"/api/v1/migrations/{job.id}", headers=headers).get_json()["stalled"] is True
    assert client.post(f"/api/v1/migrations/{job.id}/resume", headers=api_headers("li.sl")).status_code == 403
    resumed = client.post(f"/api/v1/migrations/{job.id}/resume", headers=headers)
    assert resumed.status_code == 202
    body = resumed.get_json()
    assert (body["status"], body["stalled"], body["done"], body["moved"]) == ("done", False, 1, 1)
    assert _version(session, mediation["movable"]) == mediation["v2"]
    assert client.post(f"/api/v1/migrations/{job.id}/resume", headers=headers).status_code == 409


def test_the_latest_jobs_are_listed(client, api_headers, mediation):
    headers = api_headers("designer")
    first = client.post("/api/v1/migrations", headers=headers, json={
        "process": "mediation", "to_version": mediation["v2"], "instances": [mediation["stuck"]], "dry_run": False})
    second = client.post("/api/v1/migrations", headers=headers, json={
        "process": "mediation", "to_version": mediation["v2"], "instances": [mediation["movable"]], "dry_run": False})
    listed = client.get("/api/v1/migrations?process=mediation", headers=headers)
    assert listed.status_code == 200
    jobs = listed.get_json()
    assert [j["id"] for j in jobs[:2]] == [second.get_json()["job"], first.get_json()["job"]]
    assert [(j["status"], j["moved"], j["total"]) for j in jobs[:2]] == [("done", 1, 1), ("done", 0, 1)]
    assert "cases" not in jobs[0]
    assert client.get("/api/v1/migrations?process=review", headers=headers).get_json() == []
    assert client.get("/api/v1/migrations", headers=api_headers("li.sl")).status_code == 403
