"""The private parts of SpiffWorkflow (and the one of SQLAlchemy) Pingan relies on, checked against the installed library.

Each internal engine/spiff/internals.py names, and each library method Pingan wraps or copies, has a
test here: what it does, and for code Pingan copies or wraps, a fingerprint of the library's own
source. After an upgrade a failure names the internal. Read the library's new code, adapt
engine/spiff/internals.py (or the patch in steps.py / timers.py / timer_clock.py), then update the
fingerprint: stored cases are restored and pruned through these, so a silent change would corrupt them.
"""
from __future__ import annotations

import ast
import datetime
import hashlib
import importlib
import inspect
from pathlib import Path

import pytest
import SpiffWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import ParallelMultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.spiff import internals, steps, timer_clock, timers  # noqa: F401  (timers: its patches applied)
from engine.spiff.workflow import _SERIALIZER, Runner

LOOP = Path(__file__).resolve().parents[1] / "fixtures" / "loop.bpmn"

# Library code Pingan copies (CachedSpecConverter), wraps (the patches) or calls for its effect, by
# a hash of its syntax tree (docstrings and comments left out). Read from SpiffWorkflow 3.2.0.
FINGERPRINTS = {
    ("SpiffWorkflow.task", "Task._set_state"): "588a935b69d93bfb",
    ("SpiffWorkflow.task", "Task._get_internal_data"): "96f8969178360109",
    ("SpiffWorkflow.task", "Task._set_internal_data"): "902c6c3412715316",
    ("SpiffWorkflow.workflow", "Workflow._remove_task"): "6c39fa805ccd7457",
    ("SpiffWorkflow.workflow", "Workflow._task_removed_notify"): "897b7a5cf1bb6dd4",
    ("SpiffWorkflow.bpmn.util.subworkflow", "BpmnSubWorkflow._task_removed_notify"): "08321d33f2ffe8cf",
    ("SpiffWorkflow.specs.base", "TaskSpec._update"): "620de2e91a64d03f",
    # engine/spiff/internals.py CachedSpecConverter.from_dict is a copy of this one.
    ("SpiffWorkflow.bpmn.serializer.default.workflow", "BpmnWorkflowConverter.from_dict"): "2179639f09e09ef2",
    # ...and SubWorkflowDataConverter.from_dict of this one, with the tasks restored by
    # internals.restore_tasks, which does what the next three do for each task.
    ("SpiffWorkflow.bpmn.serializer.default.workflow", "BpmnSubWorkflowConverter.from_dict"): "17d217948e1ea9d3",
    ("SpiffWorkflow.bpmn.serializer.helpers.bpmn_converter", "BpmnConverter.mapping_from_dict"): "ab110f89dcd6dd88",
    ("SpiffWorkflow.bpmn.serializer.default.workflow", "TaskConverter.from_dict"): "cf192b21b8d974ed",
    ("SpiffWorkflow.util.deep_merge", "DeepMerge.merge"): "5cf4fa228ce36906",
    # engine/spiff/workflow.py _task_form writes what this one (with values.encode) returns.
    ("SpiffWorkflow.bpmn.serializer.default.workflow", "TaskConverter.to_dict"): "749398115d903b8b",
    # Wrapped by engine/spiff/steps.py (the multi-instance budget).
    ("SpiffWorkflow.bpmn.specs.mixins.multiinstance_task", "ParallelMultiInstanceTask.create_children"):
        "c81a35d5207211c9",
    # Replaced or wrapped by engine/spiff/timer_clock.py and engine/spiff/timers.py.
    ("SpiffWorkflow.bpmn.specs.event_definitions.timer", "TimerEventDefinition.get_datetime"): "0f1e89ef9dda808a",
    ("SpiffWorkflow.bpmn.specs.event_definitions.timer", "TimeDateEventDefinition.has_fired"): "47404fe381bd1cba",
    ("SpiffWorkflow.bpmn.specs.event_definitions.timer", "DurationTimerEventDefinition.has_fired"): "15a8e6a2bb1131ab",
    ("SpiffWorkflow.bpmn.specs.event_definitions.timer", "CycleTimerEventDefinition.cycle_complete"):
        "c87e66e9c3b33e16",
}


def fingerprint(module_name: str, qualname: str) -> str:
    """Hash the syntax of a function as the library's source file has it (patches do not change the file)."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    node = tree
    for part in qualname.split("."):
        node = next((n for n in ast.iter_child_nodes(node)
                     if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part), None)
        assert node is not None, f"{module_name}.{qualname} is gone (SpiffWorkflow {SpiffWorkflow.__version__})"
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    text = "\n".join(ast.dump(n) for n in body) + ast.dump(node.args)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("module_name, qualname", sorted(FINGERPRINTS))
def test_library_code_pingan_relies_on_is_unchanged(module_name, qualname):
    assert fingerprint(module_name, qualname) == FINGERPRINTS[(module_name, qualname)], (
        f"SpiffWorkflow {SpiffWorkflow.__version__} changed {qualname} (read with {internals.CHECKED_WITH}): "
        "check engine/spiff/internals.py and the patches against the new code, then update the fingerprint")


@pytest.fixture(scope="module")
def parser():
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(LOOP))
    return parser


@pytest.fixture
def workflow(parser):
    wf = BpmnWorkflow(parser.get_spec("loop"), parser.get_subprocess_specs("loop"))
    wf.task_tree.data["parallel"] = False
    wf.do_engine_steps()
    return wf


def ready(wf, name):
    [task] = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.name == name]
    return task


def test_a_task_keeps_its_children_and_parent_by_id(workflow):
    task = ready(workflow, "submit")
    parent = task.parent

    assert internals.child_ids(parent) is parent._children  # the list itself: callers splice it
    assert internals.child_ids(parent) == [c.id for c in parent.children]
    assert task._parent == parent.id

    internals.set_parent_id(task, workflow.task_tree.id)
    assert task.parent is workflow.task_tree
    internals.set_parent_id(task, parent.id)

    others = [i for i in internals.child_ids(parent) if i != task.id]
    internals.set_child_ids(parent, others)
    assert task not in parent.children
    internals.set_child_ids(parent, others + [task.id])
    assert task in parent.children


def test_removing_a_task_drops_its_subtree_unlinks_it_and_notifies(workflow):
    task = ready(workflow, "submit")
    future = [c for c in task.children]
    assert future, "a ready task has predicted children"
    doomed = {t.id for c in future for t in c}
    removed = []
    workflow.task_removed_event.connect(lambda wf, t: removed.append(t.id))

    internals.remove_task(workflow, future[0].id)

    assert future[0].id not in internals.child_ids(task)
    assert not doomed & set(workflow.tasks)
    assert set(removed) == doomed


def test_notify_removed_runs_the_workflows_removal_callbacks(workflow):
    task = ready(workflow, "submit")
    seen = []
    workflow.task_removed_event.connect(lambda wf, t: seen.append((wf, t)))

    internals.notify_removed(workflow, task)

    assert seen == [(workflow, task)]


def test_force_state_sets_the_state_without_running_the_task(workflow):
    task = ready(workflow, "submit")
    internals.force_state(task, TaskState.ERROR)
    assert task.state == TaskState.ERROR
    internals.force_state(task, TaskState.READY)
    assert task.state == TaskState.READY and not task.has_state(TaskState.COMPLETED)


def test_internal_data_is_the_tasks_internal_data_dict_and_is_stored(workflow):
    task = ready(workflow, "submit")
    internals.set_internal_values(task, event_value={"next": "2027-01-04T09:00:00+08:00"}, event_fired=False)

    assert task.internal_data["event_value"] == {"next": "2027-01-04T09:00:00+08:00"}
    assert internals.internal_value(task, "event_fired") is False
    assert internals.internal_value(task, "missing", "default") == "default"
    assert _SERIALIZER.registry.convert(task)["internal_data"]["event_value"] == {"next": "2027-01-04T09:00:00+08:00"}


def test_update_after_catch_is_what_the_event_manager_calls():
    # The library's own catch path calls task_spec._update(task) after a catch; Pingan does the same.
    source = inspect.getsource(importlib.import_module("SpiffWorkflow.bpmn.util.event"))
    assert "task.task_spec._update(task)" in source
    assert list(inspect.signature(internals.update_after_catch).parameters) == ["task"]
    spec_update = importlib.import_module("SpiffWorkflow.specs.base").TaskSpec._update
    assert list(inspect.signature(spec_update).parameters) == ["self", "my_task"]


def test_state_round_trips_through_the_converters_with_cached_specs(parser):
    spec, subs = parser.get_spec("loop"), parser.get_subprocess_specs("loop")
    runner = Runner.start(spec, subs, None, {"parallel": False})
    runner.run_engine_steps()
    [task] = runner.ready_user_tasks()
    runner.complete_user_task(task.id, {"submit": 1, "when": datetime.date(2027, 1, 4)})

    state = runner.dump()
    library = _SERIALIZER.to_dict(runner.wf)
    # Runner.dump writes what the library's converter writes, minus the spec (stored once per
    # definition), plus the version the serializer's migrations read.
    assert set(state) == set(library) - {"spec", "subprocess_specs"} | {_SERIALIZER.VERSION_KEY}
    # Task data (stored as a delta against the parent's) goes through values.encode: a date stays a date.
    assert any((t["delta"] or {}).get("updates", {}).get("when") == {"typename": "pingan.date", "value": "2027-01-04"}
               for t in state["tasks"].values())

    restored = Runner.restore(state, spec, subs, None)
    assert restored.wf.spec is spec  # around the cached spec object, not a copy
    assert [t.element_id for t in restored.ready_user_tasks()] == ["review"]
    [review] = [t for t in restored.wf.get_tasks(state=TaskState.READY, manual=True)]
    assert review.data["when"] == datetime.date(2027, 1, 4)  # restored as a date, not its text
    assert restored.dump() == state


def test_the_registry_restores_tagged_dicts_through_convert_from_dict():
    registry = _SERIALIZER.registry
    assert isinstance(registry.convert_from_dict, dict)
    internals.register_restorer(registry, "pingan.test_only", lambda dct: ("built", dct["value"]))
    try:
        assert registry.restore({"typename": "pingan.test_only", "value": 7}) == ("built", 7)
    finally:
        del registry.convert_from_dict["pingan.test_only"]


def test_the_patches_are_in_place_on_the_methods_they_wrap():
    assert getattr(ParallelMultiInstanceTask.create_children, "_pingan", False)
    assert list(inspect.signature(ParallelMultiInstanceTask.create_children).parameters) == ["self", "my_task"]
    assert spiff_timer.datetime is timer_clock.TimerClock
    for cls in (spiff_timer.TimeDateEventDefinition, spiff_timer.DurationTimerEventDefinition):
        assert getattr(cls.has_fired, "_pingan", False), cls.__name__
    assert getattr(spiff_timer.CycleTimerEventDefinition.cycle_complete, "_pingan", False)
    # The multi-instance patch reads these attributes of the spec.
    for name in ("data_input", "cardinality"):
        assert name in inspect.getsource(importlib.import_module("SpiffWorkflow.bpmn.specs.mixins.multiinstance_task"))
