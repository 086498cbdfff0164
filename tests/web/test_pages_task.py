"""Pages: the task form (rendering, validation keeping what was typed, double submit) and task operations."""
from __future__ import annotations

from sqlalchemy import select

from engine.store.models import AuditEntry, HumanTask, Instance, TaskStatus
from tests.factories import audit_count, only_task, open_tasks

from tests.web.test_submission_contract import library  # noqa: F401 (fixture)

from .pages_helpers import post, review_at_approval, review_at_register, text_of


def test_start_page_lists_only_processes_the_user_may_start(client, login):
    login(client, "zhang.dd")
    assert "简单审批" in client.get("/start").get_data(as_text=True)
    login(client, "wang.wg")
    assert "简单审批" not in client.get("/start").get_data(as_text=True)
    assert client.get("/start/review").status_code == 403


def test_start_a_case_leads_to_its_first_task(client, login, csrf_token, session):
    login(client, "zhang.dd")
    r = post(client, csrf_token, "/start/review")
    assert r.status_code == 302 and "/tasks/" in r.headers["Location"]
    page = client.get(r.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "登记" in html and 'name="f.subject"' in html and 'name="f.amount"' in html and "办理意见" in html


def test_start_unknown_process_is_404(client, login):
    login(client, "zhang.dd")
    assert client.get("/start/no_such_process").status_code == 404


def test_form_errors_are_shown_per_field_and_nothing_typed_is_lost(client, login, csrf_token, session):
    instance, task = review_at_register(session)
    login(client, "zhang.dd")
    r = post(client, csrf_token, f"/tasks/{task.id}", {"f.subject": "修缮东街围墙", "f.amount": "-3",
                                                        "opinion": "先登记", "action": "complete"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "表单填写有误" in html and "不能小于 0" in html
    assert 'value="修缮东街围墙"' in html and 'value="-3"' in html and "先登记" in html
    session.expire_all()
    assert session.get(HumanTask, task.id).status == TaskStatus.OPEN
    r = post(client, csrf_token, f"/tasks/{task.id}", {"f.subject": "", "f.amount": "abc", "action": "complete"})
    html = r.get_data(as_text=True)
    assert "此项为必填项" in html and "请输入数字" in html and 'value="abc"' in html


def test_complete_then_double_submit_gets_409_and_changes_nothing(client, login, csrf_token, session):
    instance, task = review_at_register(session)
    login(client, "zhang.dd")
    data = {"f.subject": "修缮东街围墙", "f.amount": "100", "action": "complete", "opinion": "属实"}
    first = post(client, csrf_token, f"/tasks/{task.id}", data)
    assert first.status_code == 302 and first.headers["Location"] == "/todo"
    session.expire_all()
    assert session.get(Instance, instance.id).status == "completed"
    entries = audit_count(session, instance.id)
    second = post(client, csrf_token, f"/tasks/{task.id}", data)
    assert second.status_code == 409
    assert "该任务已办理或已撤销，不能重复提交" in second.get_data(as_text=True)
    session.expire_all()
    assert audit_count(session, instance.id) == entries


def test_task_of_another_township_is_404_and_non_handler_sees_no_form(client, login, session):
    instance, task = review_at_approval(session)
    login(client, "xu.ld")  # leader of 河西乡: no relation to a county case
    assert client.get(f"/tasks/{task.id}").status_code == 404
    assert client.get(f"/cases/{instance.id}").status_code == 404
    login(client, "zheng.dc")  # county inspector: may see, may not act
    page = client.get(f"/tasks/{task.id}")
    assert page.status_code == 200 and 'id="task-form"' not in page.get_data(as_text=True)
    assert "催办" in page.get_data(as_text=True)


def test_unknown_task_is_404(client, login):
    login(client, "zhang.dd")
    assert client.get("/tasks/00000000-0000-0000-0000-000000000000").status_code == 404


def test_completing_without_the_right_is_forbidden(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "zheng.dc")
    r = post(client, csrf_token, f"/tasks/{task.id}", {"f.approved": "true", "action": "complete"})
    assert r.status_code == 403 and "您不是该任务的办理人" in r.get_data(as_text=True)


def test_leader_sees_readonly_data_and_buttons_for_allowed_operations(client, login, session):
    instance, task = review_at_approval(session, subject="修缮城关镇文化站")
    login(client, "he.ld")
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "修缮城关镇文化站" in html and 'name="f.subject"' not in html, "readonly field is shown, not editable"
    assert 'name="f.approved" value="true"' in html
    for label in ("提交", "保存草稿", "签收", "退回", "转办", "委派", "抄送"):
        assert label in html, label
    assert ">催办<" not in html, "the handler does not urge themselves"
    assert "请审批" in html, "the history beside the form shows opinions"


def test_draft_keeps_values_and_opinion(client, login, csrf_token, session):
    instance, task = review_at_register(session)
    login(client, "zhang.dd")
    r = post(client, csrf_token, f"/tasks/{task.id}", {"f.subject": "半截草稿", "f.amount": "", "opinion": "待核实",
                                                        "action": "draft"})
    assert r.status_code == 302
    session.expire_all()
    assert session.get(HumanTask, task.id).draft["f.subject" if False else "subject"] == "半截草稿"
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'value="半截草稿"' in html and "待核实" in html and "已载入上次保存的草稿" in html
    hx = post(client, csrf_token, f"/tasks/{task.id}", {"f.subject": "自动保存", "action": "draft"},
              headers={"HX-Request": "true"})
    assert hx.status_code == 200 and "草稿已自动保存" in hx.get_data(as_text=True)


def test_claim_from_the_todo_list_with_and_without_htmx(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    todo = client.get("/todo").get_data(as_text=True)
    assert "领导审批" in todo and "签收" in todo
    r = post(client, csrf_token, f"/tasks/{task.id}/claim", {"next": "/todo"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "已签收" in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(HumanTask, task.id).assignee_id is not None
    again = post(client, csrf_token, f"/tasks/{task.id}/claim")
    assert again.status_code == 409 and "您已签收该任务" in again.get_data(as_text=True)


def test_return_to_an_earlier_step_needs_an_opinion_and_reopens_it(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert '<option value="register">登记</option>' in html
    refused = post(client, csrf_token, f"/tasks/{task.id}/return", {"to_element": "register", "opinion": ""})
    assert refused.status_code == 422 and "退回必须填写意见" in refused.get_data(as_text=True)
    r = post(client, csrf_token, f"/tasks/{task.id}/return", {"to_element": "register", "opinion": "请补充预算"})
    assert r.status_code == 302 and r.headers["Location"] == f"/cases/{instance.id}"
    session.expire_all()
    assert [t.element_id for t in open_tasks(session, instance.id)] == ["register"]
    case = text_of(client.get(f"/cases/{instance.id}"))
    assert "退回" in case and "请补充预算" in case and "退回到“登记”" in case


def test_transfer_delegate_and_resolve(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    delegated = post(client, csrf_token, f"/tasks/{task.id}/delegate", {"to": "zheng.dc", "opinion": "请先核实"})
    assert delegated.status_code == 302
    login(client, "zheng.dc")
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "办理完毕交回" in html and "此任务由他人委派给您" in html
    refused = post(client, csrf_token, f"/tasks/{task.id}", {"f.approved": "true", "action": "complete"})
    assert refused.status_code == 403
    back = post(client, csrf_token, f"/tasks/{task.id}/resolve", {"f.approved": "true", "opinion": "已核实"})
    assert back.status_code == 302
    session.expire_all()
    row = session.get(HumanTask, task.id)
    assert row.owner_id is None and row.draft["approved"] == "true"
    login(client, "he.ld")
    transfer = post(client, csrf_token, f"/tasks/{task.id}/transfer", {"to": "zhang.dd"})
    assert transfer.status_code == 403 and "不具备该任务所需的角色" in transfer.get_data(as_text=True)


def test_urge_and_cc_from_the_case_page(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "zheng.dc")
    r = post(client, csrf_token, f"/tasks/{task.id}/urge", {"opinion": "请今天办理"})
    assert r.status_code == 302
    again = post(client, csrf_token, f"/tasks/{task.id}/urge")
    assert again.status_code == 409
    cc = post(client, csrf_token, f"/cases/{instance.id}/cc", {"to": ["lin.ld", "xu.ld"], "opinion": "请知悉"})
    assert cc.status_code == 302
    kinds = [e.kind for e in session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance.id))]
    assert "urged" in kinds and "cc" in kinds
    login(client, "xu.ld")
    assert client.get(f"/cases/{instance.id}").status_code == 200, "a CC makes the case visible"
    assert instance.title in client.get("/cc").get_data(as_text=True)
    notes = client.get("/notifications").get_data(as_text=True)
    assert "抄送给您" in notes


def test_withdraw_my_last_step_from_the_case_page(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    register = session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                      HumanTask.element_id == "register"))
    login(client, "zhang.dd")
    html = client.get(f"/cases/{instance.id}").get_data(as_text=True)
    assert f"/tasks/{register.id}/withdraw" in html
    r = post(client, csrf_token, f"/tasks/{register.id}/withdraw", {"opinion": "金额填错"})
    assert r.status_code == 302
    session.expire_all()
    assert [t.element_id for t in open_tasks(session, instance.id)] == ["register"]
    assert "撤回" in text_of(client.get(f"/cases/{instance.id}"))


def test_cancel_case_only_by_its_initiator(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    assert post(client, csrf_token, f"/cases/{instance.id}/cancel").status_code == 403
    login(client, "zhang.dd")
    assert post(client, csrf_token, f"/cases/{instance.id}/cancel", {"opinion": "重复登记"}).status_code == 302
    session.expire_all()
    assert session.get(Instance, instance.id).status == "cancelled"


def test_task_post_without_csrf_is_rejected(client, login, session):
    instance, task = review_at_register(session)
    login(client, "zhang.dd")
    r = client.post(f"/tasks/{task.id}", data={"f.subject": "x", "f.amount": "1", "action": "complete"})
    assert r.status_code == 400
    session.expire_all()
    assert only_task(session, instance.id).status == TaskStatus.OPEN


def test_read_only_context_survives_a_validation_error(client, login, csrf_token, session):
    # Issue 13, item 2: what the form showed before the error (read-only case data) it shows after.
    instance, task = review_at_approval(session, subject="修缮东街12号围墙")
    login(client, "he.ld")
    before = text_of(client.get(f"/tasks/{task.id}"))
    refused = post(client, csrf_token, f"/tasks/{task.id}", {"action": "complete"})
    assert refused.status_code == 422 and "此项为必填项" in refused.get_data(as_text=True)
    assert before.count("修缮东街12号围墙") >= 1
    assert text_of(refused).count("修缮东街12号围墙") == before.count("修缮东街12号围墙")


def test_read_only_orgs_are_shown_by_name(client, login, csrf_token, api_headers, session, library):
    # Issue 13, item 3: 派遣 showed 建议承办单位 as the code "police".
    from tests.web.helpers import start_case
    from tests.web.test_submission_contract import GRID_START

    case = start_case(client, api_headers("wang.wg"), "grid_event", GRID_START)
    accept = only_task(session, case["id"], "accept")
    assert client.post(f"/api/v1/tasks/{accept.id}/complete", headers=api_headers("li.sl"),
                       json={"data": {"decision": "立案", "category": "治安隐患"}}).status_code == 200
    dispatch = only_task(session, case["id"], "dispatch")
    login(client, "li.sl")
    page = text_of(client.get(f"/tasks/{dispatch.id}"))
    assert "建议承办单位 县公安局" in page and "建议承办单位 police" not in page
    assert "处置时限 8 工作时" in page  # the time limit with its unit


def test_photos_from_the_start_form_reach_later_forms_and_the_case_page(client, login, csrf_token, session, library):
    # Issue 13, item 1: 现场照片 chosen on the start form is evidence in 立案审查 and on the case page.
    import io

    from tests.web.test_submission_contract import GRID_START, PNG

    login(client, "wang.wg")
    form = {f"f.{k}": v for k, v in GRID_START.items()} | {"csrf_token": csrf_token(client),
                                                          "f.photos.upload": (io.BytesIO(PNG), "现场.png")}
    assert client.post("/start/grid_event", data=form, content_type="multipart/form-data").status_code == 302
    instance = session.scalars(select(Instance).where(Instance.process_key == "grid_event")
                               .order_by(Instance.id.desc())).first()
    photo = instance.data["photos"][0]
    login(client, "li.sl")
    for page in (client.get(f"/tasks/{only_task(session, instance.id, 'accept').id}"), client.get(f"/cases/{instance.id}")):
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "现场.png" in html and f'/attachments/{photo}"' in html
        assert 'class="thumb"' in html and f"['{photo}']" not in html


def test_a_refused_return_keeps_its_dialog_open_with_the_message_beside_it(client, login, csrf_token, session):
    # Issue 13, item 4: no full-page error; the dialog stays open with what was chosen.
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    refused = post(client, csrf_token, f"/tasks/{task.id}/return", {"to_element": "register", "opinion": "  "})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    dialog = html[html.index('<details class="op" open><summary>退回'):]
    dialog = dialog[:dialog.index("</details>")]
    assert '<p class="error" role="alert">退回必须填写意见</p>' in dialog
    assert '<option value="register" selected>登记</option>' in dialog
    assert "领导审批" in html and 'name="f.approved"' in html  # the rest of the task page is there too
    session.expire_all()
    assert session.get(HumanTask, task.id).status == TaskStatus.OPEN


def test_a_refused_transfer_keeps_what_was_typed(client, login, csrf_token, session):
    instance, task = review_at_register(session)
    login(client, "zhang.dd")
    refused = post(client, csrf_token, f"/tasks/{task.id}/transfer", {"to": "nobody", "opinion": "请协助登记"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    dialog = html[html.index('<details class="op" open><summary>转办'):]
    dialog = dialog[:dialog.index("</details>")]
    assert '<p class="error" role="alert">用户 &#39;nobody&#39; 不存在或已停用</p>' in dialog
    assert ">请协助登记</textarea>" in dialog


def test_a_file_chosen_on_a_refused_start_form_is_kept_for_the_corrected_one(client, login, csrf_token, session,
                                                                           library):
    # Issue 13, item 1: the browser does not send a chosen file twice; the server keeps it aside.
    import io
    import re

    from tests.web.test_submission_contract import GRID_START, PNG

    login(client, "wang.wg")
    form = {f"f.{k}": v for k, v in GRID_START.items() if k != "location"} | {
        "csrf_token": csrf_token(client), "f.photos.upload": (io.BytesIO(PNG), "现场.png")}
    refused = client.post("/start/grid_event", data=form, content_type="multipart/form-data")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "此项为必填项" in html and "现场.png" in html
    token = re.search(r'name="f\.photos\.kept" value="([^"]+)" checked', html).group(1)

    # Someone else cannot use the token, nor can a forged one be used.
    login(client, "zhao.wg")
    other = {f"f.{k}": v for k, v in GRID_START.items()} | {"csrf_token": csrf_token(client),
                                                           "f.photos.kept": [token, token[:-2] + "xx"]}
    assert client.post("/start/grid_event", data=other).status_code == 302
    theirs = session.scalars(select(Instance).where(Instance.process_key == "grid_event")
                             .order_by(Instance.id.desc())).first()
    assert theirs.data["photos"] is None

    login(client, "wang.wg")
    again = {f"f.{k}": v for k, v in GRID_START.items()} | {"csrf_token": csrf_token(client), "f.photos.kept": token}
    assert client.post("/start/grid_event", data=again).status_code == 302
    instance = session.scalars(select(Instance).where(Instance.process_key == "grid_event")
                               .order_by(Instance.id.desc())).first()
    from engine.store.models import Attachment
    stored = session.scalars(select(Attachment).where(Attachment.instance_id == instance.id)).all()
    assert [a.filename for a in stored] == ["现场.png"] and instance.data["photos"] == [stored[0].id]


def test_the_agreement_task_offers_the_printable_agreement_with_its_saved_draft(client, login, csrf_token, session,
                                                                             library):
    # Issue 13, item 10: 协议书 can be printed for signing from the task that produces it.
    import yaml

    from engine.org.orgs import actor_for
    from engine.runtime import lifecycle
    from tests.scenario_player import ROOT

    scenario = yaml.safe_load((ROOT / "tests/scenarios/mediation/village_agreement_court_confirmed.yaml")
                              .read_text(encoding="utf-8"))
    instance = lifecycle.start_instance(session, process_key="mediation", data=scenario["start"]["data"],
                                      actor=actor_for(session, username="wang.wg"))
    for step in scenario["steps"]:
        if step.get("task") == "agreement":
            break
        if "data" in step and "refused" not in step:
            task = only_task(session, instance.id, step["task"])
            lifecycle.complete_task(session, task_id=task.id, data=step["data"], actor=actor_for(session, username=step["as"]))
    session.commit()
    agreement = only_task(session, instance.id, "agreement")
    login(client, "chen.tj")
    post(client, csrf_token, f"/tasks/{agreement.id}", {"action": "draft", "f.facts": "张某新修排水沟致李某宅前积水。",
                                                         "f.terms.0.content": "排水沟改道", "f.terms.0.obligor": "张三",
                                                         "f.terms.0.manner": "自行出资施工"})
    page = client.get(f"/tasks/{agreement.id}").get_data(as_text=True)
    link = f"/cases/{instance.id}/print/mediation_agreement?task={agreement.id}"
    assert "打印人民调解协议书" in page and link in page
    printed = text_of(client.get(link))
    assert "人民调解协议书" in printed and "张某新修排水沟致李某宅前积水。" in printed and "排水沟改道" in printed
    assert client.get(f"/cases/{instance.id}/print/mediation_agreement?task=not-a-task").status_code == 404
