"""The published schema agrees with the engine's check: conditions, blank text, defaults, read-only fields."""
from __future__ import annotations

import itertools
import re

import pytest
from jsonschema import Draft202012Validator

from engine.definitions.form_conditions import condition_schema
from engine.definitions.form_fields import NONBLANK, WHITESPACE
from engine.definitions.forms import evaluate_visible_if, form_to_json_schema, parse_form, validate_form_data
from engine.errors import FormInvalid

FORM = """
title: 立案审查
fields:
  - {name: title, label: 标题, type: text, readonly: true}
  - {name: decision, label: 结论, type: select, required: true, options: [立案, 不立案, 重复], default: 立案}
  - {name: urgent, label: 紧急, type: boolean}
  - {name: amount, label: 金额, type: number}
  - {name: tags, label: 标签, type: multiselect, options: [涉众, 涉稳]}
  - {name: category, label: 类别, type: text, required: true, visible_if: "decision == '立案'"}
  - {name: duplicate_of, label: 重复编号, type: text, required: true, visible_if: "decision in ['重复'] and not urgent"}
  - {name: big_note, label: 大额说明, type: textarea, required: true, visible_if: "amount >= 10000 or '涉稳' in tags"}
  - {name: county_note, label: 县级意见, type: text, required: true, visible_if: "level == 'county'"}
"""
VALUES = {"decision": [None, "立案", "不立案", "重复"], "urgent": [None, True, False], "amount": [None, 0, 9999.5, 10000],
          "tags": [None, [], ["涉众"], ["涉稳", "涉众"]]}
FILLED = {"category": "治安", "duplicate_of": "SJ-1", "big_note": "原因", "county_note": "意见"}


def _engine_accepts(form, data: dict, context: dict) -> bool:
    try:
        validate_form_data(form, data, context=context)
        return True
    except FormInvalid:
        return False


@pytest.mark.parametrize("level", ["county", "township"])
def test_schema_and_engine_agree_on_every_combination_of_conditions(level):
    form = parse_form(FORM, key="t/accept")
    context = {"level": level}
    schema = Draft202012Validator(form_to_json_schema(form, context=context))
    for combo in itertools.product(*VALUES.values()):
        sent = {k: v for k, v in zip(VALUES, combo) if v is not None}
        for filled in itertools.product([False, True], repeat=len(FILLED)):
            data = sent | {k: v for (k, v), on in zip(FILLED.items(), filled) if on}
            if schema.is_valid(data):
                # Valid against the published schema: the engine must take it.
                assert _engine_accepts(form, data, context), data


def test_blank_text_fails_the_schema_of_a_required_field():
    form = parse_form(FORM, key="t/accept")
    schema = Draft202012Validator(form_to_json_schema(form, context={"level": "county"}))
    base = {"decision": "不立案", "county_note": "意见"}
    assert schema.is_valid(base)
    for blank in ("", "   ", "\u3000", "\t\n", "\x1c"):
        assert not schema.is_valid(base | {"county_note": blank}), repr(blank)
        assert not _engine_accepts(parse_form(FORM, key="t/accept"), base | {"county_note": blank}, {"level": "county"})


def test_read_only_fields_are_described_but_may_not_be_sent():
    schema = form_to_json_schema(parse_form(FORM, key="t/accept"), context={"level": "township"})
    assert schema["properties"]["title"]["readOnly"] is True
    assert not Draft202012Validator(schema).is_valid({"decision": "不立案", "title": "改"})


def test_the_whitespace_class_is_exactly_what_python_strips():
    stripped = {c for c in map(chr, range(0x110000)) if c.isspace()}
    matched = {c for c in map(chr, range(0x3001)) if not re.fullmatch(NONBLANK, c)}
    assert matched == {c for c in stripped if ord(c) <= 0x3000}
    assert "\\s" not in WHITESPACE  # spelled out: \s means different things in Python and ECMA-262


def test_a_condition_on_two_submitted_fields_makes_the_field_required_always():
    form = parse_form("""
title: 比较
fields:
  - {name: a, label: A, type: integer}
  - {name: b, label: B, type: integer}
  - {name: why, label: 原因, type: text, required: true, visible_if: "a > b"}
""", key="t/cmp")
    fields = {f.name: f for f in form.editable_fields()}
    assert condition_schema("a > b", fields=fields, context={}, evaluate=evaluate_visible_if) is None
    schema = form_to_json_schema(form)
    # Stricter than the engine, never looser: the schema asks for 原因 even when a <= b.
    assert not Draft202012Validator(schema).is_valid({"a": 1, "b": 2})
    assert _engine_accepts(form, {"a": 1, "b": 2}, {})


def test_unit_from_must_name_a_field_of_the_form():
    from engine.errors import DefinitionInvalid

    with pytest.raises(DefinitionInvalid) as refused:
        parse_form("title: 派遣\nfields:\n  - {name: limit_kind, label: 类型, type: text}\n"
                   "  - {name: limit_amount, label: 时限, type: number, unit_from: limit_knd}\n", key="t/d")
    assert [(d.field, d.hint) for d in refused.value.details] == [
        ("limit_amount", "是否想写 'limit_kind'？(did you mean 'limit_kind'?)")]


def test_an_org_within_another_agrees_between_schema_and_engine():
    # Issue 13, item 7: 所属村 only among the villages of the 所属乡镇 chosen.
    form = parse_form("""
title: 登记
fields:
  - {name: township, label: 所属乡镇, type: org, kind: township}
  - {name: village, label: 所属村, type: org, kind: village, within: township}
""", key="t/start")
    paths = {"a": "/1/2/", "b": "/1/3/", "a1": "/1/2/5/", "a2": "/1/2/6/", "b1": "/1/3/7/"}
    kinds = {"township": ["a", "b"], "village": ["a1", "a2", "b1"]}

    def choices(f):
        return kinds[f.kind]

    def within(f, outer):
        return [c for c in choices(f) if paths[c].startswith(paths[str(outer)])]

    schema = Draft202012Validator(form_to_json_schema(form, choices=choices, within=within))
    for township in (None, "a", "b"):
        for village in (None, "a1", "a2", "b1"):
            data = {k: v for k, v in (("township", township), ("village", village)) if v is not None}
            try:
                validate_form_data(form, data, choices=choices, within=within)
                accepted = True
            except FormInvalid as exc:
                accepted = False
                assert [d.message for d in exc.details] == ["所选组织不在所选的“所属乡镇”之内"]
            assert schema.is_valid(data) == accepted, data
            assert accepted == (township is None or village is None or village.startswith(township))


def test_within_must_name_another_org_field():
    from engine.errors import DefinitionInvalid

    with pytest.raises(DefinitionInvalid) as refused:
        parse_form("title: 登记\nfields:\n  - {name: township, label: 乡镇, type: org}\n"
                   "  - {name: village, label: 村, type: org, within: townshp}\n", key="t/s")
    assert [d.field for d in refused.value.details] == ["village"]
    assert "township" in refused.value.details[0].hint
