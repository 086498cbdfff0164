"""Attachments: upload limits by size and type, the stored checksum, downloads only for who may see the case."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path


from engine.store.models import Attachment

from .helpers import ID_NUMBER, PHONE, deploy_privacy, open_task_id, start_case

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.7\n" + b"x" * 100


def _upload(client, headers, instance_id, content, filename, **form):
    data = {"file": (io.BytesIO(content), filename), **form}
    return client.post(f"/api/v1/instances/{instance_id}/attachments", data=data, headers=headers,
                       content_type="multipart/form-data")


def _privacy_case(client, api_headers, session, tmp_path):
    deploy_privacy(session, tmp_path)
    return start_case(client, api_headers("li.sl"), "privacy", {"applicant": "张三", "phone": PHONE, "id_number": ID_NUMBER})


def test_upload_stores_file_and_checksum(client, api_headers, session, services):
    case = start_case(client, api_headers("li.sl"))
    response = _upload(client, api_headers("li.sl"), case["id"], JPEG, "现场照片.JPG")
    assert response.status_code == 201
    body = response.get_json()
    assert body["filename"] == "现场照片.JPG" and body["content_type"] == "image/jpeg"
    assert body["size"] == len(JPEG) and body["sha256"] == hashlib.sha256(JPEG).hexdigest()
    row = session.get(Attachment, body["id"])
    assert row.sha256 == hashlib.sha256(JPEG).hexdigest() and row.instance_id == case["id"]
    stored = Path(services.settings.instance_path) / "attachments" / str(case["id"]) / body["id"]
    assert stored.read_bytes() == JPEG
    listed = client.get(f"/api/v1/instances/{case['id']}/attachments", headers=api_headers("li.sl")).get_json()
    assert [a["id"] for a in listed] == [body["id"]]
    detail = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("li.sl")).get_json()
    assert [a["id"] for a in detail["attachments"]] == [body["id"]]


def test_type_and_content_are_checked(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    headers = api_headers("li.sl")
    exe = _upload(client, headers, case["id"], b"MZ\x90\x00", "tool.exe")
    assert exe.status_code == 422 and exe.get_json()["error"] == "attachment_rejected"
    disguised = _upload(client, headers, case["id"], b"MZ\x90\x00" * 10, "photo.jpg")
    assert disguised.status_code == 422 and "不符" in disguised.get_json()["message"]
    assert _upload(client, headers, case["id"], b"", "empty.pdf").status_code == 422
    assert _upload(client, headers, case["id"], PDF, "report.pdf").status_code == 201
    assert _upload(client, headers, case["id"], "情况说明\n".encode("gb18030"), "note.txt").status_code == 201
    no_file = client.post(f"/api/v1/instances/{case['id']}/attachments", data={"task_id": "x"}, headers=headers,
                          content_type="multipart/form-data")
    assert no_file.status_code == 422


def test_size_limit(client, api_headers, services, monkeypatch):
    monkeypatch.setattr(services.context, "settings", services.context.settings.with_(attachment_max_mb=1))
    case = start_case(client, api_headers("li.sl"))
    too_big = _upload(client, api_headers("li.sl"), case["id"], PDF + b"x" * (1024 * 1024), "big.pdf")
    assert too_big.status_code == 413
    assert too_big.get_json()["error"] == "attachment_too_large"


def test_request_over_the_server_limit_is_413_json(app, client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = _upload(client, api_headers("li.sl"), case["id"], PDF + b"x" * 4096, "big.pdf")
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"


def test_field_accept_list_applies(client, api_headers, session, tmp_path):
    case = _privacy_case(client, api_headers, session, tmp_path)
    task_id = open_task_id(case, "handle")
    headers = api_headers("li.sl")
    pdf = _upload(client, headers, case["id"], PDF, "a.pdf", task_id=task_id, field="photos")
    assert pdf.status_code == 422
    png = _upload(client, headers, case["id"], PNG, "a.png", task_id=task_id, field="photos")
    assert png.status_code == 201
    done = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"result": "已处理", "photos": [png.get_json()["id"]]}},
                       headers=headers)
    assert done.status_code == 200
    assert client.get(f"/api/v1/instances/{case['id']}", headers=headers).get_json()["data"]["photos"] == [png.get_json()["id"]]


def test_form_file_values_must_be_attachments_of_the_case(client, api_headers, session, tmp_path):
    case = _privacy_case(client, api_headers, session, tmp_path)
    other = start_case(client, api_headers("li.sl"))
    foreign = _upload(client, api_headers("li.sl"), other["id"], PNG, "b.png").get_json()["id"]
    task_id = open_task_id(case, "handle")
    response = client.post(f"/api/v1/tasks/{task_id}/complete",
                           json={"data": {"result": "已处理", "photos": [foreign, "nonexistent"]}}, headers=api_headers("li.sl"))
    assert response.status_code == 422
    assert [(d["field"], d["message"]) for d in response.get_json()["details"]] == [
        ("photos[0]", "附件不存在或不属于本案件"), ("photos[1]", "附件不存在或不属于本案件")]


def test_download_only_for_who_may_see_the_case(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    att = _upload(client, api_headers("li.sl"), case["id"], JPEG, "现场.jpg").get_json()
    ok = client.get(f"/api/v1/attachments/{att['id']}", headers=api_headers("zhang.dd"))
    assert ok.status_code == 200 and ok.data == JPEG
    assert ok.headers["Content-Type"] == "image/jpeg"
    assert "attachment" in ok.headers["Content-Disposition"]
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    hidden = client.get(f"/api/v1/attachments/{att['id']}", headers=api_headers("qian.sl"))
    assert hidden.status_code == 404
    assert client.get(f"/api/v1/instances/{case['id']}/attachments", headers=api_headers("qian.sl")).status_code == 404
    assert _upload(client, api_headers("qian.sl"), case["id"], JPEG, "x.jpg").status_code == 404
    assert client.get("/api/v1/attachments/ffffffff", headers=api_headers("li.sl")).status_code == 404


def test_tampered_file_is_refused(client, api_headers, services):
    case = start_case(client, api_headers("li.sl"))
    att = _upload(client, api_headers("li.sl"), case["id"], JPEG, "x.jpg").get_json()
    path = Path(services.settings.instance_path) / "attachments" / str(case["id"]) / att["id"]
    path.write_bytes(JPEG + b"tampered")
    response = client.get(f"/api/v1/attachments/{att['id']}", headers=api_headers("li.sl"))
    assert response.status_code == 409


def test_closed_case_takes_no_uploads(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    client.post(f"/api/v1/instances/{case['id']}/cancel", json={}, headers=api_headers("li.sl"))
    assert _upload(client, api_headers("li.sl"), case["id"], JPEG, "x.jpg").status_code == 409


def test_filenames_are_cleaned(client, api_headers):
    case = start_case(client, api_headers("li.sl"))
    body = _upload(client, api_headers("li.sl"), case["id"], PDF, "../../etc/pass:wd.pdf").get_json()
    assert body["filename"] == "pass_wd.pdf"
