"""The studio API: drafts, files, history, conflicts, validation, diff, deploy with a note, versions, export."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from engine.studio.models import Draft
from tests.studio.conftest import library  # noqa: F401 (fixture)


def _new(client, headers, **body):
    response = client.post("/api/v1/drafts", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_draft_from_a_version_read_and_saved_file_by_file(client, api_headers, library):  # noqa: F811
    h = api_headers("designer")
    draft = _new(client, h, process="mediation")
    assert draft["revision"] == 1 and draft["base_version"] == 1 and "processes/mediation.yaml" in draft["files"]
    url = f"/api/v1/drafts/{draft['id']}/files/processes/mediation.yaml"
    got = client.get(url, headers=h).get_json()
    assert got["kind"] == "parameters" and got["revision"] == 1 and "accept_workdays: 1" in got["text"]
    saved = client.put(url, json={"text": got["text"].replace("accept_workdays: 1", "accept_workdays: 2"),
                                  "base_revision": 1}, headers=h)
    assert saved.status_code == 200 and saved.get_json()["revision"] == 2
    assert "accept_workdays: 2" in client.get(url, headers=h).get_json()["text"]
    history = client.get(f"/api/v1/drafts/{draft['id']}/history", headers=h).get_json()
    assert [(r["revision"], r["action"], r["path"], r["saved_by_name"]) for r in history] == [
        (2, "saved", "processes/mediation.yaml", "流程设计员"), (1, "created", None, "流程设计员")]


def test_a_stale_save_answers_409_naming_the_other_designer(client, api_headers):
    draft = _new(client, api_headers("designer"), process="clash")
    url = f"/api/v1/drafts/{draft['id']}/files/processes/clash.yaml"
    assert client.put(url, json={"text": "name: 管理员的\n", "base_revision": 1},
                      headers=api_headers("admin")).status_code == 200
    stale = client.put(url, json={"text": "name: 设计员的\n", "base_revision": 1}, headers=api_headers("designer"))
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["error"] == "conflict" and "系统管理员" in body["message"]
    assert client.get(url, headers=api_headers("designer")).get_json()["text"] == "name: 管理员的\n"


def test_staff_get_403_and_nothing_is_created(client, api_headers, session):
    h = api_headers("wang.wg")
    before = session.scalar(select(func.count()).select_from(Draft))
    assert client.post("/api/v1/drafts", json={}, headers=h).status_code == 403
    assert client.get("/api/v1/drafts", headers=h).status_code == 403
    assert client.get("/api/v1/processes/review/versions", headers=h).status_code == 403
    assert client.get("/api/v1/processes/review/versions/1/export", headers=h).status_code == 403
    draft = _new(client, api_headers("designer"))
    for method, url in [("get", f"/api/v1/drafts/{draft['id']}"), ("post", f"/api/v1/drafts/{draft['id']}/validate"),
                        ("get", f"/api/v1/drafts/{draft['id']}/history"),
                        ("get", f"/api/v1/drafts/{draft['id']}/diff")]:
        assert getattr(client, method)(url, headers=h).status_code == 403, url
    assert client.post(f"/api/v1/drafts/{draft['id']}/deploy", json={"note": "x"}, headers=h).status_code == 403
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Draft)) == before + 1


def test_a_bad_path_is_refused_and_the_draft_is_unchanged(client, api_headers):
    h = api_headers("designer")
    draft = _new(client, h, process="paths_api")
    for path in ["web/app.py", "processes/x.py", "forms/a/b/c.yaml"]:
        response = client.put(f"/api/v1/drafts/{draft['id']}/files/{path}", json={"text": "x", "base_revision": 1},
                              headers=h)
        assert response.status_code == 400 and "不允许的文件路径" in response.get_json()["message"], path
    assert client.get(f"/api/v1/drafts/{draft['id']}", headers=h).get_json()["revision"] == 1


def test_a_multipart_upload_starts_a_draft(client, api_headers):
    from engine.studio.drafts import skeleton

    files = skeleton("uploaded_api", "上传的流程")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    response = client.post("/api/v1/drafts", data={"files": [(io.BytesIO(buffer.getvalue()), "model.zip")],
                                                   "name": "我的上传"},
                           headers=api_headers("designer"), content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["process"] == "uploaded_api" and body["name"] == "我的上传" and body["files"] == sorted(files)
    bad = client.post("/api/v1/drafts", data={"files": [(io.BytesIO(b"\xff\xfe"), "x.bpmn")]},
                      headers=api_headers("designer"), content_type="multipart/form-data")
    assert bad.status_code == 400 and "UTF-8" in bad.get_json()["message"]


def test_a_camunda_modeler_file_uploaded_is_imported_into_the_draft(client, api_headers):
    from tests.studio.test_import import LEAVE

    response = client.post("/api/v1/drafts", data={"files": [(io.BytesIO(LEAVE.encode()), "Leave Request.bpmn")]},
                           headers=api_headers("designer"), content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    # Named by its process, its Camunda settings converted and each change said; the file is Pingan's now.
    assert body["process"] == "leave_request" and "processes/leave_request.bpmn" in body["files"]
    assert body["import_changes"] and any(path.startswith("forms/leave_request/") for path in body["files"])
    text = client.get(f"/api/v1/drafts/{body['id']}/files/processes/leave_request.bpmn",
                      headers=api_headers("designer")).get_json()["text"]
    assert "camunda:formKey" not in text


def test_validate_lists_problems_with_file_line_and_element(client, api_headers):
    h = api_headers("designer")
    draft = _new(client, h, process="checked")
    assert client.post(f"/api/v1/drafts/{draft['id']}/validate", headers=h).get_json() == {"problems": []}
    url = f"/api/v1/drafts/{draft['id']}/files/processes/checked.bpmn"
    text = client.get(url, headers=h).get_json()["text"]
    broken = text.replace('targetRef="end" />', 'targetRef="orphan_task" />\n'
                          '    <bpmn:userTask id="orphan_task" name="无人办理">\n'
                          '      <bpmn:incoming>flow_1</bpmn:incoming>\n      <bpmn:outgoing>flow_2</bpmn:outgoing>\n'
                          '    </bpmn:userTask>\n'
                          '    <bpmn:sequenceFlow id="flow_2" sourceRef="orphan_task" targetRef="end" />')
    assert client.put(url, json={"text": broken, "base_revision": 1}, headers=h).status_code == 200
    problems = client.post(f"/api/v1/drafts/{draft['id']}/validate", headers=h).get_json()["problems"]
    assert problems and all(p["file"] == "processes/checked.bpmn" for p in problems)
    lane = next(p for p in problems if "泳道" in p["message"])
    assert lane["element_id"] == "orphan_task" and lane["line"] == broken.splitlines().index(
        '    <bpmn:userTask id="orphan_task" name="无人办理">') + 1 and "lane" in lane["message_en"]
    assert any("forms/checked/orphan_task.yaml" in p["message"] for p in problems)


def test_diff_deploy_versions_and_export_over_the_api(client, api_headers, library):  # noqa: F811
    from tests.studio.conftest import REVIEW_FORM, add_review_step

    h = api_headers("designer")
    draft = _new(client, h, process="mediation")
    base = f"/api/v1/drafts/{draft['id']}"
    bpmn = client.get(f"{base}/files/processes/mediation.bpmn", headers=h).get_json()["text"]
    assert client.put(f"{base}/files/processes/mediation.bpmn", json={"text": add_review_step(bpmn), "base_revision": 1},
                      headers=h).status_code == 200
    assert client.put(f"{base}/files/forms/mediation/review.yaml", json={"text": REVIEW_FORM, "base_revision": 2},
                      headers=h).status_code == 200
    diff = client.get(f"{base}/diff?against=1", headers=h).get_json()
    assert diff["against"] == 1 and diff["elements"]["added"] == ["f_review_accept", "review"]
    assert diff["elements"]["changed"] == ["f_start_accept", "lane_0"]
    assert {(f["path"], f["status"]) for f in diff["files"]} == {
        ("processes/mediation.bpmn", "changed"), ("forms/mediation/review.yaml", "added")}

    assert client.post(f"{base}/deploy", json={"note": ""}, headers=h).status_code == 422
    deployed = client.post(f"{base}/deploy", json={"note": "增加受理复核"}, headers=h)
    assert deployed.status_code == 201 and deployed.get_json() == {"key": "mediation", "version": 2, "created": True}
    listed = client.get("/api/v1/processes/mediation/versions", headers=h).get_json()
    assert [(v["version"], v["note"], v["deployed_by"], v["running"], v["latest"]) for v in listed] == [
        (2, "增加受理复核", "designer", 0, True), (1, None, None, 0, False)]

    exported = client.get("/api/v1/processes/mediation/versions/2/export", headers=h)
    assert exported.status_code == 200 and exported.mimetype == "application/zip"
    assert exported.headers["Content-Disposition"] == "attachment; filename=mediation-v2.zip"
    names = zipfile.ZipFile(io.BytesIO(exported.data)).namelist()
    assert "forms/mediation/review.yaml" in names and "processes/mediation.bpmn" in names
    assert client.get("/api/v1/processes/mediation/versions/9/export", headers=h).status_code == 404
    assert client.get("/api/v1/processes/nothing_here/versions", headers=h).status_code == 404


def test_an_invalid_draft_is_refused_with_its_problems(client, api_headers):
    h = api_headers("designer")
    draft = _new(client, h, process="refused")
    url = f"/api/v1/drafts/{draft['id']}/files/processes/refused.yaml"
    client.put(url, json={"text": "name: x\ncolour: red\n", "base_revision": 1}, headers=h)
    response = client.post(f"/api/v1/drafts/{draft['id']}/deploy", json={"note": "试试"}, headers=h)
    assert response.status_code == 422
    assert [d["file"] for d in response.get_json()["details"]] == ["processes/refused.yaml"]
    assert client.get("/api/v1/processes/refused/versions", headers=h).status_code == 404


def test_two_versions_diff_over_the_api(client, api_headers, library):  # noqa: F811
    h = api_headers("designer")
    draft = _new(client, h, process="mediation")
    url = f"/api/v1/drafts/{draft['id']}/files/processes/mediation.yaml"
    text = client.get(url, headers=h).get_json()["text"]
    client.put(url, json={"text": text.replace("accept_workdays: 1", "accept_workdays: 2"), "base_revision": 1}, headers=h)
    assert client.post(f"/api/v1/drafts/{draft['id']}/deploy", json={"note": "时限"}, headers=h).status_code == 201
    diff = client.get("/api/v1/processes/mediation/versions/2/diff?against=1", headers=h).get_json()
    assert diff["elements"]["changed"] == [] and [f["path"] for f in diff["files"]] == ["processes/mediation.yaml"]
    change = diff["files"][0]["changes"][0]
    assert (change["name"], change["before"], change["after"]) == ("accept_workdays", "1", "2")
    assert client.get("/api/v1/processes/mediation/versions/2/diff?against=1",
                      headers=api_headers("he.ld")).status_code == 403


def test_drafts_are_listed_newest_first_and_by_process(client, api_headers):
    h = api_headers("designer")
    first, second = _new(client, h, process="list_a"), _new(client, h, process="list_b")
    listed = [d["id"] for d in client.get("/api/v1/drafts", headers=h).get_json()]
    assert listed.index(second["id"]) < listed.index(first["id"])
    only = client.get("/api/v1/drafts?process=list_a", headers=h).get_json()
    assert [d["id"] for d in only] == [first["id"]] and only[0]["updated_by_name"] == "流程设计员"


def test_an_earlier_revision_of_a_file_can_be_read_back(client, api_headers):
    h = api_headers("designer")
    draft = _new(client, h, process="revisions")
    url = f"/api/v1/drafts/{draft['id']}/files/processes/revisions.yaml"
    client.put(url, json={"text": "name: 第一稿\n", "base_revision": 1}, headers=h)
    client.put(url, json={"text": "name: 第二稿\n", "base_revision": 2}, headers=h)
    old = client.get(f"/api/v1/drafts/{draft['id']}/history/2", headers=h).get_json()
    assert (old["path"], old["text"], old["saved_by_name"]) == ("processes/revisions.yaml", "name: 第一稿\n", "流程设计员")
    assert client.get(f"/api/v1/drafts/{draft['id']}/history/9", headers=h).status_code == 404
    assert client.get(f"/api/v1/drafts/{draft['id']}/history/2", headers=api_headers("wang.wg")).status_code == 403
