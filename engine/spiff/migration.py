"""Move a running workflow onto another version of its spec, with SpiffWorkflow's diff utilities.

``SpecDiff``/``WorkflowDiff`` (``SpiffWorkflow.bpmn.util.diff``) align the tasks of a workflow with
the new spec, matching elements by id and, failing that, by their place in the flow;
``migrate_workflow`` swaps the specs and resets the ready and waiting tasks so that what follows
them is predicted again from the new diagram. Around that this module adds what a case needs:

* what stops a move: a live task (an open user task, a waiting event, a running subprocess or
  multi-instance step) whose element is gone or is now another kind of element, or a running
  subprocess missing from the new version;
* what a reset would lose: a ready task keeps its data (a multi-instance item, a returned form)
  and its task id, a waiting timer keeps its due time unless its definition changed;
* finished history whose elements are gone is taken out of the tree (the audit log, not the tree,
  is the case's history), since a stored state names every task's element and must restore.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from .copying import copy_data
from .internals import child_ids, remove_task, set_child_ids, set_parent_id
from .workflow import _SERIALIZER, Runner

__all__ = ["Obstacle", "migration_obstacles", "migrate_runner"]

_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_RESET = TaskState.READY | TaskState.WAITING


@dataclass(frozen=True)
class Obstacle:
    """Why a workflow cannot move: ``kind`` is removed | retyped | subprocess_removed."""

    kind: str
    element_id: str
    element_name: str
    user_task: bool = False       # the live task is a user task (an open 待办)
    waiting: bool = False         # the live task waits for a timer or message
    subprocess: str | None = None  # the name of the running subprocess it is in, if any


def _label(spec) -> tuple[str, str]:
    # The library's connecting specs ("session.BoundaryEventSplit") belong to their element.
    element = getattr(spec, "bpmn_id", None) or spec.name.split(".")[0]
    return element, getattr(spec, "bpmn_name", None) or element


# Specs are parsed once per stored definition and shared (engine/definitions/deployment.py), and a SpecDiff is
# only read once built: moving a thousand cases between two versions compares the versions once.
_SPEC_DIFFS: OrderedDict[tuple[int, int], tuple] = OrderedDict()
_SPEC_DIFFS_SIZE = 32
_LOCK = threading.Lock()


def _spec_diff(old, new) -> SpecDiff:
    key = (id(old), id(new))
    with _LOCK:
        hit = _SPEC_DIFFS.get(key)
        if hit is not None and hit[0] is old and hit[1] is new:
            _SPEC_DIFFS.move_to_end(key)
            return hit[2]
    diff = SpecDiff(_SERIALIZER.registry, old, new)
    with _LOCK:
        _SPEC_DIFFS[key] = (old, new, diff)  # the specs are held too, so their ids cannot be reused
        while len(_SPEC_DIFFS) > _SPEC_DIFFS_SIZE:
            _SPEC_DIFFS.popitem(last=False)
    return diff


def _diffs(wf, new_spec, new_subs: dict):
    """Return (workflow, WorkflowDiff or None, subprocess name) for the top workflow and each running subprocess."""
    out = [(wf, WorkflowDiff(wf, _spec_diff(wf.spec, new_spec)), None)]
    for sp_id, sp in wf.subprocesses.items():
        if sp.completed:
            continue
        parent = wf.get_task_from_id(sp_id)
        name = _label(parent.task_spec)[1] if parent is not None else sp.spec.name
        target = new_subs.get(sp.spec.name)
        diff = WorkflowDiff(sp, _spec_diff(sp.spec, target)) if target is not None else None
        out.append((sp, diff, name))
    return out


def _obstacles(diffs) -> list[Obstacle]:
    found = []
    for sp, diff, sub_name in diffs:
        if diff is None:
            element, name = _label(sp.spec)
            found.append(Obstacle("subprocess_removed", element, sub_name or name, subprocess=sub_name))
            continue
        removed = {t.id for t in diff.removed}
        for task in sp.get_tasks(state=_LIVE, skip_subprocesses=True):
            spec = task.task_spec
            element, name = _label(spec)
            where = dict(user_task=isinstance(spec, UserTask), waiting=task.state == TaskState.WAITING,
                         subprocess=sub_name)
            if task.id in removed:
                found.append(Obstacle("removed", element, name, **where))
            elif type(diff.alignment[task]) is not type(spec):
                found.append(Obstacle("retyped", element, name, **where))
    return found


def migration_obstacles(runner: Runner, new_spec, new_subs: dict) -> list[Obstacle]:
    """Return what keeps the workflow from moving onto ``new_spec`` (nothing: it can move)."""
    return _obstacles(_diffs(runner.wf, new_spec, new_subs))


def migrate_runner(runner: Runner, new_spec, new_subs: dict, script_engine) -> Runner:
    """Move the workflow onto ``new_spec`` and return it restored around the new specs.

    The caller has checked ``migration_obstacles``; the workflow given is changed in place and
    must not be used afterwards. Timer expressions may be evaluated: run it with the calendar.
    """
    wf = runner.wf
    diffs = _diffs(wf, new_spec, new_subs)
    if _obstacles(diffs):
        raise ValueError("the workflow has obstacles to migration")
    registry = _SERIALIZER.registry
    kept = {}
    for sp, _diff, _name in diffs:
        for task in sp.get_tasks(state=_RESET, skip_subprocesses=True):
            kept[task.id] = (copy_data(task.data), copy_data(task.internal_data), _event_of(task.task_spec, registry))
    for sp, diff, _name in diffs:
        _drop_gone(sp, diff, top=wf)
        target = new_spec if sp is wf else new_subs[sp.spec.name]
        migrate_workflow(diff, sp, target)
    wf.subprocess_specs = new_subs
    for sp, _diff, _name in diffs:
        for task in list(sp.tasks.values()):
            before = kept.get(task.id)
            if before is None or not task.has_state(_RESET):
                continue
            data, internal, event = before
            task.data = data
            if event == _event_of(task.task_spec, registry):
                # Same timer or message: it keeps its due time and correlation, not one counted from now.
                task.internal_data = internal
    # Through the serializer: waiting events re-registered, every task bound to a spec of the new version.
    moved = Runner.restore(runner.dump(), new_spec, new_subs, script_engine)
    moved.stored_tasks = runner.stored_tasks  # what the store holds of the case is what it held
    return moved


def _event_of(spec, registry):
    return registry.convert(spec.event_definition) if isinstance(spec, CatchingEvent) else None


def _drop_gone(wf, diff: WorkflowDiff, *, top) -> None:
    """Take tasks whose elements are gone out of the tree: finished ones spliced out, predicted ones dropped."""
    for task in list(diff.removed):
        if task.id not in wf.tasks:
            continue  # dropped with a predicted parent
        if task.has_state(_FINISHED):
            if task.id in top.subprocesses:
                top.delete_subprocess(task)
            parent = task.parent
            siblings = child_ids(parent)
            index = siblings.index(task.id)
            siblings[index:index + 1] = child_ids(task)
            for child in task.children:
                set_parent_id(child, parent.id)
            set_child_ids(task, [])
            del wf.tasks[task.id]
            top.event_manager.tasks.pop(task.id, None)
            if wf.last_task is task:
                wf.last_task = None
        elif task.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE):
            remove_task(wf, task.id)
