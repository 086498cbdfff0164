"""Deploying and validating definitions: every bad input is refused with file, line and element."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.definitions.deployment import collect_sources, deploy, get_definition, validate
from engine.errors import DefinitionInvalid
from engine.store.models import ProcessDefinition
from tests.factories import REPO, copy_repo


def _problems(exc: DefinitionInvalid) -> list[dict]:
    return [d.as_dict() for d in exc.details]


def _line_of(path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_fixture_repository_validates():
    keys = {v.parsed.key for v in validate(collect_sources([REPO]))}
    # Every fixture process, each added with the tests that need it.
    assert {"await_msg", "fragile", "review", "assign", "returns", "countersign", "vote", "orsign",
            "supervise", "hotline", "parallel"} <= keys


def test_redeploying_identical_files_is_a_no_op(session):
    before = session.scalar(select(func.count()).select_from(ProcessDefinition))
    results = deploy(session, paths=[REPO])
    assert {r.created for r in results} == {False}
    assert session.scalar(select(func.count()).select_from(ProcessDefinition)) == before


def test_changed_file_gets_next_version(session, tmp_path):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    bpmn.write_text(bpmn.read_text().replace('name="登记"', 'name="登记受理"'))
    v1 = get_definition(session, key="review").version
    results = {r.key: r for r in deploy(session, paths=[repo])}
    assert results["review"].created and results["review"].version == v1 + 1
    assert not results["fragile"].created
    assert get_definition(session, key="review").version == v1 + 1


def test_xxe_is_rejected_and_leaks_nothing(session, tmp_path):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    text = bpmn.read_text().replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')
    bpmn.write_text(text.replace('name="登记"', 'name="&e;"'))
    with pytest.raises(DefinitionInvalid) as err:
        deploy(session, paths=[repo])
    rendered = str(err.value) + json.dumps(err.value.as_dict(), ensure_ascii=False)
    assert "DOCTYPE" in rendered
    assert "root:" not in rendered and "/bin/" not in rendered
    assert _problems(err.value)[0]["file"] == "review.bpmn"
    from web.cli import main

    result = CliRunner().invoke(main, ["validate", str(bpmn)])
    assert result.exit_code == 1
    assert "root:" not in result.output and "DOCTYPE" in result.output


def test_missing_form_names_file_line_and_element(tmp_path):
    repo = copy_repo(tmp_path)
    (repo / "forms" / "review" / "approve.yaml").unlink()
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    [problem] = [p for p in _problems(err.value) if p.get("element_id") == "approve"]
    assert problem["file"] == "review.bpmn"
    assert problem["element_id"] == "approve"
    assert problem["line"] == _line_of(repo / "processes" / "review.bpmn", '<bpmn:userTask id="approve"')
    assert "forms/review/approve.yaml" in problem["message"]


def test_malformed_xml_reports_its_line(tmp_path):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    bpmn.write_text(bpmn.read_text().replace("</bpmn:startEvent>", "</bpmn:startEvnt>", 1))
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    [problem] = _problems(err.value)
    assert problem["file"] == "review.bpmn"
    assert problem["line"] == _line_of(bpmn, "</bpmn:startEvnt>")


def test_condition_on_unknown_field_suggests_the_right_one(tmp_path):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    bpmn.write_text(bpmn.read_text().replace("approved == True", "aproved == True"))
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    [problem] = _problems(err.value)
    assert problem["element_id"] == "f_yes"
    assert "aproved" in problem["message"]
    assert "approved" in problem["hint"]


def test_flow_to_missing_element_is_reported(tmp_path):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    bpmn.write_text(bpmn.read_text().replace('targetRef="classify"', 'targetRef="clasify"'))
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    problem = next(p for p in _problems(err.value) if "clasify" in p["message"])
    assert problem["element_id"] == "f2" and "classify" in problem["hint"]


def test_unknown_lane_role_and_bad_timer_and_script(tmp_path):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    text = bpmn.read_text().replace('name="leader"', 'name="boss"')
    text = text.replace('value="workdays(3)"', 'value="workdays(3"')
    text = text.replace("level = 'high' if amount &gt; 10000 else 'normal'", "level = ().__class__")
    bpmn.write_text(text)
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    messages = " | ".join(p["message"] for p in _problems(err.value))
    assert "泳道 'boss' 不是已知角色" in messages
    assert "dueDate" in messages
    assert "脚本无法在沙箱中编译" in messages


def test_timer_literal_must_be_iso(tmp_path):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "await_msg.bpmn"
    bpmn.write_text(bpmn.read_text().replace(
        '<bpmn:messageEventDefinition id="med_1" messageRef="msg_confirm" />',
        "<bpmn:timerEventDefinition id='t1'><bpmn:timeDuration>'P3X'</bpmn:timeDuration></bpmn:timerEventDefinition>"))
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    [problem] = _problems(err.value)
    assert problem["element_id"] == "wait_confirm" and "ISO 8601" in problem["message"]


def test_form_without_task_is_reported(tmp_path):
    repo = copy_repo(tmp_path)
    (repo / "forms" / "review" / "orphan.yaml").write_text("title: 孤立\nfields: []\n")
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    assert any("review/orphan" in p["message"] for p in _problems(err.value))
