"""Issue 10, items 1 and 2: submitted data sets only declared fields, and the published schema is the whole contract.

Each test here failed on the code before the form contract: undeclared start data was merged over
the process parameters, a nonexistent person or org put the case into error, start-form file ids
were not checked, and the schema said nothing of conditional requirements or blank text.
"""
from __future__ import annotations

import io

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from engine.definitions import deployment
from engine.errors import DefinitionInvalid, FormInvalid
from engine.org.orgs import SYSTEM
from engine.runtime.messages import send_message
from engine.store.models import Attachment, HumanTask, Instance, InstanceStatus, TaskStatus
from tests.scenario_player import ROOT, process_files
from tests.web.helpers import start_case

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def library(session):
    """Deploy the shipped processes (with their forms) into the test's transaction."""
    deployment.deploy(session, paths=[*sorted((ROOT / "processes").glob("*.bpmn")),
                                       *sorted((ROOT / "processes").glob("*.dmn")),
                                       *sorted((ROOT / "processes").glob("*.yaml")), ROOT / "forms"])
    session.commit()


def _cases(session) -> int:
    return session.scalar(select(func.count(Instance.id)))


def _details(response) -> list[tuple[str, str]]:
    return [(d.get("field"), d["message"]) for d in response.get_json()["details"]]


# -- item 1: submitted data never overrides the process ---------------------------------------------

def test_a_township_cannot_route_its_report_to_itself(client, api_headers, session, library):
    before = _cases(session)
    response = client.post("/api/v1/instances", headers=api_headers("li.sl"), json={
        "process": "report_review", "data": {"county_org": "chengguan", "report_rules": {"sums": []}}})
    assert response.status_code == 422
    assert _details(response) == [("county_org", "表单中没有字段 'county_org'"),
                                  ("report_rules", "表单中没有字段 'report_rules'")]
    session.expire_all()
    assert _cases(session) == before


def test_start_data_cannot_replace_a_script_helper(client, api_headers, session, library):
    response = client.post("/api/v1/instances", headers=api_headers("li.sl"),
                           json={"process": "report_review", "data": {"workdays": 5}})
    assert response.status_code == 422 and _details(response) == [("workdays", "表单中没有字段 'workdays'")]


def test_declared_start_data_runs_with_the_county_as_reviewer(client, api_headers, session, library):
    body = start_case(client, api_headers("li.sl"), "report_review",
                      {"last_period": [{"field": "disputes_total", "value": 40}]})
    session.expire_all()
    instance = session.get(Instance, body["id"])
    assert instance.data["county_org"] == "county" and instance.data["report_rules"]["jump_ratio"] == 0.5
    assert instance.data["baseline"] == {"disputes_total": 40}


def test_a_process_without_a_start_form_takes_no_start_data(client, api_headers):
    response = client.post("/api/v1/instances", headers=api_headers("li.sl"),
                           json={"process": "review", "data": {"amount": 1}})
    assert response.status_code == 422 and _details(response) == [("amount", "表单中没有字段 'amount'")]


def test_a_message_sets_only_the_fields_its_process_declares(session, library):
    before = _cases(session)
    with pytest.raises(FormInvalid) as refused:
        send_message(session, name="judicial_confirmation", correlation={"court_case_no": "(2026)X1"},
                     payload={"confirmed": True, "county_org": "chengguan"}, actor=SYSTEM)
    assert [(d.field, d.message) for d in refused.value.details] == [("county_org", "表单中没有字段 'county_org'")]
    assert _cases(session) == before


def test_a_message_api_refuses_undeclared_payload_with_422(client, api_headers, session, library):
    response = client.post("/api/v1/messages/judicial_confirmation", headers=api_headers("admin"),
                           json={"correlation": {"court_case_no": "(2026)X2"}, "payload": {"workdays": 1}})
    assert response.status_code == 422
    assert _details(response) == [("confirmed", "此项为必填项"), ("workdays", "表单中没有字段 'workdays'")]


@pytest.mark.parametrize("name, why", [("county_org", "与流程参数同名"), ("workdays", "与脚本内置函数同名")])
def test_validation_refuses_a_field_named_like_a_parameter_or_helper(tmp_path, name, why):
    for folder in ("processes", "forms/report_review"):
        (tmp_path / folder).mkdir(parents=True)
    for path in process_files("report_review"):
        (tmp_path / "processes" / path.name).write_bytes(path.read_bytes())
    for form in (ROOT / "forms" / "report_review").glob("*.yaml"):
        (tmp_path / "forms" / "report_review" / form.name).write_bytes(form.read_bytes())
    (tmp_path / "forms" / "report_review" / "start.yaml").write_text(
        f"title: 下发\nfields:\n  - {{name: {name}, label: 字段, type: text}}\n", encoding="utf-8")
    with pytest.raises(DefinitionInvalid) as refused:
        deployment.validate(deployment.collect_sources([tmp_path]))
    assert any(why in d.message and d.field == name for d in refused.value.details)


# -- item 2: the published schema is the whole contract -----------------------------------------------

def _open_task(session, instance_id: int, element_id: str) -> HumanTask:
    session.expire_all()
    return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.element_id == element_id,
                                                   HumanTask.status == TaskStatus.OPEN)).one()


def test_a_nonexistent_mediator_is_refused_in_chinese_and_the_schema_lists_who_may_be_chosen(
        client, api_headers, session, library):
    headers = api_headers("li.sl")
    case = start_case(client, api_headers("wang.wg"), "mediation", MEDIATION_START)
    accept = _open_task(session, case["id"], "accept")
    assert client.post(f"/api/v1/tasks/{accept.id}/complete", headers=headers,
                       json={"data": {"accepted": True}}).status_code == 200
    assign = _open_task(session, case["id"], "assign")
    schema = client.get(f"/api/v1/tasks/{assign.id}", headers=headers).get_json()["form_schema"]
    assert "chen.tj" in schema["properties"]["lead_mediator"]["enum"]
    response = client.post(f"/api/v1/tasks/{assign.id}/complete", headers=headers,
                           json={"data": {"lead_mediator": "nobody", "selection": "调解委员会指定"}})
    assert response.status_code == 422
    assert _details(response) == [("lead_mediator", "请从可选人员中选择（该用户不存在、已停用或不具备所需角色）")]
    session.expire_all()
    assert session.get(Instance, case["id"]).status == InstanceStatus.RUNNING
    assert session.get(HumanTask, assign.id).status == TaskStatus.OPEN


def test_a_nonexistent_township_in_the_assessment_table_is_refused(client, api_headers, session, library):
    headers = api_headers("feng.kh")
    schema = client.get("/api/v1/processes/assessment", headers=headers).get_json()["start_form_schema"]
    township = schema["properties"]["townships"]["items"]["properties"]["township"]
    assert {"chengguan", "hexi"} <= set(township["enum"]) and "county" not in township["enum"]
    response = client.post("/api/v1/instances", headers=headers, json={"process": "assessment", "data": {
        "period_name": "2026年度考评", "period_start": "2026-01-01", "period_end": "2026-12-31",
        "townships": [{"township": "chengguan"}, {"township": "atlantis"}]}})
    assert response.status_code == 422
    assert _details(response) == [("townships[1].township", "请从可选组织中选择（该组织不存在或类型不符）")]


def test_start_form_file_ids_are_checked_like_task_file_ids(client, api_headers, session, library):
    # Another case's attachment cannot be claimed by a new case, nor can an id that does not exist.
    other = start_case(client, api_headers("li.sl"))
    foreign = client.post(f"/api/v1/instances/{other['id']}/attachments", headers=api_headers("li.sl"),
                          data={"file": (io.BytesIO(PNG), "a.png")}).get_json()["id"]
    before = _cases(session)
    response = client.post("/api/v1/instances", headers=api_headers("wang.wg"), json={
        "process": "grid_event", "data": GRID_START | {"photos": [foreign, "nonexistent"]}})
    assert response.status_code == 422
    assert _details(response) == [("photos[0]", "附件不存在或不属于本案件"), ("photos[1]", "附件不存在或不属于本案件")]
    session.expire_all()
    assert _cases(session) == before
    schema = client.get("/api/v1/processes/grid_event", headers=api_headers("wang.wg")).get_json()["start_form_schema"]
    assert schema["properties"]["photos"]["items"]["enum"] == []


def test_files_chosen_on_the_start_page_follow_the_case(client, login, csrf_token, session, library):
    login(client, "wang.wg")
    form = {f"f.{k}": v for k, v in GRID_START.items()} | {"csrf_token": csrf_token(client)}
    form["f.photos.upload"] = (io.BytesIO(PNG), "现场.png")
    response = client.post("/start/grid_event", data=form, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    session.expire_all()
    instance = session.scalars(select(Instance).where(Instance.process_key == "grid_event")
                               .order_by(Instance.id.desc())).first()
    stored = session.scalars(select(Attachment).where(Attachment.instance_id == instance.id)).all()
    assert [(a.filename, a.field) for a in stored] == [("现场.png", "photos")]
    assert instance.data["photos"] == [stored[0].id]


def test_the_task_page_checks_file_ids_like_the_api(client, login, csrf_token, api_headers, session, library):
    other = start_case(client, api_headers("li.sl"))
    foreign = client.post(f"/api/v1/instances/{other['id']}/attachments", headers=api_headers("li.sl"),
                          data={"file": (io.BytesIO(PNG), "a.png")}).get_json()["id"]
    case = start_case(client, api_headers("wang.wg"), "grid_event", GRID_START)
    accept = _open_task(session, case["id"], "accept")
    assert client.post(f"/api/v1/tasks/{accept.id}/complete", headers=api_headers("li.sl"),
                       json={"data": {"decision": "立案", "category": "治安隐患"}}).status_code == 200
    dispatch = _open_task(session, case["id"], "dispatch")
    assert client.post(f"/api/v1/tasks/{dispatch.id}/complete", headers=api_headers("li.sl"),
                       json={"data": {"dispatch_unit": "police"}}).status_code == 200
    handle = _open_task(session, case["id"], "handle")
    login(client, "zhou.ga")
    response = client.post(f"/tasks/{handle.id}", data={
        "csrf_token": csrf_token(client), "f.result": "已处置完毕", "f.measures": "已处理", "f.feedback_photos": foreign})
    assert response.status_code == 422
    assert "附件不存在或不属于本案件" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(HumanTask, handle.id).status == TaskStatus.OPEN


def test_conditional_requirements_and_blank_text_are_in_the_schema(client, api_headers, session, library):
    start = client.get("/api/v1/processes/grid_event", headers=api_headers("wang.wg")).get_json()["start_form_schema"]
    assert not list(Draft202012Validator(start).iter_errors(GRID_START))
    assert list(Draft202012Validator(start).iter_errors(GRID_START | {"event_title": "   "})), \
        "blank text counts as missing, and the schema must say so"
    case = start_case(client, api_headers("wang.wg"), "grid_event", GRID_START)
    accept = _open_task(session, case["id"], "accept")
    schema = client.get(f"/api/v1/tasks/{accept.id}", headers=api_headers("li.sl")).get_json()["form_schema"]
    valid = Draft202012Validator(schema)
    # 事件类别 is required only with 立案; 重复的事件编号 only for a duplicate: the engine agrees with the schema.
    assert list(valid.iter_errors({"decision": "立案"}))
    assert not list(valid.iter_errors({"decision": "立案", "category": "治安隐患"}))
    assert list(valid.iter_errors({"decision": "不予立案（重复上报）"}))
    assert list(valid.iter_errors({"decision": "不予立案（重复上报）", "duplicate_of": "  "}))
    assert not list(valid.iter_errors({"decision": "不予立案（无效信息）"}))
    assert list(valid.iter_errors({"decision": "立案", "category": "治安隐患", "event_title": "改"})), "read-only"
    refused = client.post(f"/api/v1/tasks/{accept.id}/complete", headers=api_headers("li.sl"),
                          json={"data": {"decision": "立案"}})
    assert refused.status_code == 422 and _details(refused) == [("category", "此项为必填项")]


MEDIATION_START = {
    "source": "网格员上报", "dispute_type": "邻里纠纷", "dispute_summary": "排水沟纠纷", "description": "雨天积水，双方争吵。",
    "amount": 3000, "people_count": 2, "violence_risk": False, "township": "chengguan", "village": "dongjie",
    "parties": [{"name": "张三", "role": "申请人", "phone": "13800000001"},
                {"name": "李四", "role": "被申请人", "phone": "13800000002"}],
}
GRID_START = {"category": "治安隐患", "event_title": "东街路灯不亮", "location": "东街社区12号楼", "description": "路灯损坏，夜间无照明。"}


def test_a_village_outside_the_chosen_township_is_refused_and_the_schema_says_which_go_together(
        client, api_headers, session, library):
    headers = api_headers("wang.wg")
    schema = client.get("/api/v1/processes/mediation", headers=headers).get_json()["start_form_schema"]
    valid = Draft202012Validator(schema)
    assert valid.is_valid(MEDIATION_START | {"township": "chengguan", "village": "dongjie"})
    assert not valid.is_valid(MEDIATION_START | {"township": "hexi", "village": "dongjie"})
    response = client.post("/api/v1/instances", headers=headers, json={
        "process": "mediation", "data": MEDIATION_START | {"township": "hexi", "village": "dongjie"}})
    assert response.status_code == 422
    assert _details(response) == [("village", "所选组织不在所选的“所属乡镇（街道）”之内")]
