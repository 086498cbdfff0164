"""Validation refuses code that reads names neither the sandbox nor any task data provides."""
from __future__ import annotations

import pytest

from engine.definitions.deployment import collect_sources, validate
from engine.errors import DefinitionInvalid
from tests.factories import copy_repo

SCRIPT = "level = 'high' if amount &gt; 10000 else 'normal'"


def _review_with(tmp_path, old: str, new: str):
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    text = bpmn.read_text()
    assert old in text
    bpmn.write_text(text.replace(old, new))
    return repo, bpmn


def _problems(repo) -> list[dict]:
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([repo]))
    return [d.as_dict() for d in err.value.details]


def _line_of(path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_open_in_a_script_is_refused_at_validation(tmp_path):
    repo, bpmn = _review_with(tmp_path, SCRIPT, "level = open('/etc/passwd').read()")
    [problem] = _problems(repo)
    assert problem["message"] == "脚本不能使用 'open'：沙箱不提供它"
    assert problem["message_en"] == "scripts cannot use 'open': the sandbox does not provide it"
    assert problem["element_id"] == "classify"
    assert problem["file"] == "review.bpmn"
    assert problem["line"] == _line_of(bpmn, "open('/etc/passwd')")


def test_misspelt_helper_in_a_script_suggests_the_helper(tmp_path):
    repo, _ = _review_with(tmp_path, SCRIPT, "level = workday(3)")
    [problem] = _problems(repo)
    assert problem["message"].startswith("脚本使用了未定义的名称 'workday'")
    assert problem["hint"] == "是否指 'workdays'？(did you mean 'workdays'?)"
    assert problem["element_id"] == "classify"


def test_misspelt_helper_in_a_due_date_property_suggests_the_helper(tmp_path):
    repo, _ = _review_with(tmp_path, 'value="workdays(3)"', 'value="workday(3)"')
    [problem] = _problems(repo)
    assert "'workday'" in problem["message"]
    assert problem["hint"] == "是否指 'workdays'？(did you mean 'workdays'?)"


START_FORM = "title: 发起\nfields:\n  - {name: subject, label: 事项, type: text}\n"


def test_misspelt_field_in_a_script_suggests_the_field_when_a_start_form_declares_the_data(tmp_path):
    repo, _ = _review_with(tmp_path, SCRIPT, "level = 'high' if amout &gt; 10000 else 'normal'")
    (repo / "forms" / "review" / "start.yaml").write_text(START_FORM, encoding="utf-8")
    [problem] = _problems(repo)
    assert problem["message"].startswith("脚本使用了未定义的名称 'amout'")
    assert problem["hint"] == "是否指 'amount'？(did you mean 'amount'?)"


def test_without_a_start_form_any_field_may_come_as_start_data(tmp_path):
    repo, _ = _review_with(tmp_path, SCRIPT, "level = 'high' if from_start_data &gt; 10000 else 'normal'")
    assert "review" in {v.parsed.key for v in validate(collect_sources([repo]))}


def test_refused_builtin_in_a_condition_is_reported(tmp_path):
    repo, _ = _review_with(tmp_path, "level == 'high'", "level == 'high' and getattr(level, 'x')")
    messages = [p["message"] for p in _problems(repo)]
    assert any(m.startswith("脚本不能使用 'getattr'") for m in messages)


def test_names_the_script_binds_itself_or_guards_are_accepted(tmp_path):
    script = ("import math\ntry:\n    base = maybe_earlier\nexcept NameError:\n    base = None\n"
              "def twice(n):\n    return n * 2\nlevel = 'high' if twice(amount) &gt; math.floor(10000.5) else 'normal'\n"
              "names = [x for x in ['a']]\nprint(names)")
    repo, _ = _review_with(tmp_path, SCRIPT, script)
    assert {v.parsed.key for v in validate(collect_sources([repo]))} >= {"review"}


def test_assigning_to_a_helper_name_is_refused(tmp_path):
    repo, _ = _review_with(tmp_path, SCRIPT, "days = 3\nlevel = 'normal'")
    [problem] = _problems(repo)
    assert problem["message"] == "脚本不能给辅助函数名 'days' 赋值，请换一个变量名"
    assert problem["element_id"] == "classify"
