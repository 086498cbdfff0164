"""A draft is validated with the checks of `pingan validate`; every problem is located by draft path."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.errors import NotAllowed
from engine.studio import drafts
from engine.studio.drafts import validate_draft
from engine.studio.validation import problem_row, validate_files
from engine.studio.workspace import workspace
from web import cli

FLOW = '<bpmn:sequenceFlow id="flow_1" sourceRef="start" targetRef="end" />'
TASK = ('<bpmn:sequenceFlow id="flow_1" sourceRef="start" targetRef="check" />\n'
        '    <bpmn:userTask id="check" name="核查">\n      <bpmn:incoming>flow_1</bpmn:incoming>\n'
        '      <bpmn:outgoing>flow_2</bpmn:outgoing>\n    </bpmn:userTask>\n'
        '    <bpmn:sequenceFlow id="flow_2" sourceRef="check" targetRef="end" />')
LANE = ('<bpmn:laneSet id="lanes">\n      <bpmn:lane id="lane_1" name="{lane}">\n'
        '        <bpmn:flowNodeRef>check</bpmn:flowNodeRef>\n      </bpmn:lane>\n    </bpmn:laneSet>\n    '
        '<bpmn:startEvent id="start"')


def _files(**changes) -> dict[str, str]:
    files = drafts.skeleton("v", "校验")
    for path, change in changes.items():
        path = path.replace("__", "/").replace("_dot_", ".")
        files[path] = change(files.get(path, ""))
    return files


def _bpmn(change):
    return {"processes__v_dot_bpmn": change}


CASES = {
    "broken XML": (_bpmn(lambda t: t.replace("</bpmn:process>", "")), "processes/v.bpmn", 31, None, "XML 语法错误"),
    "condition does not compile": (_bpmn(lambda t: t.replace(
        FLOW, FLOW[:-3] + "><bpmn:conditionExpression>amount &gt; </bpmn:conditionExpression></bpmn:sequenceFlow>")),
        "processes/v.bpmn", 15, "flow_1", "条件表达式无法在沙箱中编译"),
    "user task without lane": (_bpmn(lambda t: t.replace(FLOW, TASK)), "processes/v.bpmn", 16, "check", "不在任何泳道中"),
    "unknown lane": (_bpmn(lambda t: t.replace(FLOW, TASK).replace('<bpmn:startEvent id="start"',
                                                                    LANE.replace("{lane}", "调度"))),
                     "processes/v.bpmn", None, "check", "不是已知角色"),
    "unknown parameter key": ({"processes__v_dot_yaml": lambda t: t + "colour: red\n"}, "processes/v.yaml", None, None,
                              "未知的配置项 'colour'"),
    "malformed parameters": ({"processes__v_dot_yaml": lambda t: t + "variables: [\n"}, "processes/v.yaml", 3, None,
                             "YAML 格式错误"),
    "form field type": ({"forms__v__ghost_dot_yaml": lambda t: "title: 幽灵\nfields:\n  - {name: a, label: A, type: txet}\n"},
                        "forms/v/ghost.yaml", 3, None, "未知的字段类型 'txet'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_names_file_line_element_and_message(case):
    changes, file, line, element, message = CASES[case]
    problems = validate_files(_files(**changes))
    found = [p for p in problems if message in p.message]
    assert found, [str(p) for p in problems]
    problem = found[0]
    assert problem.file == file and problem.element_id == element and problem.message_en
    if line is not None:
        assert problem.line == line
    row = problem_row(problem)
    assert set(row) == {"file", "line", "element_id", "message", "message_en", "hint"}


def test_the_lane_hint_says_did_you_mean():
    problems = validate_files(_files(**_bpmn(lambda t: t.replace(FLOW, TASK).replace(
        '<bpmn:startEvent id="start"', LANE.replace("{lane}", "调度")))))
    lane = next(p for p in problems if "不是已知角色" in p.message)
    assert "调度员" in lane.hint


@pytest.mark.parametrize("case", ["user task without lane", "unknown parameter key", "form field type"])
def test_the_same_problems_as_pingan_validate(case):
    files = _files(**CASES[case][0])
    problems = validate_files(files)
    with workspace(files) as root:
        result = CliRunner().invoke(cli.main, ["validate", str(root)])
    assert result.exit_code == 1
    listed = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(listed) == len(problems)
    assert all(any(p.message in line for line in listed) for p in problems)


def test_a_valid_draft_has_no_problems_and_staff_may_not_validate(session, actors, library):
    draft = drafts.create_draft(session, actor=actors("designer"), process_key="mediation")
    assert validate_draft(session, draft_id=draft.id, actor=actors("designer")) == []
    with pytest.raises(NotAllowed):
        validate_draft(session, draft_id=draft.id, actor=actors("wang.wg"))


def test_a_file_the_parser_cannot_handle_is_a_problem_not_a_crash():
    files = _files()
    files["processes/x.dmn"] = "<definitions/>"  # no DMN namespace at all
    problems = validate_files(files)
    assert problems and all(p.message for p in problems)
