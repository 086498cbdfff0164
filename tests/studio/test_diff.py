"""Diff: a draft against a deployed version in a designer's terms: elements, form fields, DMN rules, parameters."""
from __future__ import annotations

import pytest

from engine.errors import NotAllowed
from engine.studio import drafts
from engine.studio.diff import diff_draft, diff_files, diff_versions
from engine.studio.workspace import version_files
from tests.studio.conftest import REVIEW_FORM, add_review_step


def _edit(session, draft, actor, path, change):
    text = change(draft.files[path])
    return drafts.put_file(session, draft_id=draft.id, path=path, text=text, base_revision=draft.revision, actor=actor)


def test_an_unchanged_draft_has_no_differences(session, actors, library):
    draft = drafts.create_draft(session, actor=actors("designer"), process_key="mediation")
    result = diff_draft(session, draft_id=draft.id, against=None, actor=actors("designer"))
    assert result["against"] == 1
    assert result["elements"] == {"added": [], "removed": [], "changed": [], "details": {}, "names": {}}
    assert result["files"] == []


def test_a_review_step_added_to_mediation(session, actors, library):
    designer = actors("designer")
    draft = drafts.create_draft(session, actor=designer, process_key="mediation")
    _edit(session, draft, designer, "processes/mediation.bpmn", add_review_step)
    drafts.put_file(session, draft_id=draft.id, path="forms/mediation/review.yaml", text=REVIEW_FORM,
                    base_revision=draft.revision, actor=designer)
    result = diff_draft(session, draft_id=draft.id, against=1, actor=designer)
    elements = result["elements"]
    assert elements["added"] == ["f_review_accept", "review"]
    assert elements["removed"] == []
    assert elements["changed"] == ["f_start_accept", "lane_0"]
    assert elements["details"]["f_start_accept"] == ["终点：accept（受理审查） → review（受理复核）"]
    assert elements["names"]["review"] == "受理复核"
    assert any("review" in line for line in elements["details"]["lane_0"])
    files = {f["path"]: f for f in result["files"]}
    assert files["forms/mediation/review.yaml"]["status"] == "added"
    assert files["processes/mediation.bpmn"]["status"] == "changed"
    assert {(c["status"], c["name"]) for c in files["processes/mediation.bpmn"]["changes"]} == {
        ("added", "review"), ("added", "f_review_accept"), ("changed", "f_start_accept"), ("changed", "lane_0")}


def test_moving_a_shape_is_not_a_change_but_renaming_a_timer_setting_is(session, actors, library):
    old = version_files(session, key="mediation", version=1)
    moved = dict(old)
    moved["processes/mediation.bpmn"] = old["processes/mediation.bpmn"].replace(
        '<dc:Bounds x="280" y="35" width="120" height="80" />', '<dc:Bounds x="300" y="55" width="120" height="80" />')
    assert moved != old and diff_files(old, moved)["elements"]["changed"] == []
    due = dict(old)
    due["processes/mediation.bpmn"] = old["processes/mediation.bpmn"].replace(
        'value="workdays(accept_workdays)"', 'value="workdays(accept_workdays + 1)"')
    result = diff_files(old, due)["elements"]
    assert result["changed"] == ["accept"]
    assert result["details"]["accept"] == ["设置 dueDate：workdays(accept_workdays) → workdays(accept_workdays + 1)"]


def test_form_parameter_and_rule_changes_are_itemised(session, actors, library):
    designer = actors("designer")
    draft = drafts.create_draft(session, actor=designer, process_key="mediation")
    _edit(session, draft, designer, "processes/mediation.yaml",
          lambda t: t.replace("accept_workdays: 1", "accept_workdays: 3").replace("follow_up_days: 15", "follow_up_days: 10"))
    _edit(session, draft, designer, "forms/mediation/accept.yaml",
          lambda t: t.replace("label: 是否受理", "label: 是否予以受理") + "- {name: accept_note, label: 受理说明, type: textarea}\n")
    _edit(session, draft, designer, "processes/mediation_risk.dmn", lambda t: t.replace("&gt;= 30", "&gt;= 20"))
    files = {f["path"]: f for f in diff_draft(session, draft_id=draft.id, against=None, actor=designer)["files"]}
    assert set(files) == {"processes/mediation.yaml", "forms/mediation/accept.yaml", "processes/mediation_risk.dmn"}
    params = files["processes/mediation.yaml"]["changes"]
    assert [(c["what"], c["name"], c["before"], c["after"]) for c in params] == [
        ("variable", "accept_workdays", "1", "3"), ("variable", "follow_up_days", "15", "10")]
    form = files["forms/mediation/accept.yaml"]["changes"]
    assert [(c["status"], c["name"], c["label"]) for c in form] == [
        ("changed", "accepted", "是否予以受理"), ("added", "accept_note", "受理说明")]
    assert '"label": "是否受理"' in form[0]["before"] and '"label": "是否予以受理"' in form[0]["after"]
    rules = files["processes/mediation_risk.dmn"]["changes"]
    assert [(c["what"], c["status"], c["name"]) for c in rules] == [("rule", "changed", "mediation_risk_r2")]
    assert ">= 30" in rules[0]["before"] and ">= 20" in rules[0]["after"]
    assert files["processes/mediation.yaml"]["kind"] == "parameters" and files["processes/mediation_risk.dmn"]["kind"] == "dmn"


def test_a_rule_row_added_and_removed(session, library):
    old = version_files(session, key="mediation", version=1)
    new = dict(old)
    dmn = old["processes/mediation_risk.dmn"]
    start, end = dmn.index('<rule id="mediation_risk_r1">'), dmn.index('<rule id="mediation_risk_r2">')
    new["processes/mediation_risk.dmn"] = dmn[:start] + dmn[start:end].replace("mediation_risk_r1", "r_new") + dmn[end:]
    rules = {(c["status"], c["name"]) for f in diff_files(old, new)["files"] for c in f["changes"]}
    assert rules == {("added", "r_new"), ("removed", "mediation_risk_r1")}


def test_two_versions_compare_and_staff_may_not_diff(session, actors, library):
    from engine.studio.versions import deploy_draft

    designer = actors("designer")
    draft = drafts.create_draft(session, actor=designer, process_key="mediation")
    _edit(session, draft, designer, "processes/mediation.yaml", lambda t: t.replace("accept_workdays: 1", "accept_workdays: 2"))
    assert deploy_draft(session, draft_id=draft.id, note="受理时限改为两个工作日", actor=designer).version == 2
    result = diff_versions(session, key="mediation", version=2, against=1)
    assert [f["path"] for f in result["files"]] == ["processes/mediation.yaml"]
    with pytest.raises(NotAllowed):
        diff_draft(session, draft_id=draft.id, against=1, actor=actors("wang.wg"))


def test_a_new_process_diffs_as_all_added(session, actors):
    draft = drafts.create_draft(session, actor=actors("designer"), process_key="brand_new")
    result = diff_draft(session, draft_id=draft.id, against=None, actor=actors("designer"))
    assert result["against"] is None
    assert result["elements"]["added"] == ["brand_new", "end", "flow_1", "start"]
    assert {(f["path"], f["status"]) for f in result["files"]} == {
        ("processes/brand_new.bpmn", "added"), ("processes/brand_new.yaml", "added")}


def test_an_attribute_written_out_at_its_bpmn_default_is_no_change():
    from engine.studio.diff import diff_files

    before = {"processes/p.bpmn": '<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"><bpmn:process id="p" isExecutable="true"><bpmn:userTask id="u"/><bpmn:boundaryEvent id="b" attachedToRef="u" cancelActivity="true"><bpmn:timerEventDefinition/></bpmn:boundaryEvent></bpmn:process></bpmn:definitions>'}
    after = {"processes/p.bpmn": before["processes/p.bpmn"].replace(' cancelActivity="true"', "")}
    result = diff_files(before, after)
    assert (result["elements"]["added"], result["elements"]["removed"], result["elements"]["changed"]) == ([], [], [])
