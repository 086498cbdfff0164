"""Every element of the executable BPMN palette either runs through the engine or is refused at
validation with a message naming it (issue 15). Each case is deployed and played with every step
persisted and restored; docs/designer-guide.md's coverage table points here."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.definitions import deployment
from engine.definitions.deployment import collect_sources, deploy, validate
from engine.errors import DefinitionInvalid
from engine.org.orgs import SYSTEM
from engine.runtime import lifecycle, timers
from engine.runtime.messages import send_message
from engine.store.models import HumanTask, Instance, InstanceStatus, TaskStatus

from .bpmn_palette import CASES

# key: the steps to play and what the case must end with, or the element refused and what the message says.
RUNS = {
    "user_task": (["u"], "e", {}),
    "script_task": (["u"], "e", {"a": 1}),
    "send_task": ([], "e", {}),
    "receive_task_msg": ([("message", "m1"), "u"], "e", {}),
    "inclusive_gateway": (["a"], "e", {}),
    "signal_throw_catch": (["u"], "e", {}),
    "escalation_boundary": (["u"], "e2", {}),
    "error_boundary": (["u"], "e2", {}),
    "error_end_top": (["u"], "e", {}),
    "escalation_end_top": (["u"], "e", {}),
    "message_throw_end": (["u"], "e", {}),
    "conditional_catch": (["u"], "e", {"ready": True}),
    "conditional_start": (["u"], "e", {}),
    "event_subprocess_timer": ([("hours", 2), "u"], "e", {}),
    "transaction": (["u"], "e", {}),
    "standard_loop": (["u"], "e", {"rounds": 3}),
    "mi_sequential_completion": (["u"], "e", {"people": ["a", "b", "c"]}),
    "data_object_store_annotation": (["u"], "e", {}),
    "transaction_cancel": (["u"], "e2", {}),
    "message_boundary": ([("message", "m1"), "v"], "e2", {}),
    "terminate_top": (["a"], "term", {}),
    "mi_parallel": (["u", "u"], "e", {}),
    "call_activity": (["u"], "e", {"called": True}),
}
REFUSED = {
    "manual_task": ("m", "手工任务"),
    "none_task": ("t", "普通任务"),
    "service_task": ("st", "服务任务"),
    "complex_gateway": ("cg", "复杂网关"),
    "compensation_boundary": ("comp", "捕获事件"),
    "link_events": ("lt", "链接事件"),
    "link_only": ("lc", "链接事件"),
    "signal_start": ("s", "信号开始事件"),
    "adhoc_subprocess": ("ah", "临时子流程"),
    "receive_task": ("rcv", "没有指定消息"),
    "unreachable_task": ("orphan", "没有连线连入"),
}


def test_every_case_has_an_expectation():
    assert set(RUNS) | set(REFUSED) == set(CASES)


def _write(folder, key: str) -> None:
    body, defs = CASES[key]
    drawn = re.findall(r' id="([^"]+)"', body)
    xml = ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">' + defs
           + f'<bpmn:process id="{key}" name="{key}" isExecutable="true"><bpmn:laneSet><bpmn:lane id="L" name="调度员">'
           + "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in drawn)
           + "</bpmn:lane></bpmn:laneSet>" + body + "</bpmn:process></bpmn:definitions>")
    (folder / "processes").mkdir(parents=True, exist_ok=True)
    (folder / "processes" / f"{key}.bpmn").write_text(xml)
    (folder / "processes" / f"{key}.yaml").write_text(f"name: {key}\n")
    (folder / "forms" / key).mkdir(parents=True, exist_ok=True)
    for task in re.findall(r'<bpmn:(?:userTask|manualTask) id="([^"]+)"', body):
        (folder / "forms" / key / f"{task}.yaml").write_text(f"title: {task}\nfields:\n  - {{name: note_{task}, label: 说明, type: text}}\n")


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_refused_by_name(key, tmp_path):
    element, says = REFUSED[key]
    _write(tmp_path, key)
    with pytest.raises(DefinitionInvalid) as info:
        validate(collect_sources([tmp_path]))
    named = [p for p in info.value.details if p.element_id == element]
    assert named, [p.as_dict() for p in info.value.details]
    assert says in named[0].message and named[0].message_en and named[0].file == f"{key}.bpmn"
    assert "object at 0x" not in named[0].message


@pytest.mark.parametrize("restore", [False, True], ids=["straight", "restored"])
@pytest.mark.parametrize("key", sorted(RUNS))
def test_runs(key, restore, session, actors, tmp_path, frozen):
    """Straight through, and with the spec parsed again and nothing kept in the session between steps."""
    steps, end, data = RUNS[key]
    _write(tmp_path, key)
    deploy(session, paths=[tmp_path])
    li = actors("li.sl")
    case_id = lifecycle.start_instance(session, process_key=key, actor=li).id
    for step in steps:
        if restore:
            session.flush()
            session.expire_all()
            deployment._SPEC_CACHE.clear()
        if isinstance(step, tuple) and step[0] == "hours":
            frozen.advance(timedelta(hours=step[1]))
            assert timers.fire_due(session), f"{key}: a timer was due"
        elif isinstance(step, tuple) and step[0] == "message":
            send_message(session, name=step[1], correlation={}, payload={}, actor=SYSTEM)
        else:
            task = session.scalars(select(HumanTask).where(HumanTask.instance_id == case_id, HumanTask.element_id == step,
                                                           HumanTask.status == TaskStatus.OPEN)).first()
            assert task is not None, f"{key}: {step} is not open"
            lifecycle.complete_task(session, task_id=task.id, data={}, actor=li)
    session.expire_all()
    case = session.get(Instance, case_id)
    assert (case.status, case.end_event, case.error) == (InstanceStatus.COMPLETED, end, None), key
    assert {k: case.data.get(k) for k in data} == data


def test_a_dmn_file_without_its_namespace_is_refused_by_name(tmp_path):
    _write(tmp_path, "user_task")
    (tmp_path / "processes" / "rules.dmn").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><definitions id="rules" name="规则"><decision id="d1"/></definitions>')
    with pytest.raises(DefinitionInvalid) as info:
        validate(collect_sources([tmp_path]))
    [problem] = [p for p in info.value.details if p.file == "rules.dmn"]
    assert "DMN 命名空间" in problem.message and problem.element_id == "rules"
