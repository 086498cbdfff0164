"""Saving a workflow and restoring it loses nothing: the property the workflow cache relies on.

Every shipped scenario is played through the engine; at the end of every step, each workflow the
step saved is compared, as it stands in memory after the step, with the workflow restored from the
state the step stored: ``dump(restore(dump(w))) == dump(w)`` and the same tasks in the same states
with the same data (types included: a tuple is not a list), the same case data and the same
waiting timers and messages. A cached workflow (engine/spiff/cache.py) is only a stand-in for the
restored one if this holds. The same holds of what the database keeps, read back after every
step: the case's state, and its task rows where the case is split into rows (engine/store/case_state.py;
each scenario is played as stored and again with every case split), written only where a step
changed them, are the live workflow and restore to it.
"""
from __future__ import annotations

import json
import math
from collections import Counter, OrderedDict, defaultdict, namedtuple
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import clock
from engine.clock import FrozenClock
from engine.context import context_of
from engine.definitions.scripting import build_script_engine
from engine.spiff import values
from engine.spiff.workflow import _SERIALIZER, Runner
from engine.store import case_state
from engine.store.models import Instance
from engine.studio.scenarios import _start_moment
from tests.scenario_player import Player, all_scenarios

SCENARIO_LIST = all_scenarios()


def strict_equal(a, b) -> bool:
    """Equal and of the same types all the way down (``==`` takes 1 for True and (1,) for [1] in lists of tuples)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (set, frozenset)):
        return a == b and strict_equal(sorted(map(repr, a)), sorted(map(repr, b)))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, Decimal):
        return str(a) == str(b)  # Decimal("1.10") == Decimal("1.1"), yet a script may print either
    if hasattr(a, "tzinfo") and a == b:
        return repr(a.tzinfo) == repr(b.tzinfo)
    return a == b


def first_difference(a, b, path="") -> str | None:
    """Name where two values first differ (for the failure message)."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} ≠ {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        for k in a.keys() | b.keys():
            if k not in a or k not in b:
                return f"{path}.{k}: only on one side"
            found = first_difference(a[k], b[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if strict_equal(a, b) else f"{path}: {a!r} ≠ {b!r}"


def observe(runner: Runner) -> dict:
    """What the rest of Pingan can see of a workflow, and every task's state and data."""
    tasks = {}
    for task in runner._all_tasks():
        tasks[str(task.id)] = {
            "spec": task.task_spec.name, "state": task.state,
            "parent": str(task.parent.id) if task.parent is not None else None,
            "children": [str(c.id) for c in task.children],
            "data": task.data, "internal": task.internal_data,
            "last_state_change": task.last_state_change,
        }
    return {
        "tasks": tasks,
        "workflow_data": runner.wf.data,
        "subprocess_data": {str(k): sp.data for k, sp in runner.wf.subprocesses.items()},
        "correlations": runner.wf.correlations,
        "completed": runner.completed, "success": runner.wf.success,
        "last_task": str(runner.wf.last_task.id) if runner.wf.last_task is not None else None,
        "case_data": runner.data(),
        "ready": [(t.id, t.element_id, t.lane, t.data, t.multi_index) for t in runner.ready_user_tasks()],
        "waiting": [(w.task_id, w.element_id, w.kind, w.name, w.due_at, w.detail) for w in runner.waiting_events()],
        "end_events": runner.end_events_reached(),
        "completed_user_tasks": runner.completed_user_tasks(),
    }


class CheckingPlayer(Player):
    """Plays a scenario; after every step compares each workflow saved in it with its restored copy."""

    def __init__(self, services, clock_, saved: list, stored: list):
        super().__init__(services, clock_, restore=False)
        self.saved, self.stored, self.checked, self.checked_rows = saved, stored, 0, 0

    def checkpoint(self) -> None:
        super().checkpoint()
        latest = {}
        for runner, state in self.saved:
            latest[id(runner)] = (runner, state)
        self.saved.clear()
        for runner, state in latest.values():
            self.compare(runner, state)
        written = dict(self.stored)  # instance id -> the runner last written for it
        self.stored.clear()
        for instance_id, runner in written.items():
            self.compare_stored(instance_id, runner)

    def compare_stored(self, instance_id: int, live: Runner) -> None:
        """What the database holds of the case (its state and task rows) is the live workflow, and restores to it."""
        conn = self.session.connection()
        kept = conn.execute(select(Instance.state).where(Instance.id == instance_id)).scalar_one()
        state, rows = case_state.read(conn, instance_id, kept)
        where = f"{self.scenario_id} step {self.step_no}, case {instance_id}"
        sorted_text = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)  # noqa: E731
        assert sorted_text(state) == sorted_text(live.full_dump()), f"{where}: the stored state is not the workflow"
        if case_state.INLINE_TASKS == 0:  # every case split into rows
            assert case_state.in_rows(kept) and set(rows) == set(case_state.tasks_of(state))
        elif len(case_state.tasks_of(state)) <= case_state.INLINE_TASKS and not case_state.in_rows(kept):
            assert rows is None
        restored = Runner.restore(state, live.wf.spec, live.wf.subprocess_specs, context_of(self.session).script_engine)
        seen_live, seen_restored = observe(live), observe(restored)
        assert strict_equal(seen_live, seen_restored), (
            f"{where}: the workflow restored from the rows differs at {first_difference(seen_live, seen_restored)}")
        self.checked_rows += 1

    def compare(self, live: Runner, state: dict) -> None:
        # The spec objects are the parsed ones every load shares (engine/definitions/deployment.py caches them).
        restored = Runner.restore(state, live.wf.spec, live.wf.subprocess_specs, context_of(self.session).script_engine)
        where = f"{self.scenario_id} step {self.step_no}"
        again = restored.dump()
        assert again == state, f"{where}: dump(restore(dump(w))) ≠ dump(w): {first_difference(state, again)}"
        seen_live, seen_restored = observe(live), observe(restored)
        assert strict_equal(seen_live, seen_restored), (
            f"{where}: restored workflow differs from the live one at {first_difference(seen_live, seen_restored)}")
        self.checked += 1


@pytest.mark.parametrize("split", [False, True], ids=["as_stored", "all_rows"])
@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=[s.id for s in SCENARIO_LIST])
def test_every_step_survives_a_round_trip(scenario, split, services, monkeypatch):
    if split:  # every case's tasks as rows, however small (engine/store/case_state.py)
        monkeypatch.setattr(case_state, "INLINE_TASKS", 0)
    saved: list = []
    original_dump = Runner.dump

    def recording_dump(self):
        state = original_dump(self)
        saved.append((self, state))
        return state

    monkeypatch.setattr(Runner, "dump", recording_dump)
    stored: list = []
    original_store = case_state.store

    def recording_store(conn, instance_id, runner):
        kept = original_store(conn, instance_id, runner)
        stored.append((instance_id, runner))
        return kept

    monkeypatch.setattr(case_state, "store", recording_store)
    sim = FrozenClock(_start_moment(scenario.start))
    player = CheckingPlayer(services, sim, saved, stored)
    player.scenario_id, player.step_no = scenario.id, 0
    steps = list(scenario.steps)
    original_run_step = player.run_step

    def counting_step(step):
        player.step_no += 1
        return original_run_step(step)

    player.run_step = counting_step
    try:
        with clock.using(sim):
            player.play(scenario)
    finally:
        player.close()
    # The start and every step saved at least once, and each save was checked.
    assert player.checked >= len(steps) + 1, (player.checked, len(steps))
    # The start and every completion not refused wrote rows, read back after it.
    changing = [step for step in steps if isinstance(step, dict) and "task" in step and not step.get("refused")]
    assert player.checked_rows >= len(changing) + 1, (player.checked_rows, len(changing))


_VALUES = [
    {"a": 1, "b": [1, 2.5, None, True], "c": {"d": "文本"}},
    OrderedDict(a=1), defaultdict(list, a=[1]), Counter("aab"), namedtuple("P", "x y")(1, [2]),
    (1, (2, [3])), {1, 2}, frozenset({"a"}), {1: "x", (1, 2): {3}}, {"typename": "not a tag"},
    Decimal("1.10"), date(2026, 3, 2), time(9, 0), timedelta(days=-1, seconds=5),
    datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai")), datetime(2026, 3, 2, 9),
    datetime(2026, 3, 2, 9, tzinfo=timezone(timedelta(hours=8), "CST")), timezone(timedelta(hours=8), "CST"),
    float("inf"), -0.0, b"\x00\xff", bytearray(b"ab"), 2 ** 80, complex(1, -2), range(1, 9, 2),
    {"f": len, "kept": 1},
]


@pytest.mark.parametrize("value", _VALUES, ids=[f"{type(v).__name__}-{i}" for i, v in enumerate(_VALUES)])
def test_normalised_value_is_what_a_restore_gives(value):
    """What a script leaves, normalised, is exactly what the saved state restores to, and that again."""
    normal = values.normalise(value)
    restored = _SERIALIZER.registry.restore(json.loads(json.dumps(values.encode(value))))
    assert strict_equal(normal, restored), first_difference(normal, restored)
    again = _SERIALIZER.registry.restore(json.loads(json.dumps(values.encode(normal))))
    assert strict_equal(again, normal), first_difference(again, normal)


def test_normalising_shares_no_list_dict_or_set():
    inner = [1, 2]
    data = {"a": inner, "b": inner, "c": {"d": inner}, "e": {1}}
    before = id(data)
    values.detach(data)
    assert id(data) == before  # in place: SpiffWorkflow's task holds this dict
    assert data == {"a": [1, 2], "b": [1, 2], "c": {"d": [1, 2]}, "e": {1}}
    assert len({id(data["a"]), id(data["b"]), id(data["c"]["d"]), id(inner)}) == 4


def test_normalising_refuses_what_cannot_be_stored():
    with pytest.raises(values.UnstorableValue) as caught:
        values.normalise({"ok": 1, "bad": [iter([])]})
    assert "data['bad'][0]" in caught.value.path


_SHARED_LIST = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="shared" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="make" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>people = [{"name": "甲"}]</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="look"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:scriptTask id="rename" scriptFormat="python"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>people[0]["name"] = "乙"</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="wait"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="make"/>
    <bpmn:sequenceFlow id="f2" sourceRef="make" targetRef="look"/>
    <bpmn:sequenceFlow id="f3" sourceRef="look" targetRef="rename"/>
    <bpmn:sequenceFlow id="f4" sourceRef="rename" targetRef="wait"/>
    <bpmn:sequenceFlow id="f5" sourceRef="wait" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("restored_between", [False, True], ids=["live", "restored"])
def test_a_script_changing_a_list_in_place_changes_its_own_task_only(restored_between):
    """SpiffWorkflow hands a task its parent's lists; kept in memory or restored, the change stays put."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(_SHARED_LIST.encode(), "shared.bpmn")
    spec, subs = parser.get_spec("shared"), parser.get_subprocess_specs("shared")
    engine = build_script_engine()
    runner = Runner.start(spec, subs, engine, {})
    assert runner.run_engine_steps() is None
    if restored_between:
        runner = Runner.restore(runner.dump(), spec, subs, engine)
    [look] = runner.ready_user_tasks()
    assert runner.complete_user_task(look.id, {}) is None
    by_name = {t.task_spec.name: t for t in runner._all_tasks()}
    assert by_name["make"].data["people"] == [{"name": "甲"}]
    assert by_name["look"].data["people"] == [{"name": "甲"}]
    assert by_name["rename"].data["people"] == [{"name": "乙"}]
    assert runner.ready_user_tasks()[0].data["people"] == [{"name": "乙"}]
