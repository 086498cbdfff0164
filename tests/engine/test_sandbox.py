"""The script sandbox: known escapes and resource bombs fail cleanly, ordinary scripts still work."""
from __future__ import annotations

import decimal
import sys
import threading
import time
from datetime import date, datetime, timedelta

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.spiff.sandbox import (
    SandboxEnvironment, SandboxViolation, ScriptTimeout, check_source, make_script_engine,
)


def workdays(start, days):
    """Stand-in for the calendar helper: a trusted function whose globals must stay out of reach."""
    return start + timedelta(days=days)


@pytest.fixture
def env():
    return SandboxEnvironment(helpers={"workdays": workdays})


@pytest.fixture
def quick_env():
    return SandboxEnvironment(helpers={"workdays": workdays}, time_limit=0.5)


# Each escape either names a file to create (CANARY) or would need an object the sandbox withholds;
# "marker = 1" runs first, so an unchanged task data shows nothing from a failed run was kept.
ESCAPES = [
    ("__import__('os').system('touch CANARY')", "脚本不允许使用以下划线开头的名称 '__import__'"),
    ("import os\nos.system('touch CANARY')", "脚本不允许导入模块 'os'"),
    ("import subprocess\nsubprocess.run(['touch', 'CANARY'])", "脚本不允许导入模块 'subprocess'"),
    ("from os import path\nopen(path.join('CANARY'), 'w')", "脚本不允许导入模块 'os'"),
    ("open('CANARY', 'w').write(open('/etc/passwd').read())", "脚本不允许调用 open()"),
    ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
     ".__init__.__globals__['system']('touch CANARY')", "脚本不允许访问以下划线开头的属性 '__class__'"),
    ("[].__class__.__mro__[1].__subclasses__()", "脚本不允许访问以下划线开头的属性 '__mro__'"),
    ("getattr(getattr((), '__class__'), '__base__')", "脚本不允许调用 getattr()"),
    ("t = type(())", "脚本不允许调用 type()"),
    ("s = '{0.__class__}'.format(1)", "脚本不允许调用 format()"),
    ("s = '{x.__init__.__globals__}'.format_map({'x': workdays})", "脚本不允许调用 format_map()"),
    ("c = (lambda: 0).__code__", "脚本不允许访问以下划线开头的属性 '__code__'"),
    ("g = (x for x in ()).gi_frame.f_globals", "脚本不允许访问属性 'gi_frame'"),
    ("g = workdays.func_globals", "脚本不允许访问属性 'func_globals'"),
    ("x = eval('1')", "脚本不允许调用 eval()"),
    ("run = eval\nx = run('1')", "脚本不允许调用 eval()"),
    ("exec('x=1')", "脚本不允许调用 exec()"),
    ("c = compile('1', '', 'eval')", "脚本不允许调用 compile()"),
    ("g = globals()", "脚本不允许调用 globals()"),
    ("v = vars()", "脚本不允许调用 vars()"),
    ("d = dir()", "脚本不允许调用 dir()"),
    ("breakpoint()", "脚本不允许使用保留名称 'breakpoint'"),
    ("g = workdays.__globals__['sys']", "脚本不允许访问以下划线开头的属性 '__globals__'"),
    ("import datetime\ns = datetime.datetime.__subclasses__()", "脚本不允许访问以下划线开头的属性 '__subclasses__'"),
    ("from datetime import sys", "不能从模块 'datetime' 导入 'sys'"),
    ("class A:\n    pass", "脚本不允许定义类"),
    ("o = object()", "脚本不允许调用 object()"),
    ("try:\n    open('CANARY', 'w')\nexcept Exception:\n    marker = 2", "脚本不允许调用 open()"),
    ("try:\n    open('CANARY', 'w')\nfinally:\n    marker = 2", "脚本不允许调用 open()"),
]


def run_escape(env, script, tmp_path):
    canary = tmp_path / "canary"
    data = {"amount": 5, "items": [1, 2]}
    with pytest.raises(SandboxViolation) as raised:
        env.execute("marker = 1\n" + script.replace("CANARY", str(canary)), data)
    assert data == {"amount": 5, "items": [1, 2]}
    assert not canary.exists()
    return raised.value


@pytest.mark.parametrize(("script", "message"), ESCAPES, ids=[s.split("\n")[-1][:40] for s, _ in ESCAPES])
def test_escape_fails_with_chinese_message_and_no_effect(env, tmp_path, script, message):
    error = run_escape(env, script, tmp_path)
    assert message in error.message
    assert str(error).startswith(error.message)
    assert "(" in str(error) and error.message_en


def test_modules_expose_only_whitelisted_names(env):
    import re
    assert re.enum.sys.modules["os"]  # the real module leads to os through its own imports
    with pytest.raises(AttributeError):
        env.execute("import re\nm = re.enum", {})


BOMBS = [
    "x = 'a' * 10**9",
    "x = [0] * 10**9",
    "x = 2 ** 10**8",
    "x = pow(2, 10**8)",
    "x = 2\nx **= 10**8",
    "x = 1 << 10**8",
    "x = 'a' * 10**6\nx = x + x + x + x + x",
    "x = 'a'.ljust(10**9)",
    "x = (1).to_bytes(10**9, 'big')",
    "x = ','.join(['a' * 10**6] * 10**6)",
    "x = str(['a' * 10**6] * 3 * 10**6)",
    "x = repr(['a' * 10**6] * 10**6)",
    "x = f\"{['a' * 10**6] * 10**6}\"",
    "x = f'{1:>{10**9}}'",
    "x = '%0999999999d' % 1",
    "x = 'ab' * 10**6\nx = x.replace('', 'x' * 1000)",
    "x = ('a' * 10**6).translate({97: 'b' * 10**3})",
    "import re\nx = re.sub('', 'x' * 10**6, 'a' * 10**6)",
    "x = list(range(10**9))",
    "x = sum([[1]] * 10, [])",
    "x = str.join(',', ['a'])",
    "x = int(Decimal('1e999999'))",
    "x = [['a' * 10**5] * 10**3] * 10**3",
]


@pytest.mark.parametrize("script", BOMBS, ids=[s.split("\n")[-1][:40] for s in BOMBS])
def test_resource_bomb_is_refused_before_allocating(env, script):
    data = {"amount": 5}
    started = time.monotonic()
    with pytest.raises(SandboxViolation) as raised:
        env.execute(script, data)
    # Refused by the size guard, not by running into the time limit.
    assert time.monotonic() - started < 1.5
    assert data == {"amount": 5}
    assert any(word in raised.value.message for word in ("过大", "只能用于数字", "不要通过类调用", "指数超过"))


@pytest.mark.parametrize("script", [
    "while True: pass",
    "while True:\n    x = 1",
    "try:\n    while True: pass\nexcept Exception:\n    pass\nwhile True: pass",
    "try:\n    while True: pass\nfinally:\n    while True: pass",
    "x = [1 for a in range(10**6) for b in range(10**6)]",
    "f = lambda n: f(n - 1) + f(n - 1) if n else 0\nx = f(60)",
    "def f(n):\n    return f(n - 1) + f(n - 1) if n else 0\nx = f(60)",
    "def g():\n    while True:\n        yield 1\nx = sum(g())",
])
def test_endless_script_times_out_within_half_a_second_of_the_limit(quick_env, script):
    data = {"amount": 5}
    started = time.monotonic()
    with pytest.raises(ScriptTimeout) as raised:
        quick_env.execute(script, data)
    assert time.monotonic() - started < 0.5 + 1.5  # generous: CI machines are busy
    assert str(raised.value) == "脚本运行超过 0.5 秒的时间限制 (script exceeded the 0.5 s time limit)"
    assert data == {"amount": 5}


def test_default_time_limit_message(env):
    started = time.monotonic()
    with pytest.raises(ScriptTimeout, match=r"^脚本运行超过 2.0 秒的时间限制 \(script exceeded the 2.0 s time limit\)$"):
        env.evaluate("[1 for a in range(10**6) for b in range(10**6)]", {})
    assert 2.0 <= time.monotonic() - started < 4.0


def test_time_limit_works_off_the_main_thread(quick_env):
    outcome = []

    def worker():
        try:
            quick_env.execute("while True: pass", {})
        except ScriptTimeout as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert len(outcome) == 1


def test_memory_growth_is_stopped():
    env = SandboxEnvironment(time_limit=10)
    with pytest.raises(SandboxViolation, match="脚本占用内存超过 256 MB 的限制"):
        env.execute("x = []\nwhile True:\n    x.extend([0] * 10**6)", {})


def test_existing_trace_function_is_left_in_place(env):
    calls = []

    def tracer(frame, event, arg):
        calls.append(event)

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        assert env.evaluate("a + 1", {"a": 1}) == 2
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


def test_violation_the_host_is_handling_does_not_leak_into_scripts(env):
    data = {}
    try:
        raise SandboxViolation("earlier", "earlier")
    except SandboxViolation:
        env.execute("try:\n    x = 1\nfinally:\n    y = 2", data)
    assert data == {"x": 1, "y": 2}


def test_oversized_task_data_is_refused(env):
    data = {"amount": 5}
    with pytest.raises(SandboxViolation, match="过大"):
        env.execute("x = ['a' * 10**5] * 50", data)
    assert data == {"amount": 5}


def test_deferred_sandbox_code_cannot_run_after_its_run():
    later = SandboxEnvironment(isolated=False).evaluate("lambda: 1", {})
    with pytest.raises(NameError):
        later()


def test_sandbox_code_never_comes_back_from_the_worker(env):
    # A lambda is not proven cheap, so it runs in the worker, and a function is not data.
    with pytest.raises(SandboxViolation, match="表达式的结果（function）不是可以保存的数据"):
        env.evaluate("lambda: 1", {})


# Ordinary scripts -------------------------------------------------------------------------------

def test_gateway_expression(env):
    assert env.evaluate("amount > 10000 and people >= 5", {"amount": 20000, "people": 5}) is True
    assert env.evaluate("amount > 10000 and people >= 5", {"amount": 20000, "people": 4}) is False


@pytest.mark.parametrize(("expression", "expected"), [
    ("(a + 2) * 3 - 4 / 2", 7.0),
    ("a ** 2 + a % 2 + a // 2 + (1 << 3)", 10),
    ("1 < a <= 3 and a != 2 and a in [1, 2]", False),
    ("' Hello '.strip().upper()", "HELLO"),
    ("'a,b'.split(',') + ['c']", ["a", "b", "c"]),
    ("'-'.join(['a', 'b'])", "a-b"),
    ("'2024-01-01'.replace('-', '/')", "2024/01/01"),
    ("'abc'.startswith('ab')", True),
    ("'ab'.ljust(4, '.') + 'x' * 3", "ab..xxx"),
    ("[x * 2 for x in range(4) if x % 2]", [2, 6]),
    ("{k: v for k, v in zip('ab', [1, 2])}", {"a": 1, "b": 2}),
    ("sorted(set([3, 1, 3])) + list(reversed([1, 2]))", [1, 3, 2, 1]),
    ("sum(x for x in [1, 2, 3]) + max([1, 5]) + min(2, 3) + len('ab') + abs(-1) + round(2.6)", 19),
    ("next((x for x in [1, 2, 3] if x > 1), None)", 2),
    ("f'{a:>3}|{a!r}|{3.14159:.2f}|{\"x\"}'", "  1|1|3.14|x"),
    ("'%05d %s' % (a, 'x')", "00001 x"),
    ("isinstance('a', str) and isinstance(1, int) and str(12) == '12'", True),
    ("datetime(2024, 1, 31) + timedelta(days=1) == datetime(2024, 2, 1)", True),
    ("(date(2024, 3, 1) - date(2024, 2, 1)).days", 29),
    ("Decimal('1.10') + Decimal('2.20') == Decimal('3.30')", True),
    ("isinstance(price, Decimal) and price * 2 == Decimal('5.00')", True),
    ("workdays(date(2024, 1, 1), 2)", date(2024, 1, 3)),
    ("2 ** 100 > 10 ** 30", True),
])
def test_ordinary_expressions(env, expression, expected):
    assert env.evaluate(expression, {"a": 1, "price": decimal.Decimal("2.50")}) == expected


def test_script_results_are_written_back_without_helpers_or_functions(env):
    data = {"count": 1, "totals": {"a": 1}, "gone": True}
    script = """
import math
from datetime import timedelta
count += 1
label = 'x'
label += 'y'
items = [1]
items += [2]
totals['b'] = 2
root = math.sqrt(4)
due = datetime(2024, 1, 1) + timedelta(days=3)
def double(n):
    return n * 2
doubled = double(21)
helper_result = workdays(date(2024, 1, 1), 1)
print('ignored')
del gone
"""
    assert env.execute(script, data) is True
    assert data == {
        "count": 2, "totals": {"a": 1, "b": 2}, "label": "xy", "items": [1, 2], "root": 2.0,
        "due": datetime(2024, 1, 4), "doubled": 42, "helper_result": date(2024, 1, 2),
    }


def test_ordinary_exceptions_can_be_caught(env):
    data = {}
    env.execute("try:\n    n = int('x')\nexcept ValueError:\n    n = -1\nfinally:\n    done = True", data)
    assert data == {"n": -1, "done": True}


def test_ordinary_errors_propagate_unchanged(env):
    with pytest.raises(ZeroDivisionError):
        env.execute("x = 1 / 0", {})
    with pytest.raises(NameError):
        env.evaluate("missing + 1", {})


def test_task_data_cannot_replace_guards(env):
    assert env.evaluate("a.upper()", {"a": "x", "_getattr_": "not a guard"}) == "X"


def test_syntax_error_is_a_violation_and_runs_nothing(env):
    data = {}
    with pytest.raises(SandboxViolation, match="语法错误"):
        env.execute("marker = 1\nif True print(1)", data)
    assert data == {}


def test_check_source_reports_without_running():
    assert check_source("x = a + 1") == []
    assert check_source("amount > 1", mode="eval") == []
    assert check_source("x = ().__class__") == [
        "第 1 行：脚本不允许访问以下划线开头的属性 '__class__' (line 1: access to underscore attribute '__class__' is not allowed)"]
    assert check_source("import os")[0].startswith("第 1 行：脚本不允许导入模块 'os'")
    assert check_source("d['k'] += 1")[0].startswith("第 1 行：下标或属性不能使用 +=")


def test_call_service_is_refused(env):
    with pytest.raises(SandboxViolation, match="沙箱中不支持调用服务"):
        env.call_service({}, operation_name="x")


# Through SpiffWorkflow ---------------------------------------------------------------------------

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://pingan.test">
  <bpmn:process id="sandbox_proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute" name="Compute">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>SCRIPT</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="f_small">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f_big</bpmn:outgoing><bpmn:outgoing>f_small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_big"><bpmn:incoming>f_big</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_small"><bpmn:incoming>f_small</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_big" sourceRef="gw" targetRef="end_big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">total &gt; 10000 and people &gt;= 5</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_small" sourceRef="gw" targetRef="end_small"/>
  </bpmn:process>
</bpmn:definitions>
"""


def run_process(tmp_path, script, data):
    path = tmp_path / "sandbox_proc.bpmn"
    path.write_text(BPMN.replace("SCRIPT", script), encoding="utf-8")
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(path))
    workflow = BpmnWorkflow(parser.get_spec("sandbox_proc"), script_engine=make_script_engine({"workdays": workdays}))
    workflow.task_tree.data.update(data)
    workflow.do_engine_steps()
    return workflow


@pytest.mark.parametrize(("amount", "end"), [(6000, "end_big"), (100, "end_small")])
def test_bpmn_script_task_and_gateway_run_in_the_sandbox(tmp_path, amount, end):
    workflow = run_process(tmp_path, "total = amount * 2\nlabel = f'{total:,}'", {"amount": amount, "people": 5})
    assert workflow.is_completed()
    finished = [t for t in workflow.get_tasks(state=TaskState.COMPLETED) if t.task_spec.name == end]
    assert len(finished) == 1
    assert finished[0].data["total"] == amount * 2
    assert finished[0].data["label"] == f"{amount * 2:,}"


def test_bpmn_escape_stops_the_workflow_with_the_sandbox_error(tmp_path):
    canary = tmp_path / "canary"
    with pytest.raises(WorkflowTaskException) as raised:
        run_process(tmp_path, f"total = 1\nopen('{canary}', 'w').write('x')", {"amount": 1, "people": 1})
    assert raised.value.error_type == "SandboxViolation"
    assert isinstance(raised.value.__context__, SandboxViolation)
    assert "脚本不允许调用 open()" in str(raised.value)
    assert not canary.exists()
