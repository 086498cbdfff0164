"""``Runner.dump`` converts again only the tasks that changed, and still gives every byte of a full dump.

A workflow kept in memory between requests (engine/spiff/cache.py) keeps what its last dump made
of each task; the next dump converts again only tasks whose stored form may differ. Every shipped
scenario is played with workflows kept from step to step, and each dump is compared, as JSON
text with sorted keys, with a dump converting every task afresh (``Runner.full_dump``) at the same moment. The
other tests change what a task stores without changing its state: in place, deep inside its
data, in its parent's data, or to an equal value of another type.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import pytest
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.definitions.scripting import build_script_engine
from engine.spiff import cache as workflow_cache
from engine.spiff import internals
from engine.spiff import values
from engine.spiff import workflow as workflow_module
from engine.spiff.workflow import Runner
from tests.scenario_player import all_scenarios, keep_at_once, play_on_its_clock

SCENARIO_LIST = all_scenarios()


def as_text(state: dict) -> str:
    # Keys sorted: a form taken from the stored rows after a restore (_TaskForms.seed) lists its
    # data's keys in the stored order, which may not be the live data's; the store keeps no
    # order either (PostgreSQL's JSONB). Types and values must still match to the byte.
    return json.dumps(state, ensure_ascii=False, sort_keys=True)


def assert_same_as_full(runner: Runner, state: dict, where: str = "") -> None:
    full = runner.full_dump()
    assert as_text(state) == as_text(full), f"{where}: the incremental dump differs from a full one"
    assert state == full


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=[s.id for s in SCENARIO_LIST])
def test_every_dump_of_every_scenario_is_a_full_dump(scenario, services, monkeypatch):
    checked, reused, previous, again = [0], [0], {}, [0]
    original_dump = Runner.dump

    def checking_dump(self):
        state = original_dump(self)
        assert_same_as_full(self, state, f"{scenario.id} dump {checked[0] + 1}")
        earlier = previous.get(id(self.wf))
        if earlier is None:
            earlier = {}
        else:
            again[0] += 1
        reused[0] += sum(1 for k, form in state["tasks"].items() if earlier.get(k) is form)
        previous[id(self.wf)] = dict(state["tasks"])
        checked[0] += 1
        return state

    monkeypatch.setattr(Runner, "dump", checking_dump)
    # The player's steps commit savepoints only, which keep nothing; keep at once instead, so
    # each step goes on with the workflow the one before left (a stale version is never taken).
    keep_at_once(monkeypatch)
    try:
        play_on_its_clock(services, scenario)
    finally:
        workflow_cache.live_workflows.clear()
    assert checked[0] >= len(scenario.steps) // 2
    # The point: a workflow dumped again (kept from a step before, unless that step failed and
    # dropped it) kept the forms of the tasks that did not change.
    if again[0]:
        assert reused[0] > 0


_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="many" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="make" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>people = [{"name": "甲"}]
count = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="check"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>results</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="item" name="item" />
        <bpmn:outputDataItem id="result" name="result" />
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:userTask id="last"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="make"/>
    <bpmn:sequenceFlow id="f2" sourceRef="make" targetRef="check"/>
    <bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="last"/>
    <bpmn:sequenceFlow id="f4" sourceRef="last" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.fixture
def runner() -> Runner:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(_PROCESS.encode(), "many.bpmn")
    spec, subs = parser.get_spec("many"), parser.get_subprocess_specs("many")
    started = Runner.start(spec, subs, build_script_engine(), {"items": [{"n": i} for i in range(5)]})
    assert started.run_engine_steps() is None
    assert len(started.ready_user_tasks()) == 5
    return started


def ready_task(runner: Runner, index: int = 0):
    return runner.wf.get_task_from_id(UUID(runner.ready_user_tasks()[index].id))


def dump_checked(runner: Runner) -> dict:
    state = runner.dump()
    assert_same_as_full(runner, state)
    return state


def test_unchanged_tasks_keep_their_forms_and_changed_ones_do_not(runner):
    first = dump_checked(runner)
    done = runner.ready_user_tasks()[0].id
    assert runner.complete_user_task(done, {"result": "好"}) is None
    second = dump_checked(runner)
    assert second["tasks"][done] is not first["tasks"][done]
    assert second["tasks"][done]["state"] != first["tasks"][done]["state"]
    kept = [k for k in first["tasks"] if second["tasks"].get(k) is first["tasks"][k]]
    assert kept  # the instances still open (their delta against the loop task did not change) and the history
    third = dump_checked(runner)
    assert all(third["tasks"][k] is second["tasks"][k] for k in second["tasks"])  # nothing changed at all


@pytest.mark.parametrize("change", [
    "patched", "nested_in_place", "internal_in_place", "parent_in_place", "true_for_one", "float_for_int",
    "decimal_digits", "key_order", "key_deleted", "workflow_data",
])
def test_a_change_without_a_state_change_is_dumped(runner, change):
    before = dump_checked(runner)
    task = ready_task(runner, 1)
    if change == "patched":
        runner.patch_task_data(str(task.id), {"note": "改"})
    elif change == "nested_in_place":
        task.data["people"][0]["name"] = "乙"
    elif change == "internal_in_place":
        task.internal_data["key_or_index"] = 7
    elif change == "parent_in_place":
        task.parent.data["people"][0]["name"] = "丙"  # every instance's delta changes
    elif change in ("true_for_one", "float_for_int"):
        task.data["flag"] = 1  # not in the parent's data, so in the task's delta
        dump_checked(runner)
        task.data["flag"] = True if change == "true_for_one" else 1.0  # == 1, yet stored otherwise
    elif change == "decimal_digits":
        task.data["money"] = Decimal("1.1")
        dump_checked(runner)
        task.data["money"] = Decimal("1.10")
    elif change == "key_order":
        task.data.update({"z": 1, "a": 2})
        dump_checked(runner)
        task.data["z"] = task.data.pop("z")  # the same keys and values, now "a" first
    elif change == "key_deleted":
        del task.data["people"]
    elif change == "workflow_data":
        runner.wf.data["shared"] = [1]
    assert as_text(dump_checked(runner)) != as_text(before)


@pytest.mark.parametrize("value", [Decimal("1.10"), datetime(2026, 12, 7, 9, 30), [1, True, 1.0, "一"]],
                         ids=["decimal", "datetime", "json"])
def test_a_task_keeps_its_form_while_its_value_stays(runner, value):
    """Values marshal takes and those keyed by their ``repr`` (dates, decimals) alike."""
    task = ready_task(runner, 1)
    task.data["value"] = value
    first = dump_checked(runner)
    second = dump_checked(runner)
    assert second["tasks"][str(task.id)] is first["tasks"][str(task.id)]


@pytest.mark.parametrize("internal", [
    {}, {"key_or_index": 3}, {"event_value": datetime(2026, 12, 7, 9, 30)}, {"merged": ["a", "b"]},
    {"fn": len, "n": 1}, {"nested": {"at": datetime(2026, 12, 7), "ids": [UUID(int=7)]}},
], ids=["empty", "plain", "datetime", "list", "callable", "nested"])
def test_the_dump_converts_a_task_as_the_library_does(runner, internal):
    """The dump's own task conversion (``_task_form``) against the serializer's, on every task."""
    ready_task(runner, 1).internal_data.update(internal)
    ready_task(runner, 2).data.update({"when": datetime(2026, 1, 2, 3, 4), "money": Decimal("1.10"), "t": (1, 2)})
    registry = workflow_module._SERIALIZER.registry
    for task in runner.wf.tasks.values():
        assert workflow_module._task_form(task, runner.wf.tasks) == registry.convert(task)


def test_a_task_holding_an_object_is_converted_at_every_dump(runner):
    task = ready_task(runner)

    class Holder:  # shown as <... object at 0x...>: its repr does not tell what it holds
        def __init__(self):
            self.items = [1]

    holder = Holder()
    task.internal_data["held"] = holder
    first = runner.dump()
    second = runner.dump()
    assert second["tasks"][str(task.id)] is not first["tasks"][str(task.id)]
    assert second["tasks"][str(task.id)]["internal_data"]["held"] is holder


def test_a_failed_dump_leaves_nothing_half_done(runner):
    dump_checked(runner)
    task = ready_task(runner)
    task.data["pattern"] = re.compile("x")
    with pytest.raises(values.UnstorableValue):
        runner.dump()
    del task.data["pattern"]
    task.data["fine"] = 1
    dump_checked(runner)


def test_tasks_added_and_removed_are_dumped_in_restored_order(runner):
    dump_checked(runner)
    for item in list(runner.ready_user_tasks()):
        assert runner.complete_user_task(item.id, {"result": item.data["item"]["n"]}) is None
        dump_checked(runner)
    [last] = runner.ready_user_tasks()
    check = runner.earlier_steps(last.id)[0][0]
    assert runner.reset_to(check)  # removes the tasks after it
    assert runner.run_engine_steps() is None
    dump_checked(runner)
    assert len(runner.ready_user_tasks()) == 5


def test_a_restored_workflow_dumps_what_was_stored(runner):
    state = dump_checked(runner)
    restored = Runner.restore(state, runner.wf.spec, runner.wf.subprocess_specs, build_script_engine())
    again = dump_checked(restored)
    assert again == state
    assert runner.complete_user_task(runner.ready_user_tasks()[0].id, {"result": 1}) is None
    dump_checked(runner)


def _containers(value, into: set) -> set:
    """The ids of every dict and list inside ``value``."""
    if isinstance(value, dict):
        into.add(id(value))
        for k, v in value.items():
            _containers(v, into)
    elif isinstance(value, (list, tuple, set, frozenset)):
        if isinstance(value, list):
            into.add(id(value))
        for v in value:
            _containers(v, into)
    return into


def _held_by(wf) -> set:
    """The ids of the dicts and lists a workflow holds in its data, internal data and correlations."""
    found: set = set()
    for workflow in (wf, *wf.subprocesses.values()):
        _containers(workflow.data, found)
        _containers(workflow.correlations, found)
        found.add(id(workflow.correlations))
        for task in workflow.tasks.values():
            _containers(task.data, found)
            _containers(task.internal_data, found)
    return found


def _play_checking_restores(services, monkeypatch, scenario, check) -> int:
    """Play a scenario with every ``Runner.restore`` going through ``check(restore, state)``, which
    calls ``restore()`` and returns the runner; return how many restores there were."""
    original_restore = Runner.restore.__func__
    count = [0]

    def checking_restore(cls, state, *args, **kwargs):
        runner = check(lambda: original_restore(cls, state, *args, **kwargs), state)
        count[0] += 1
        return runner

    monkeypatch.setattr(Runner, "restore", classmethod(checking_restore))
    try:
        play_on_its_clock(services, scenario)
    finally:
        workflow_cache.live_workflows.clear()
    return count[0]


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=[s.id for s in SCENARIO_LIST])
def test_a_restored_workflow_shares_nothing_with_the_stored_state(scenario, services, monkeypatch):
    """``Runner.restore`` copies only what it changes: what the workflow holds must still be its own,
    or a step would change the stored forms the next dump compares with."""

    def check(restore, state):
        stored = _containers(state, set())
        runner = restore()
        assert not stored & _held_by(runner.wf), f"{scenario.id}: the restored workflow holds part of the stored state"
        return runner

    assert _play_checking_restores(services, monkeypatch, scenario, check) > 0


def _library_tasks(registry, forms: dict, workflow) -> dict:
    """What the library restores a workflow's tasks with: ``BpmnConverter.mapping_from_dict`` of ``TaskConverter.from_dict``."""
    return {UUID(k): registry.restore(v, workflow=workflow) for k, v in forms.items()}


def _restored_text(wf) -> str:
    """Everything a restore rebuilds, as text: tasks (their forms, whole data, the values they share
    with their parent's data), their order, waiting events, and each workflow's own fields."""
    convert = workflow_module._SERIALIZER.registry.convert
    out = {"events": [str(k) for k in wf.event_manager.tasks]}
    for workflow in (wf, *wf.subprocesses.values()):
        tasks = workflow.tasks
        out[str(workflow.task_tree.id)] = {
            "order": [str(k) for k in tasks],
            "forms": {str(k): convert(t) for k, t in tasks.items()},
            "data": {str(k): values.encode(t.data) for k, t in tasks.items()},
            "shared": {str(k): [name for name, v in t.data.items() if t.parent is not None
                                and name in t.parent.data and t.parent.data[name] is v] for k, t in tasks.items()},
            "own": [values.encode(workflow.data), workflow.correlations, workflow.success, workflow.completed,
                    str(workflow.last_task.id) if workflow.last_task is not None else None],
        }
    return json.dumps(out, ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=[s.id for s in SCENARIO_LIST])
def test_every_restore_of_every_scenario_is_the_librarys(scenario, services, monkeypatch):
    """``internals.restore_tasks`` rebuilds what the library's converter rebuilds, at every restore."""
    ours, compared = internals.restore_tasks, [0]

    def check(restore, state):
        monkeypatch.setattr(internals, "restore_tasks", _library_tasks)
        try:
            expected = _restored_text(restore().wf)
        finally:
            monkeypatch.setattr(internals, "restore_tasks", ours)
        runner = restore()
        compared[0] += 1
        assert _restored_text(runner.wf) == expected, f"{scenario.id}: restore {compared[0]} differs from the library's"
        return runner

    assert _play_checking_restores(services, monkeypatch, scenario, check) > 0
