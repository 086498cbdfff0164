"""The studio's pages (流程设计): only designers and administrators get in; the pages render; the form preview.

The pages' scripts call the JSON API (tested with it); here: access, what each page shows, drafts
created from a page form, and the form preview rendered by the task page's own field macros.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.studio.models import Draft
from tests.web.pages_helpers import post, text_of

FORM_YAML = """title: 复核
fields:
  - {name: review_opinion, label: 复核意见, type: textarea, required: true}
  - {name: upheld, label: 是否维持, type: select, options: [维持, 撤销]}
"""


@pytest.fixture
def designer(client, login):
    return login(client, "designer")


def _new_draft(client, csrf_token, process="review") -> int:
    response = post(client, csrf_token, "/studio/drafts", {"source": "version", "process": process})
    assert response.status_code == 302
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


@pytest.mark.parametrize("url", ["/studio", "/studio/processes/review", "/studio/processes/review/migrate",
                                 "/studio/drafts/1", "/studio/drafts/1/diff"])
def test_staff_are_refused_every_studio_page(client, login, url):
    login(client, "zhang.dd")
    response = client.get(url)
    assert response.status_code == 403
    assert "无权" in text_of(response)


def test_staff_cannot_preview_forms_or_create_drafts(client, login, csrf_token, session):
    login(client, "zhang.dd")
    before = session.scalar(select(Draft.id).order_by(Draft.id.desc()).limit(1))
    assert post(client, csrf_token, "/studio/form-preview", {"yaml": FORM_YAML}).status_code == 403
    assert post(client, csrf_token, "/studio/drafts", {"source": "version", "process": "review"}).status_code == 403
    session.expire_all()
    assert session.scalar(select(Draft.id).order_by(Draft.id.desc()).limit(1)) == before


def test_the_menu_shows_流程设计_to_designers_only(client, login):
    login(client, "designer")
    assert 'href="/studio"' in client.get("/todo").get_data(as_text=True)
    login(client, "zhang.dd")
    assert 'href="/studio"' not in client.get("/todo").get_data(as_text=True)


def test_home_lists_processes_with_versions_and_running_counts(designer):
    response = designer.get("/studio")
    assert response.status_code == 200
    text = text_of(response)
    assert "已部署的流程" in text and "草稿" in text
    assert 'data-process="review"' in response.get_data(as_text=True)
    assert "从 v1 起草" in text


def test_a_draft_from_a_version_opens_the_editor_with_its_files(designer, csrf_token, session):
    draft_id = _new_draft(designer, csrf_token)
    draft = session.get(Draft, draft_id)
    assert draft.process_key == "review" and draft.base_version == 1 and draft.created_by == "designer"
    page = designer.get(f"/studio/drafts/{draft_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="studio-data"' in html and "processes/review.bpmn" in html
    assert "/static/dist/editor.js" in html and "发布" in html
    for tab in ("流程图", "决策表", "表单", "参数", "测试"):
        assert tab in text_of(page)
    assert draft_id in [d.id for d in session.scalars(select(Draft))]
    assert draft.name in text_of(designer.get("/studio"))


def test_an_empty_draft_gets_the_key_asked_for(designer, csrf_token, session):
    response = post(designer, csrf_token, "/studio/drafts", {"source": "empty", "key": "petition", "name": "信访事项"})
    assert response.status_code == 302
    draft = session.scalars(select(Draft).order_by(Draft.id.desc())).first()
    assert draft.process_key == "petition" and "processes/petition.bpmn" in draft.files


def test_an_upload_without_files_is_refused_in_chinese_and_creates_nothing(designer, csrf_token, session):
    before = session.scalar(select(Draft.id).order_by(Draft.id.desc()).limit(1))
    response = post(designer, csrf_token, "/studio/drafts", {"source": "upload"})
    assert response.status_code == 400
    assert "请选择要上传的文件" in text_of(response)
    session.expire_all()
    assert session.scalar(select(Draft.id).order_by(Draft.id.desc()).limit(1)) == before


def test_form_preview_renders_fields_with_the_task_page_macros(designer, csrf_token):
    response = post(designer, csrf_token, "/studio/form-preview", {"yaml": FORM_YAML, "path": "forms/review/recheck.yaml"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # The same markup the task page draws: inputs named f.<field>, the required star, the options.
    assert 'name="f.review_opinion"' in html and 'class="req"' in html
    assert "复核意见" in html and 'name="f.upheld" value="撤销"' in html  # few options: radio buttons, as on the task page
    assert "<h2 class=\"form-title\">复核</h2>" in html


def test_form_preview_of_bad_yaml_says_what_is_wrong_in_chinese(designer, csrf_token):
    broken = "title: 复核\nfields:\n  - {name: x, label: 意见, type: textarea\n"
    response = post(designer, csrf_token, "/studio/form-preview", {"yaml": broken, "path": "forms/review/x.yaml"})
    assert response.status_code == 200
    text = text_of(response)
    assert "表单定义有误" in text and "YAML 语法错误" in text and "第 " in text
    unknown = post(designer, csrf_token, "/studio/form-preview",
                   {"yaml": "title: 复核\nfields:\n  - {name: x, label: 意见, type: textbox}\n", "path": "forms/review/x.yaml"})
    assert "textbox" in text_of(unknown)


def test_process_page_shows_versions_with_note_and_counts(designer):
    response = designer.get("/studio/processes/review")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-version="1"' in html and "修改说明" in text_of(response) and "办理中" in text_of(response)
    assert designer.get("/studio/processes/no_such_process").status_code == 404


def test_diff_page_lists_changed_fields_and_parameters(designer, csrf_token, session):
    draft_id = _new_draft(designer, csrf_token)
    draft = session.get(Draft, draft_id)
    files = dict(draft.files)
    form_path = next(p for p in files if p.startswith("forms/review/"))
    files[form_path] = files[form_path].rstrip("\n") + "\n  - {name: recheck_note, label: 复核备注, type: text}\n"
    draft.files = files
    session.commit()
    response = designer.get(f"/studio/drafts/{draft_id}/diff")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-path="{form_path}"' in html and "recheck_note" in html and "复核备注" in html
    assert "/static/dist/diff.js" in html


def test_migrate_page_offers_versions_and_the_three_ways_to_choose_cases(designer):
    response = designer.get("/studio/processes/review/migrate")
    assert response.status_code == 200
    text = text_of(response)
    assert "试运行" in text and "正式迁移" in text
    assert "该版本全部办理中的案件" in text and "停在某一步骤的案件" in text and "指定案件号" in text


def test_an_uploaded_bpmn_file_becomes_a_draft_of_its_process(designer, csrf_token, session):
    from io import BytesIO
    from pathlib import Path

    bpmn = (Path(__file__).resolve().parents[1] / "fixtures" / "repo" / "processes" / "review.bpmn").read_bytes()
    response = designer.post("/studio/drafts", data={"source": "upload", "name": "上传的审批", "csrf_token": csrf_token(designer),
                                                     "files": (BytesIO(bpmn), "review.bpmn")},
                             content_type="multipart/form-data")
    assert response.status_code == 302
    draft = session.scalars(select(Draft).order_by(Draft.id.desc())).first()
    assert draft.name == "上传的审批" and draft.process_key == "review" and draft.base_version is None
    # The same document (the upload may be re-serialised, e.g. its quoting): compared in canonical form.
    from lxml import etree

    def canonical(data: bytes) -> bytes:
        return etree.tostring(etree.fromstring(data, etree.XMLParser(remove_blank_text=True)), method="c14n")

    assert canonical(draft.files["processes/review.bpmn"].encode()) == canonical(bpmn)


def test_version_diff_page_compares_two_deployed_versions(designer, csrf_token, session):
    from engine.org.orgs import actor_for
    from engine.studio.versions import deploy_draft

    draft = session.get(Draft, _new_draft(designer, csrf_token))
    files = dict(draft.files)
    config = "processes/review.yaml"
    files[config] = files[config].rstrip("\n") + "\ndescription: 审批加了说明\n"
    draft.files = files
    session.flush()
    result = deploy_draft(session, draft_id=draft.id, note="加说明", actor=actor_for(session, username="designer"))
    session.commit()
    response = designer.get(f"/studio/processes/review/versions/{result.version}/diff")
    assert response.status_code == 200
    text = text_of(response)
    assert f"v{result.version} ↔ 已部署 v{result.version - 1}" in text
    assert "processes/review.yaml" in text and "审批加了说明" in text
    assert "加说明" in text_of(designer.get("/studio/processes/review"))
