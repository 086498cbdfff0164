"""Form definitions: parsing with located problems, JSON Schema, storage round trip, validation."""
from __future__ import annotations

import copy
import json
from textwrap import dedent

import pytest
from jsonschema import Draft202012Validator

from engine.definitions.forms import (
    FieldType, Form, Option, evaluate_visible_if, form_from_dict, form_to_dict, form_to_json_schema, load_forms,
    parse_form, validate_form_data,
)
from engine.errors import DefinitionInvalid, FormInvalid

SAMPLE = dedent("""\
    title: 登记受理
    description: 请如实填写纠纷情况
    fields:
      - name: dispute_type
        label: 纠纷类型
        label_en: Dispute type
        type: select
        options: [婚姻家庭, 邻里纠纷, 劳动争议]
        required: true
        default: 邻里纠纷
      - name: amount
        label: 涉及金额（元）
        type: number
        min: 0
        max: 100000000
      - name: household_size
        label: 家庭人口
        type: integer
        min: 1
        max: 100
      - name: phone
        label: 联系电话
        type: text
        pattern: '^1\\d{10}$'
        pattern_message: 请输入11位手机号
        sensitive: true
      - name: occurred_on
        label: 发生日期
        type: date
      - name: reported_at
        label: 报告时间
        type: datetime
      - name: severity
        label: 严重程度
        type: select
        options: [{value: low, label: 低}, {value: high, label: 高, label_en: High}]
      - name: tags
        label: 标签
        type: multiselect
        options: [涉众, 涉访, 涉暴]
      - name: priority
        label: 优先级
        type: select
        options: [{value: 1, label: 一般}, {value: 2, label: 紧急}]
      - name: mediator
        label: 调解员
        type: person
        role: mediator
      - name: township
        label: 乡镇
        type: org
        kind: township
      - name: parties
        label: 当事人
        type: table
        min_rows: 2
        max_rows: 20
        columns:
          - {name: name, label: 姓名, type: text, required: true, max_length: 50}
          - {name: id_number, label: 身份证号, type: text, pattern: '^\\d{17}[\\dXx]$', sensitive: true}
      - name: evidence
        label: 证据材料
        type: file
        max_files: 3
        accept: [pdf, .JPG, png]
      - name: police_notified
        label: 已通知公安
        type: boolean
        required: true
        visible_if: risk_level == 'high'
      - name: notes
        label: 备注
        type: textarea
        min_length: 5
        max_length: 200
        help: 简要说明经过
        placeholder: 例如：双方因宅基地边界发生争执
      - name: summary
        label: 案情摘要
        type: textarea
        readonly: true
      - name: internal_note
        hidden: true
    """)

PARTIES = [{"name": "张三"}, {"name": "李四", "id_number": "11010119900101123X"}]


@pytest.fixture
def form() -> Form:
    return parse_form(SAMPLE, key="mediation/register", file="forms/mediation/register.yaml")


def problems_of(source: str) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_form(source, key="p/t", file="forms/p/t.yaml")
    assert all(p.file == "forms/p/t.yaml" for p in caught.value.details)
    return [(p.line, p.field, p.message) for p in caught.value.details]


def errors_of(form: Form, data: dict, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(FormInvalid) as caught:
        validate_form_data(form, data, **kwargs)
    assert caught.value.message == "表单填写有误，请检查标出的字段"
    assert caught.value.status == 422
    assert all(p.message_en for p in caught.value.details)
    return [(p.field, p.message) for p in caught.value.details]


def valid(**data) -> dict:
    return {"parties": PARTIES} | data


# --- parsing ---------------------------------------------------------------------------------

def test_parse_reads_every_attribute(form):
    assert form.key == "mediation/register"
    assert form.title == "登记受理" and form.description == "请如实填写纠纷情况"
    dispute = form.field("dispute_type")
    assert dispute.type is FieldType.SELECT and dispute.type == "select"
    assert dispute.required and dispute.default == "邻里纠纷" and dispute.label_en == "Dispute type"
    assert [o.value for o in dispute.options] == ["婚姻家庭", "邻里纠纷", "劳动争议"]
    assert form.field("severity").options[1] == Option("high", "高", "High")
    assert form.field("priority").options[0] == Option(1, "一般")
    assert form.field("phone").pattern == r"^1\d{10}$" and form.field("phone").sensitive
    parties = form.field("parties")
    assert (parties.min_rows, parties.max_rows) == (2, 20)
    assert [c.name for c in parties.columns] == ["name", "id_number"]
    assert parties.columns[0].required and parties.columns[0].max_length == 50
    assert form.field("evidence").accept == ("pdf", "jpg", "png")
    assert form.field("mediator").role == "mediator" and form.field("township").kind == "township"
    assert form.field("notes").help == "简要说明经过"
    hidden = form.field("internal_note")
    assert hidden.hidden and hidden.label == "internal_note" and hidden.type is FieldType.TEXT
    assert form.field("nope") is None


def test_field_names_include_readonly_and_hidden_but_editable_fields_do_not(form):
    assert {"summary", "internal_note", "parties"} <= form.field_names()
    editable = [f.name for f in form.editable_fields()]
    assert "summary" not in editable and "internal_note" not in editable
    assert editable[:3] == ["dispute_type", "amount", "household_size"]


BROKEN = dedent("""\
    title: 测试
    descripton: 拼错的属性
    fields:
      - name: kind
        label: 类别
        type: selct
      - name: kind
        label: 重名
        type: text
        requird: true
      - name: Bad-Name
        label: 坏名字
        type: select
      - name: choice
        label: 选择
        type: select
        options: [甲, 乙]
        default: 丙
      - name: amount
        label: 金额
        type: number
        min: 10
        max: 5
      - name: code
        label: 编码
        type: text
        pattern: '(['
      - name: people
        label: 人员
        type: table
      - name: groups
        label: 分组
        type: table
        columns:
          - name: inner
            label: 内表
            type: table
      - name: flag
        label: 标志
        type: boolean
        visible_if: kind ==
      - name: big
        label: 大数
        type: number
        max: 1e8
        options: [a]
      - name: class
        label: 关键字
        type: date
      - name: unlabelled
        type: text
    """)


def test_parse_reports_every_problem_at_once_with_its_line():
    assert problems_of(BROKEN) == [
        (2, None, "未知的表单属性 'descripton'"),
        (6, "kind", "未知的字段类型 'selct'"),
        (7, "kind", "字段名 'kind' 重复"),
        (10, "kind", "未知的字段属性 'requird'"),
        (11, "Bad-Name", "字段名 'Bad-Name' 不合法：只能用小写字母、数字和下划线，且不能以数字开头"),
        (11, "Bad-Name", "select 类型的字段必须提供 options（选项）"),
        (18, "choice", "默认值 '丙' 不在选项中"),
        (22, "amount", "min（10）不能大于 max（5）"),
        (27, "code", "pattern 正则表达式无效：unterminated character set at position 1"),
        (28, "people", "table 类型的字段必须提供 columns（列）"),
        (37, "groups.inner", "表格的列不能是 table 类型（不支持嵌套表格）"),
        (41, "flag", "visible_if 表达式有语法错误：invalid syntax"),
        (45, "big", "属性 'max' 应为数字"),
        (46, "big", "属性 'options' 不适用于 number 类型的字段"),
        (47, "class", "字段名 'class' 是 Python 关键字，无法在条件和脚本中使用"),
        (50, "unlabelled", "字段缺少 label（中文标签）"),
    ]


def test_parse_hints_say_what_was_meant():
    with pytest.raises(DefinitionInvalid) as caught:
        parse_form(BROKEN, key="p/t")
    hints = {p.message: p.hint for p in caught.value.details}
    assert hints["未知的表单属性 'descripton'"] == "是否想写 'description'？(did you mean 'description'?)"
    assert hints["未知的字段类型 'selct'"] == "是否想写 'select'？(did you mean 'select'?)"
    assert hints["未知的字段属性 'requird'"] == "是否想写 'required'？(did you mean 'required'?)"
    assert hints["字段名 'kind' 重复"] == "第 4 行已有同名字段"
    assert hints["字段名 'Bad-Name' 不合法：只能用小写字母、数字和下划线，且不能以数字开头"] == "可改为 'bad_name'"
    assert caught.value.message == "表单定义有误：p/t"


def test_malformed_yaml_is_one_problem_on_its_line():
    source = "title: 测试\nfields:\n  - name: a\n    label: [甲\n"
    [(line, field, message)] = problems_of(source)
    assert line == 5 and field is None and message.startswith("YAML 语法错误：")


@pytest.mark.parametrize("source, line", [
    ("title: &t 测试\nfields: []\n", 1),
    ("title: 测试\nalias: *t\n", 2),
    ("title: 测试\nfields:\n  - !!python/object/apply:os.system [ls]\n", 3),
    ("title: 测试\nfields: !!set {a, b}\n", 2),
])
def test_yaml_anchors_aliases_and_tags_are_refused(source, line):
    assert problems_of(source) == [(line, None, "表单定义中不能使用 YAML 锚点（&）、别名（*）或标签（!）")]


def test_duplicate_yaml_keys_are_reported_not_silently_overwritten():
    source = "title: 一\nfields:\n  - name: a\n    label: 甲\n    type: text\n    type: integer\n"
    assert problems_of(source) == [(6, None, "键 'type' 重复")]


@pytest.mark.parametrize("source, expected", [
    ("", [(None, None, "表单定义为空")]),
    ("- 一\n", [(1, None, "表单定义应为“属性: 值”的映射")]),
    ("description: 无标题\nfields: []\n", [(1, None, "缺少表单标题 title")]),
    ("title: 无字段\n", [(1, None, "缺少字段列表 fields")]),
])
def test_form_level_problems(source, expected):
    assert problems_of(source) == expected


def test_attribute_problems_point_at_the_attribute_line():
    source = dedent("""\
        title: 属性
        fields:
          - name: a
            label: 甲
            type: text
            required: 是
            min_length: -1
            pattern_message: 只有提示
            options: [x]
          - name: b
            label: 乙
            type: multiselect
            options: [{value: 1, label: 一}, {value: 1, label: 重复}, yes, {value: 3, lable: 三}]
          - name: c
            label: 丙
            type: table
            columns:
              - {name: x, label: 列, type: text, visible_if: a}
          - name: d
            label: 丁
            type: text
            readonly: true
            required: true
          - name: e
            label: 戊
            type: date
            default: 2024-02-30
          - name: f
            label: 己
            type: integer
            min: 1
            default: 0
        """)
    assert problems_of(source) == [
        (6, "a", "属性 'required' 应为 true 或 false"),
        (7, "a", "属性 'min_length' 应为非负整数"),
        (9, "a", "属性 'options' 不适用于 text 类型的字段"),
        (8, "a", "pattern_message 需要与 pattern 一起使用"),
        (13, "b", "选项 '1' 重复"),
        (13, "b", "选项值应为文字或整数"),
        (13, "b", "未知的选项属性 'lable'"),
        (18, "c.x", "表格的列不支持属性 'visible_if'"),
        (23, "d", "只读或隐藏的字段不能设为必填"),
        (27, "e", "默认值无效：日期不存在"),
        (32, "f", "默认值无效：不能小于 1"),
    ]


def test_parse_accepts_a_mapping_without_lines():
    with pytest.raises(DefinitionInvalid) as caught:
        parse_form({"title": "字典", "fields": [{"name": "a", "label": "甲", "type": "txt"}]}, key="p/t")
    [problem] = caught.value.details
    assert (problem.line, problem.field, problem.message) == (None, "a", "未知的字段类型 'txt'")
    assert problem.hint == "是否想写 'text'？(did you mean 'text'?)"


# --- storage and JSON Schema ----------------------------------------------------------------

def test_form_round_trips_through_json_exactly(form):
    stored = json.loads(json.dumps(form_to_dict(form), ensure_ascii=False))
    assert stored["key"] == "mediation/register"
    assert stored["fields"][0] == {"name": "dispute_type", "label": "纠纷类型", "type": "select",
                                   "label_en": "Dispute type", "required": True, "default": "邻里纠纷",
                                   "options": [{"value": "婚姻家庭", "label": "婚姻家庭"},
                                               {"value": "邻里纠纷", "label": "邻里纠纷"},
                                               {"value": "劳动争议", "label": "劳动争议"}]}
    assert form_from_dict(stored) == form


def test_multiselect_default_round_trips():
    source = "title: 默认\nfields:\n  - {name: t, label: 标签, type: multiselect, options: [a, b], default: [b]}\n"
    form = parse_form(source, key="p/t")
    assert form.field("t").default == ("b",)
    assert form_from_dict(json.loads(json.dumps(form_to_dict(form)))) == form


def test_json_schema_describes_the_submission(form):
    schema = form_to_json_schema(form)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "登记受理" and schema["type"] == "object"
    assert schema["required"] == ["dispute_type"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert "internal_note" not in props
    assert props["dispute_type"] == {"title": "纠纷类型", "x-type": "select", "type": "string",
                                     "enum": ["婚姻家庭", "邻里纠纷", "劳动争议"], "x-label-en": "Dispute type",
                                     "default": "邻里纠纷"}
    assert props["amount"].items() >= {"type": "number", "minimum": 0, "maximum": 100000000}.items()
    assert props["household_size"]["type"] == "integer"
    assert props["phone"]["pattern"] == r"^1\d{10}$" and props["phone"]["x-sensitive"] is True
    assert props["occurred_on"]["format"] == "date" and props["reported_at"]["format"] == "date-time"
    assert props["priority"]["enum"] == [1, 2] and props["priority"]["type"] == "integer"
    assert props["priority"]["x-options"] == [{"value": 1, "label": "一般"}, {"value": 2, "label": "紧急"}]
    assert props["tags"]["type"] == "array" and props["tags"]["items"]["enum"] == ["涉众", "涉访", "涉暴"]
    assert props["evidence"]["maxItems"] == 3 and props["evidence"]["x-accept"] == ["pdf", "jpg", "png"]
    assert props["evidence"]["items"]["type"] == "string"
    table = props["parties"]
    assert (table["minItems"], table["maxItems"]) == (2, 20)
    assert table["items"]["required"] == ["name"]
    assert table["items"]["properties"]["name"]["maxLength"] == 50
    assert table["items"]["additionalProperties"] is False
    assert props["notes"]["description"] == "简要说明经过" and props["notes"]["minLength"] == 5
    assert props["summary"]["readOnly"] is True
    assert props["police_notified"]["x-visible-if"] == "risk_level == 'high'"
    assert "police_notified" not in schema["required"]
    assert props["mediator"]["x-role"] == "mediator" and props["township"]["x-kind"] == "township"


# --- validation -----------------------------------------------------------------------------

def test_valid_data_is_cleaned_and_coerced(form):
    cleaned = validate_form_data(form, valid(
        amount="12.5", household_size="４", phone=" 13800138000 ", occurred_on="2024-05-01",
        reported_at="2024-05-01T09:30+08:00", priority="2", tags="涉众", evidence="att-1", notes="",
        mediator="wangwu", township="330100001", police_notified="on",
    ), context={"risk_level": "high"})
    assert cleaned == {
        "dispute_type": "邻里纠纷", "amount": 12.5, "household_size": 4, "phone": "13800138000",
        "occurred_on": "2024-05-01", "reported_at": "2024-05-01T09:30:00+08:00", "severity": None,
        "tags": ["涉众"], "priority": 2, "mediator": "wangwu", "township": "330100001",
        "parties": [{"name": "张三", "id_number": None}, {"name": "李四", "id_number": "11010119900101123X"}],
        "evidence": ["att-1"], "police_notified": True, "notes": None,
    }


@pytest.mark.parametrize("field, raw, value", [
    ("amount", "12", 12), ("amount", 3.5, 3.5), ("amount", "0.5e1", 5.0),
    ("household_size", "12", 12), ("household_size", 12.0, 12), ("household_size", "12.0", 12),
    ("phone", "", None), ("amount", "  ", None), ("tags", [], None), ("evidence", " a1 ", ["a1"]),
    ("notes", "第一行\r\n第二行", "第一行\r\n第二行"),  # kept as sent: the page turns CRLF into LF
])
def test_lossless_coercions(form, field, raw, value):
    assert validate_form_data(form, valid(**{field: raw}))[field] == value


@pytest.mark.parametrize("raw, value", [("true", True), ("on", True), ("1", True), (True, True),
                                        ("false", False), ("off", False), (False, False)])
def test_boolean_coercion(form, raw, value):
    cleaned = validate_form_data(form, valid(police_notified=raw), context={"risk_level": "high"})
    assert cleaned["police_notified"] is value


@pytest.mark.parametrize("data, expected", [
    ({"dispute_type": None}, ("dispute_type", "此项为必填项")),
    ({"amount": "十二"}, ("amount", "请输入数字")),
    ({"amount": True}, ("amount", "请输入数字")),
    ({"amount": float("nan")}, ("amount", "请输入数字")),
    ({"household_size": "2.5"}, ("household_size", "请输入整数")),
    ({"amount": -1}, ("amount", "不能小于 0")),
    ({"household_size": 101}, ("household_size", "不能大于 100")),
    ({"notes": "太短"}, ("notes", "至少 5 个字")),
    ({"notes": "字" * 201}, ("notes", "最多 200 个字")),
    ({"phone": "12345"}, ("phone", "请输入11位手机号")),
    ({"dispute_type": "离婚"}, ("dispute_type", "请从选项中选择")),
    ({"priority": 3}, ("priority", "请从选项中选择")),
    ({"tags": ["涉众", "其他"]}, ("tags[1]", "请从选项中选择")),
    ({"tags": ["涉众", "涉众"]}, ("tags", "有重复的项")),
    ({"occurred_on": "2024/05/01"}, ("occurred_on", "日期格式应为 YYYY-MM-DD")),
    ({"occurred_on": "2024-02-30"}, ("occurred_on", "日期不存在")),
    ({"reported_at": "2024-05-01T09:30"}, ("reported_at", "时间格式应为 YYYY-MM-DDTHH:MM:SS+08:00（须带时区）")),
    ({"reported_at": "明天"}, ("reported_at", "时间格式应为 YYYY-MM-DDTHH:MM:SS+08:00（须带时区）")),
    ({"mediator": 42}, ("mediator", "请输入文字")),
    ({"parties": [{"name": "张三"}]}, ("parties", "至少填写 2 行")),
    ({"parties": [{"name": "某"}] * 21}, ("parties", "最多填写 20 行")),
    ({"parties": "张三"}, ("parties", "格式不正确")),
    ({"evidence": ["a", "b", "c", "d"]}, ("evidence", "最多上传 3 个文件")),
    ({"evidence": ["a", 7]}, ("evidence[1]", "附件编号无效")),
])
def test_each_error_kind_has_its_chinese_message(form, data, expected):
    assert errors_of(form, valid(**data)) == [expected]


def test_datetime_with_offset_and_z_are_accepted(form):
    cleaned = validate_form_data(form, valid(reported_at="2024-05-01T01:30:00Z"))
    assert cleaned["reported_at"] == "2024-05-01T01:30:00+00:00"


def test_pattern_without_message_says_format_is_wrong(form):
    parties = [{"name": "张三", "id_number": "123"}, {"name": "李四"}]
    assert errors_of(form, valid(parties=parties)) == [("parties[0].id_number", "格式不正确")]


def test_every_error_is_listed_at_once_in_form_order(form):
    data = {
        "xyz": 1, "summary": "改摘要", "internal_note": "偷偷写", "amount": -5, "phone": "1",
        "parties": [{"name": ""}, {"name": "王" * 51, "id_number": "1", "age": 3}, "坏行"],
        "evidence": ["a", "b", "c", "d"], "dispute_type": "",
    }
    assert errors_of(form, data, context={"risk_level": "high"}) == [
        ("dispute_type", "此项为必填项"),
        ("amount", "不能小于 0"),
        ("phone", "请输入11位手机号"),
        ("parties[0].name", "此项为必填项"),
        ("parties[1].name", "最多 50 个字"),
        ("parties[1].id_number", "格式不正确"),
        ("parties[1].age", "表格中没有列 'age'"),
        ("parties[2]", "格式不正确"),
        ("evidence", "最多上传 3 个文件"),
        ("police_notified", "此项为必填项"),
        ("summary", "此项为只读，不能提交"),
        ("internal_note", "此项不能提交"),
        ("xyz", "表单中没有字段 'xyz'"),
    ]


def test_invalid_data_changes_nothing(form):
    data = valid(amount="-1", tags="涉众")
    before = copy.deepcopy(data)
    with pytest.raises(FormInvalid):
        validate_form_data(form, data)
    assert data == before


def test_non_mapping_data_is_rejected(form):
    assert errors_of(form, ["a"]) == [(None, "提交的数据格式不正确")]


def test_missing_keys_take_the_default_and_present_empty_keys_do_not(form):
    assert validate_form_data(form, valid())["dispute_type"] == "邻里纠纷"
    assert errors_of(form, valid(dispute_type="  ")) == [("dispute_type", "此项为必填项")]


# --- visible_if -----------------------------------------------------------------------------

def test_visible_if_true_shows_and_requires_the_field(form):
    assert errors_of(form, valid(), context={"risk_level": "high"}) == [("police_notified", "此项为必填项")]
    cleaned = validate_form_data(form, valid(police_notified=False), context={"risk_level": "high"})
    assert cleaned["police_notified"] is False


def test_visible_if_false_drops_the_field_and_its_requirement(form):
    cleaned = validate_form_data(form, valid(police_notified="garbage"), context={"risk_level": "low"})
    assert "police_notified" not in cleaned


CONDITIONAL = dedent("""\
    title: 评估
    fields:
      - {name: risk_level, label: 风险等级, type: select, options: [low, high]}
      - {name: police_notified, label: 已通知公安, type: boolean, required: true, visible_if: risk_level == 'high'}
    """)


def test_submitted_data_overrides_case_data_for_visible_if():
    form = parse_form(CONDITIONAL, key="p/assess")
    assert errors_of(form, {"risk_level": "high"}, context={"risk_level": "low"}) == [
        ("police_notified", "此项为必填项")]
    cleaned = validate_form_data(form, {"risk_level": "low", "police_notified": "x"}, context={"risk_level": "high"})
    assert cleaned == {"risk_level": "low"}
    # The whole form is submitted: leaving the field out clears it, so case data no longer decides.
    assert validate_form_data(form, {}, context={"risk_level": "high"}) == {"risk_level": None}


def test_custom_evaluator_gets_case_data_merged_with_cleaned_data(form):
    calls = []

    def evaluate(expression, names):
        calls.append((expression, names))
        return names["amount"] > 1000

    cleaned = validate_form_data(form, valid(amount="5000", police_notified="on"), context={"case_no": "A1"},
                                 evaluate=evaluate)
    assert cleaned["police_notified"] is True
    [(expression, names)] = calls
    assert expression == "risk_level == 'high'"
    assert names["case_no"] == "A1" and names["amount"] == 5000 and names["summary"] is None
    assert errors_of(form, valid(amount="10"), evaluate=lambda e, n: True) == [("police_notified", "此项为必填项")]


@pytest.mark.parametrize("expression, names, result", [
    ("risk == 'high'", {"risk": "high"}, True),
    ("risk != 'high'", {"risk": "high"}, False),
    ("risk in ['high', 'medium']", {"risk": "medium"}, True),
    ("risk not in ('high',)", {"risk": "low"}, True),
    ("urgent", {"urgent": True}, True),
    ("not urgent", {}, True),
    ("risk == 'high' and urgent or other", {"risk": "high", "urgent": False, "other": 1}, True),
    ("amount > 10000", {"amount": None}, False),
    ("amount >= -1", {"amount": 0}, True),
    ("'涉暴' in tags", {"tags": ["涉众", "涉暴"]}, True),
    ("risk is None", {}, True),
])
def test_default_evaluator(expression, names, result):
    assert evaluate_visible_if(expression, names) is result


@pytest.mark.parametrize("expression", ["__import__('os')", "risk.upper() == 'X'", "a[0]", "a + 1 == 2", "lambda: 1"])
def test_default_evaluator_refuses_anything_else(expression):
    with pytest.raises(DefinitionInvalid) as caught:
        evaluate_visible_if(expression, {"a": [1], "risk": "x"})
    assert caught.value.message == f"visible_if 表达式不受支持：{expression}"


# --- load_forms -----------------------------------------------------------------------------

def test_load_forms_keys_by_process_and_task(tmp_path):
    root = tmp_path / "forms"
    (root / "mediation").mkdir(parents=True)
    (root / "petition").mkdir()
    (root / "mediation" / "register.yaml").write_text(SAMPLE, encoding="utf-8")
    (root / "petition" / "accept.yaml").write_text("\ufefftitle: 受理\nfields: []\n", encoding="utf-8")
    (root / "README.md").write_text("说明", encoding="utf-8")
    forms = load_forms(root)
    assert sorted(forms) == ["mediation/register", "petition/accept"]
    assert forms["petition/accept"].title == "受理" and forms["petition/accept"].key == "petition/accept"


def test_load_forms_collects_problems_from_every_file(tmp_path):
    root = tmp_path / "forms"
    (root / "mediation").mkdir(parents=True)
    (root / "petition").mkdir()
    (root / "mediation" / "register.yaml").write_text(SAMPLE, encoding="utf-8")
    (root / "mediation" / "review.yaml").write_text(
        "title: 审核\nfields:\n  - name: ok\n    label: 同意\n    type: bool\n", encoding="utf-8")
    (root / "petition" / "accept.yaml").write_text("title: 受理\nfields:\n  - name: a\n  label: x\n", encoding="utf-8")
    (root / "stray.yaml").write_text("title: 放错了\nfields: []\n", encoding="utf-8")
    with pytest.raises(DefinitionInvalid) as caught:
        load_forms(root)
    found = [(p.file, p.line, p.message.split("：")[0]) for p in caught.value.details]
    assert found == [
        ("forms/mediation/review.yaml", 5, "未知的字段类型 'bool'"),
        ("forms/petition/accept.yaml", 4, "YAML 语法错误"),
        ("forms/stray.yaml", None, "表单文件应放在 <流程标识>/<任务标识>.yaml"),
    ]
    assert caught.value.message == "表单定义有误，共 3 处问题"


def test_load_forms_needs_an_existing_folder(tmp_path):
    with pytest.raises(DefinitionInvalid):
        load_forms(tmp_path / "missing")
