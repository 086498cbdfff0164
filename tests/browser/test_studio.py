"""The designer studio in the browser (issue 11, "What it must show"): a designer, in the studio only, adds a
review step to mediation in the modeler, changes a time limit in the parameters form, sees a lint error and
fixes it, runs the scenarios, views the diff, deploys v2 with a note, dry-runs and migrates running v1
cases, and the migrated cases' pages show the new step in their diagram.

The studio's pages are bundled by scripts/npm-install.sh (esbuild) into web/static/dist/; the test
runs it first (it rebuilds only when the sources changed).
"""
from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import ROOT, shoot

pytestmark = pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "esbuild").exists(),
                                reason="front-end packages are not installed (make install)")

START = {"source": "当事人申请", "dispute_type": "合同纠纷", "description": "装修款纠纷，双方各执一词。", "amount": 20000,
         "people_count": 2, "violence_risk": False, "township": "chengguan",
         "parties": [{"name": "王五", "role": "申请人"}, {"name": "平安县某装修公司", "role": "被申请人"}]}
NEW_FORM = """title: 复核不予受理
description: 县综治中心复核不予受理的决定。
fields:
  - {name: review_opinion, label: 复核意见, type: textarea, required: true}
"""
RECORDED = "not_accepted_reviewed"


@pytest.fixture(scope="module", autouse=True)
def bundle():
    subprocess.run(["bash", "scripts/npm-install.sh"], cwd=ROOT, check=True, timeout=300)


@pytest.fixture
def running_v1_cases(live_services):
    """Three mediation cases at 受理审查 on the deployed version; cancelled afterwards (one shared database)."""
    from engine.org.orgs import actor_for
    from engine.runtime import lifecycle
    from engine.store.models import Instance

    ids = []
    with live_services.session() as s:
        li = actor_for(s, username="li.sl")
        for n in range(3):
            case = lifecycle.start_instance(s, process_key="mediation", actor=li,
                                          data=START | {"dispute_summary": f"装修款纠纷（流程设计迁移 {n + 1}）"})
            ids.append(case.id)
        version = case.definition.version
        s.commit()
    yield version, ids
    with live_services.session() as s:
        admin = actor_for(s, username="admin")
        for case_id in ids:
            if s.get(Instance, case_id).status == "running":
                lifecycle.cancel_instance(s, instance_id=case_id, actor=admin, reason="测试结束")
        s.commit()


@pytest.fixture
def restore_mediation(live_services):
    """After the test the other browser tests get mediation as shipped again: redeploying it is the rollback."""
    yield
    from engine.org.orgs import actor_for
    from engine.studio.drafts import create_draft
    from engine.studio.versions import deploy_draft, list_versions

    with live_services.session() as s:
        designer = actor_for(s, username="designer")
        first = list_versions(s, key="mediation", actor=designer)[-1].version
        draft = create_draft(s, actor=designer, process_key="mediation", version=first)
        deploy_draft(s, draft_id=draft.id, note="浏览器测试结束，回退到发布时的版本", actor=designer)
        s.commit()


def _screen_point(page, element_id):
    """Where an element (or a flow's middle segment) is on the screen, from the modeler's viewbox."""
    return page.evaluate("""(id) => {
      const m = window.studioModeler, c = m.get('canvas'), e = m.get('elementRegistry').get(id);
      const box = document.querySelector('#canvas').getBoundingClientRect(), vb = c.viewbox();
      let x, y;
      if (e.waypoints) { const w = e.waypoints, i = Math.floor((w.length - 1) / 2); x = (w[i].x + w[i + 1].x) / 2; y = (w[i].y + w[i + 1].y) / 2; }
      else { x = e.x + e.width / 2; y = e.y + e.height / 2; }
      return [box.left + (x - vb.x) * vb.scale, box.top + (y - vb.y) * vb.scale]; }""", element_id)


def _saved(page):
    page.wait_for_function("document.getElementById('save-status').textContent === '已保存'", timeout=20000)


def _problems(page):
    return page.locator("#problems .problem:not(.none)")


def _open_group(page, title):
    header = page.locator(f".bio-properties-panel-group-header:has-text('{title}')").first
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_designer_changes_mediation_in_the_studio_and_moves_running_cases(
        new_page, live_services, running_v1_cases, restore_mediation):
    v1, case_ids = running_v1_cases
    page = new_page("designer")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # 流程设计 is in the designer's menu; the home lists the processes with their versions.
    page.click("nav.mainnav >> text=流程设计")
    page.wait_for_url("**/studio")
    row = page.locator("tr[data-process=mediation]")
    assert "矛盾纠纷调解" in row.inner_text() and f"v{v1}: 3" in row.inner_text()
    shoot(page, "studio-home-desktop")
    row.locator("button").click()
    page.wait_for_url(re.compile(r".*/studio/drafts/\d+$"))
    draft_id = int(page.url.rsplit("/", 1)[-1])
    page.wait_for_function("window.studioTimings && window.studioTimings.open")
    page.wait_for_selector("#problems .problem.none")  # the shipped process validates clean

    # The modeler: a task dropped on the flow 不予受理 lands between the gateway and the end ...
    page.evaluate("""() => { const m = window.studioModeler, c = m.get('canvas'); c.zoom(1);
                            c.scrollToElement(m.get('elementRegistry').get('f_gw_accept_end_not_accepted')); }""")
    x, y = _screen_point(page, "f_gw_accept_end_not_accepted")
    tool = page.locator('.djs-palette [data-action="create.task"]').bounding_box()
    page.mouse.move(tool["x"] + 10, tool["y"] + 10)
    page.mouse.down()
    page.mouse.move(x - 30, y, steps=6)
    page.mouse.move(x, y, steps=6)
    page.mouse.up()
    # ... becomes a user task (context pad 更改类型 → 人工任务), named and numbered in the properties panel.
    page.click('.djs-context-pad [data-action="replace"]')
    page.click('.djs-popup [data-id="replace-with-user-task"]')
    _open_group(page, "常规")
    page.fill("#bio-properties-panel-name", "复核不予受理")
    page.fill("#bio-properties-panel-id", "review_refusal")
    _open_group(page, "办理设置")
    page.fill("#bio-properties-panel-dueDate", "workdays(1)")
    page.fill("#bio-properties-panel-candidateOrg", "county_org")
    page.locator("#bio-properties-panel-candidateOrg").press("Tab")
    _saved(page)
    shape = page.evaluate("""() => { const e = window.studioModeler.get('elementRegistry').get('review_refusal');
      const lane = window.studioModeler.get('elementRegistry').find(l => l.type === 'bpmn:Lane' && (l.businessObject.flowNodeRef || []).includes(e.businessObject));
      return e && [e.type, e.incoming.map(f => f.source.id), e.outgoing.map(f => f.target.id), lane && lane.businessObject.name]; }""")
    assert shape == ["bpmn:UserTask", ["gw_accept"], ["end_not_accepted"], "调度员"]
    with live_services.session() as s:
        from engine.studio.models import Draft

        saved = s.get(Draft, draft_id).files["processes/mediation.bpmn"]
    task = re.search(r'<bpmn:userTask id="review_refusal".*?</bpmn:userTask>', saved, re.S).group(0)
    assert 'name="复核不予受理"' in task
    assert '<spiffworkflow:property name="dueDate" value="workdays(1)" />' in task
    assert '<spiffworkflow:property name="candidateOrg" value="county_org" />' in task

    # The lint says what is missing, in Chinese, and marks the element; clicking the problem selects it.
    missing = _problems(page).filter(has_text="forms/mediation/review_refusal.yaml")
    missing.wait_for()
    assert "复核不予受理" in missing.inner_text() and "不存在" in missing.inner_text()
    assert page.locator('.djs-element.lint-error[data-element-id="review_refusal"]').count() == 1
    assert page.locator("#problem-count").inner_text() == str(_problems(page).count())
    page.evaluate("window.studioModeler.get('selection').select([])")
    missing.click()
    assert page.evaluate("window.studioModeler.get('selection').get().map(e => e.id)") == ["review_refusal"]
    shoot(page, "studio-editor-lint-desktop", full_page=False)

    # The fix: the form, written in YAML with a live preview drawn by the task page's own macros.
    page.click("[data-tab=forms]")
    page.fill("#form-new-name", "review_refusal")
    page.click("#form-new")
    page.fill("#form-text", NEW_FORM.replace("review_opinion, label: 复核意见, type: textarea", "review_opinion, label: 复核意见, type: textbox"))
    page.locator("#form-preview .preview-errors").wait_for()
    assert "textbox" in page.inner_text("#form-preview")
    assert page.input_value("#form-text").startswith("title: 复核不予受理")  # nothing typed is lost
    page.fill("#form-text", NEW_FORM)
    page.locator("#form-preview textarea[name='f.review_opinion']").wait_for()
    assert "复核意见" in page.inner_text("#form-preview")
    shoot(page, "studio-editor-forms-desktop", full_page=False)
    _saved(page)
    page.click("[data-tab=diagram]")
    page.wait_for_selector("#problems .problem.none")
    assert page.locator(".djs-element.lint-error").count() == 0

    # The parameters form: the acceptance time limit goes from 1 to 2 working days; the comment stays.
    page.click("[data-tab=params]")
    label = page.locator("label[for=param-accept_workdays]")
    assert "受理审查时限" in label.inner_text()
    page.fill("#param-accept_workdays", "2")
    assert re.search(r"accept_workdays: 2\s+# 受理审查时限", page.input_value("#params-raw"))
    _saved(page)
    shoot(page, "studio-editor-params-desktop", full_page=False)

    # Scenarios: the not-accepted scenario now meets the new step and fails, saying where.
    page.click("[data-tab=tests]")
    page.click("#test-run")
    page.wait_for_function("document.getElementById('test-summary').textContent.includes('个场景')", timeout=120000)
    failed = page.locator("#test-results .scenario.failed")
    assert failed.count() == 1 and failed.get_attribute("data-scenario") == "not_accepted"
    assert "失败步骤" in failed.inner_text()
    assert page.locator("#test-results .scenario .chip-green").count() == page.locator("#test-results .scenario").count() - 1
    failed.locator("button").click()  # the path it took, on the diagram
    assert page.locator('.djs-element.path-taken[data-element-id="accept"]').count() == 1
    page.click("[data-tab=tests]")
    shoot(page, "studio-editor-tests-desktop", full_page=False)

    # Record its replacement by playing the draft: start, refuse at 受理审查, the county reviews, saved.
    page.click("#play-start")
    start = page.locator(".play-task[data-task=start]")
    start.wait_for()
    page.select_option("#play-starter", "li.sl")
    start.locator("[data-field=source] select").select_option("当事人申请")
    start.locator("[data-field=dispute_type] select").select_option("合同纠纷")
    start.locator("[data-field=dispute_summary] input").fill("王某与某装修公司装修款纠纷")
    start.locator("[data-field=description] textarea").fill("装修公司明确表示只接受诉讼。")
    start.locator("[data-field=people_count] input").fill("2")
    start.locator("[data-field=violence_risk] select").select_option("false")
    township = start.locator("[data-field=township] select")
    assert "城关镇" in township.inner_text() and "chengguan" not in township.inner_text()   # names, codes only as values
    township.select_option("chengguan")
    for row, (name, role) in enumerate([("王五", "申请人"), ("平安县某装修公司", "被申请人")]):
        cells = start.locator("[data-field=parties] tbody tr").nth(row)
        cells.locator("[name=name]").fill(name)
        cells.locator("[name=role]").select_option(role)
    start.locator("button.btn-primary").click()
    accept = page.locator(".play-task[data-task=accept]")
    accept.wait_for()
    accept.locator("[data-field=accepted] select").select_option("false")
    accept.locator("[data-field=reject_reason] select").select_option("一方当事人明确拒绝调解")
    accept.locator("button.btn-primary").click()
    page.wait_for_function("document.querySelector('#play-box .play-error').textContent.includes('说明及告知的其他解决途径：')")
    accept.locator("[data-field=reject_note] textarea").fill("已告知当事人可向人民法院起诉。")
    accept.locator("button.btn-primary").click()
    review = page.locator(".play-task[data-task=review_refusal]")
    review.wait_for()
    assert "复核不予受理" in review.inner_text()
    review.locator("[data-field=review_opinion] textarea").fill("同意不予受理，已告知当事人可向法院起诉。")
    shoot(page, "studio-editor-play-desktop", full_page=False)
    review.locator("button.btn-primary").click()
    page.wait_for_function("document.getElementById('play-box').textContent.includes('已办结')")
    page.fill("#play-name", "not_accepted")
    page.fill("#play-title", "被申请人拒绝调解，不予受理经县综治中心复核")
    page.check("#play-overwrite")
    page.click("#play-save")
    page.wait_for_function("document.getElementById('test-summary').textContent.includes('已保存场景')")
    page.click("#test-run")
    page.wait_for_function("document.getElementById('test-summary').textContent.includes('全部通过')", timeout=120000)

    # The diff: the new element coloured on the new diagram, the parameter and the form in words.
    page.click("#diff-link")
    page.wait_for_function("document.body.dataset.diffReady === '1'")
    assert page.locator('#diagram-new .djs-element.diff-added[data-element-id="review_refusal"]').count() == 1
    assert "新增 " in page.inner_text("#diff-summary")
    changes = page.inner_text("#file-diffs")
    assert "accept_workdays" in changes and "forms/mediation/review_refusal.yaml" in changes
    assert "tests/scenarios/mediation/not_accepted.yaml" in changes
    shoot(page, "studio-diff-desktop")
    page.go_back()
    page.wait_for_function("window.studioTimings && window.studioTimings.open")

    # Deploy with a required change note.
    page.click("#deploy-open")
    page.click("#deploy-dialog button[type=submit]")
    assert "请填写修改说明" in page.inner_text("#deploy-dialog .error")
    page.fill("#deploy-note", "不予受理须经县综治中心复核；受理审查时限改为 2 个工作日")
    shoot(page, "studio-deploy-dialog-desktop", full_page=False)
    page.click("#deploy-dialog button[type=submit]")
    page.wait_for_url(re.compile(r".*/studio/processes/mediation\?deployed=\d+"))
    v2 = int(page.url.rsplit("=", 1)[-1])
    assert v2 > v1
    newest = page.locator(f"tr[data-version='{v2}']")
    assert "不予受理须经县综治中心复核" in newest.inner_text() and "当前" in newest.inner_text()
    shoot(page, "studio-versions-desktop")

    # Move the running v1 cases: dry run, then the job with its progress bar.
    page.click(".flash >> text=去迁移")
    page.select_option("#from_version", str(v1))
    page.click("#dry-run-button")
    page.locator("#dry-run tbody tr").first.wait_for()
    rows = {int(r.get_attribute("data-case")): r.inner_text() for r in page.locator("#dry-run tbody tr").all()}
    assert set(case_ids) <= set(rows) and all("可以迁移" in rows[i] for i in case_ids)
    shoot(page, "studio-migrate-dry-run-desktop")
    page.click("#migrate-run")
    page.wait_for_function("document.body.dataset.migrated", timeout=60000)
    assert page.evaluate("document.body.dataset.migrated") == "done", page.inner_text("#migrate-message")
    assert page.get_attribute("#migrate-progress .progress", "aria-valuenow") == "100"
    assert "已迁移" in page.inner_text("#migrate-message")
    shoot(page, "studio-migrate-done-desktop")

    # The migrated cases now run on v2: their diagram has the new step.
    for case_id in case_ids:
        page.goto(f"/cases/{case_id}")
        page.locator('#diagram [data-element-id="review_refusal"]').wait_for()
    with live_services.session() as s:
        from engine.store.models import Instance

        assert {s.get(Instance, i).definition.version for i in case_ids} == {v2}
    assert not errors, errors
    assert draft_id


def _draft_of(live_services, *, files=None, process="mediation") -> int:
    from engine.org.orgs import actor_for
    from engine.studio.drafts import create_draft

    with live_services.session() as s:
        draft = create_draft(s, actor=actor_for(s, username="designer"), process_key=None if files else process, files=files)
        s.commit()
        return draft.id


def test_two_designers_on_one_draft_get_a_conflict_warning_and_keep_their_text(new_page, live_services):
    draft_id = _draft_of(live_services)
    mine, theirs = new_page("designer"), new_page("admin")
    for page in (mine, theirs):
        page.goto(f"/studio/drafts/{draft_id}")
        page.wait_for_function("window.studioTimings && window.studioTimings.open")
        page.click("[data-tab=params]")
    theirs.fill("#param-follow_up_days", "10")
    _saved(theirs)
    mine.fill("#param-follow_up_days", "20")
    warning = mine.locator("#conflict")
    warning.wait_for()
    assert "系统管理员" in warning.inner_text() and "您的修改未保存" in warning.inner_text()
    assert mine.input_value("#param-follow_up_days") == "20"  # what this designer typed is still there
    assert "follow_up_days: 20" in mine.input_value("#params-raw")
    assert "未保存" in mine.inner_text("#save-status")
    shoot(mine, "studio-editor-conflict-desktop", full_page=False)
    with live_services.session() as s:
        from engine.studio.models import Draft

        assert "follow_up_days: 10" in s.get(Draft, draft_id).files["processes/mediation.yaml"]
    # Having read the warning, the designer saves over it on purpose.
    mine.click("#conflict-take-mine")
    _saved(mine)
    mine.click("#draft-history summary")
    mine.locator("#draft-history li").nth(2).wait_for()
    saves = mine.locator("#draft-history li").all_inner_texts()
    assert "流程设计员" in saves[0] and "系统管理员" in saves[1] and "processes/mediation.yaml" in saves[0]
    with live_services.session() as s:
        assert "follow_up_days: 20" in s.get(Draft, draft_id).files["processes/mediation.yaml"]


def test_studio_lists_work_on_a_phone_and_the_modeler_asks_for_a_wider_screen(new_page, live_services):
    draft_id = _draft_of(live_services)
    page = new_page("designer", mobile=True)
    page.goto("/studio")
    row = page.locator("tr[data-process=mediation]")
    assert row.is_visible() and row.bounding_box()["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "studio-home-phone", full_page=False)
    page.goto("/studio/processes/mediation")
    assert page.locator("#versions tr[data-version]").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "studio-versions-phone", full_page=False)
    page.goto("/studio/processes/mediation/migrate")
    assert page.locator("#dry-run-button").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "studio-migrate-phone")
    page.goto(f"/studio/drafts/{draft_id}")
    page.wait_for_function("window.studioTimings && window.studioTimings.open")
    assert "需要较宽的屏幕" in page.inner_text("#narrow-note")
    page.click("[data-tab=params]")
    assert page.locator("#param-accept_workdays").is_visible()
    shoot(page, "studio-editor-phone", full_page=False)


def test_opening_a_100_element_process_in_the_modeler(new_page, live_services):
    """Not a timed test: it measures and reports (bench/results/studio-browser.json), the bench keeps the goal."""
    import json
    import time

    from bench.studio import count_elements, generate

    files = generate()
    path = "processes/bench_studio.bpmn"
    elements = count_elements(files[path])
    assert elements == 100
    files[path] = _with_edges(files[path])  # flows drawn too, as a modeler-made file has them
    draft_id = _draft_of(live_services, files=files)
    page = new_page("designer")
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        page.goto(f"/studio/drafts/{draft_id}")
        page.wait_for_function("window.studioTimings && window.studioTimings.open")
        page_ms = (time.perf_counter() - started) * 1000
        timings = page.evaluate("window.studioTimings")
        samples.append({"import_ms": round(timings["open"], 1), "page_ms": round(page_ms, 1)})
    shown = page.evaluate("window.studioModeler.get('elementRegistry').filter(e => e.businessObject && e.businessObject.id"
                          " && e.type !== 'label' && !e.type.startsWith('bpmndi')).length")
    drawn = files[path].count("<bpmndi:BPMNShape") + files[path].count("<bpmndi:BPMNEdge")
    assert shown >= drawn  # every node and flow with layout is on the canvas
    out = ROOT / "bench" / "results" / "studio-browser.json"
    out.write_text(json.dumps({"elements": elements, "samples": samples}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"modeler open, {elements} elements: {samples}")


def _with_edges(bpmn: str) -> str:
    """Add a straight BPMNEdge between the centres of each flow's source and target shapes."""
    centre = {m[0]: (float(m[1]) + float(m[3]) / 2, float(m[2]) + float(m[4]) / 2) for m in re.findall(
        r'bpmnElement="([^"]+)"><dc:Bounds x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', bpmn)}
    edges = "".join(
        f'<bpmndi:BPMNEdge id="{f}_di" bpmnElement="{f}"><di:waypoint x="{centre[a][0]}" y="{centre[a][1]}"/>'
        f'<di:waypoint x="{centre[b][0]}" y="{centre[b][1]}"/></bpmndi:BPMNEdge>'
        for f, a, b in re.findall(r'<bpmn:sequenceFlow id="([^"]+)" sourceRef="([^"]+)" targetRef="([^"]+)"', bpmn))
    return bpmn.replace("</bpmndi:BPMNPlane>", edges + "</bpmndi:BPMNPlane>")


def _select(page, element_id):
    page.evaluate("""(id) => { const m = window.studioModeler, e = m.get('elementRegistry').get(id);
                              m.get('canvas').scrollToElement(e); m.get('selection').select(e); }""", element_id)


def _entry(page, entry_id):
    return page.input_value(f"#bio-properties-panel-{entry_id}")


def test_properties_panel_reads_pingans_settings_as_the_shipped_files_store_them(new_page, live_services):
    page = new_page("designer")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/studio/drafts/{_draft_of(live_services)}")
    page.wait_for_function("window.studioTimings && window.studioTimings.open")
    # Every element of mediation opens in the panel without an error.
    ids = page.evaluate("window.studioModeler.get('elementRegistry').filter(e => e.parent && e.type !== 'label').map(e => e.id)")
    for element_id in ids:
        _select(page, element_id)
    assert not errors, errors

    _select(page, "accept")
    _open_group(page, "办理设置")
    assert _entry(page, "dueDate") == "workdays(accept_workdays)"
    _select(page, "court_timeout")
    _open_group(page, "定时")
    assert _entry(page, "timerValue") == "days(court_wait_days)"
    assert page.locator("#bio-properties-panel-timerKind").input_value() == "timeDate"
    _select(page, "await_court")
    _open_group(page, "消息")
    assert (_entry(page, "messageName"), _entry(page, "messageVariable"), _entry(page, "correlation")) == (
        "judicial_confirmation", "court_result", "court_case_no")
    _select(page, "assess_risk")
    _open_group(page, "决策表")
    assert _entry(page, "calledDecisionId") == "mediation_risk"
    _select(page, "start_clock")
    _open_group(page, "脚本")
    assert "mediation_deadline = days(mediation_limit_days)" in page.input_value("#bio-properties-panel-script")
    _select(page, "lane_1")
    _open_group(page, "角色")
    assert page.locator("#bio-properties-panel-laneRole").input_value() == "调解员"
    shoot(page, "studio-editor-properties-desktop", full_page=False)

    # An edit in the panel lands in the XML the way the shipped files write it.
    _select(page, "accept")
    _open_group(page, "办理设置")
    page.fill("#bio-properties-panel-warnAt", "workdays(1)")
    page.locator("#bio-properties-panel-warnAt").press("Tab")
    _saved(page)
    xml = page.evaluate("async () => (await window.studioModeler.saveXML({format: true})).xml")
    accept = re.search(r'<bpmn:userTask id="accept".*?</bpmn:userTask>', xml, re.S).group(0)
    assert '<spiffworkflow:property name="dueDate" value="workdays(accept_workdays)" />' in accept
    assert '<spiffworkflow:property name="warnAt" value="workdays(1)" />' in accept
    assert "court_case_no" in re.search(r"<bpmn:correlationProperty .*?</bpmn:correlationProperty>", xml, re.S).group(0)

    # Decision tables open in dmn-js.
    page.click("[data-tab=dmn]")
    page.locator("#dmn-canvas .tjs-table").wait_for()
    assert page.locator("#dmn-canvas td").count() > 4
    shoot(page, "studio-editor-dmn-desktop", full_page=False)
    assert not errors, errors
