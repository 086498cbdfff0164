"""Every private part of SpiffWorkflow that Pingan relies on, reached through this module only.

SpiffWorkflow's documented API does not cover pruning a task tree, splicing out tasks whose
elements a new version dropped, restoring around cached spec objects or storing every value a
script can make. What those need from its insides is named here, once, and
tests/engine/test_spiff_internals.py checks each against the installed library: an upgrade that
renames or reshapes one of them fails there, with the name, before it can corrupt a stored case.

Monkeypatches of library methods live with the behaviour they add (engine/spiff/steps.py: the
multi-instance budget; engine/spiff/timers.py and timer_clock.py: timer firing and the clock);
the test file checks what they wrap as well.
"""
from __future__ import annotations

from collections.abc import Callable
from copy import copy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    TaskConverter,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

# The version these internals were read from; the test names it when one of them moved.
CHECKED_WITH = "3.2.0"


# -- the task tree: a task keeps its parent's and children's ids, not the tasks ------------------

def child_ids(task) -> list[UUID]:
    """Return the task's list of child ids itself (not a copy): callers splice it in place."""
    return task._children


def set_child_ids(task, ids: list[UUID]) -> None:
    """Replace the ids of the task's children (the tasks themselves stay in ``workflow.tasks``)."""
    task._children = ids


def set_parent_id(task, parent_id: UUID | None) -> None:
    """Point the task at another parent (by id), without touching that parent's children."""
    task._parent = parent_id


def remove_task(workflow, task_id: UUID) -> None:
    """Drop a task and everything under it from the workflow, unlinking it from its parent."""
    workflow._remove_task(task_id)


def notify_removed(workflow, task) -> None:
    """Tell the workflow a task left ``workflow.tasks`` (subprocesses forget it, events stop waiting)."""
    workflow._task_removed_notify(task)


# -- a task's state and its library-owned data -----------------------------------------------------

def force_state(task, state: int) -> None:
    """Set a task's state without the transition's side effects (used to make a failed task READY again)."""
    task._set_state(state)


def internal_value(task, name: str, default: Any = None) -> Any:
    """Return one value of the task's internal data (e.g. a timer's ``event_value``)."""
    return task._get_internal_data(name, default)


def set_internal_values(task, **values: Any) -> None:
    """Set values of the task's internal data."""
    task._set_internal_data(**values)


def update_after_catch(task) -> None:
    """Let a task that just caught an event react to it (what the event manager does after a catch)."""
    task.task_spec._update(task)


# -- the serializer ----------------------------------------------------------------------------------

class CachedSpecConverter(BpmnWorkflowConverter):
    """Restore a workflow around spec objects parsed once, not once per load.

    A copy of ``BpmnWorkflowConverter.from_dict`` that accepts spec objects in place of their
    dicts; the test pins the library's own ``from_dict`` so an upgrade that changes it is seen.
    """

    def from_dict(self, dct):
        spec, subprocess_specs = dct.pop("spec"), dct.pop("subprocess_specs", {})
        if isinstance(spec, dict):
            spec = self.registry.restore(spec)
            subprocess_specs = self.mapping_from_dict(subprocess_specs)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = restore_tasks(self.registry, dct["tasks"], workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_MUTABLE = (dict, list, set)


def restore_tasks(registry, forms: dict, workflow) -> dict:
    """Restore a workflow's tasks from their stored forms, parents first: ``mapping_from_dict`` of ``TaskConverter.from_dict``.

    The same steps as the library's, written out: each id parsed once (a task's id is also its
    parent's child and its children's parent), no registry dispatch per task, and a child's data
    as ``DeepMerge.merge({}, parent.data)`` makes it (a shallow copy of each dict, list and set;
    into an empty dict every key is new). The converter is a fifth to a half of a restore, and a
    restore happens whenever a case is not kept in memory.
    tests/engine/test_incremental_dump.py restores every state of every shipped scenario both
    ways and compares the workflows.
    """
    ids: dict[str, UUID] = {}

    def uuid(text: str) -> UUID:
        value = ids.get(text)
        if value is None:
            value = ids[text] = UUID(text)
        return value

    restore, specs, out = registry.restore, workflow.spec.task_specs, {}
    events = workflow.top_workflow.event_manager
    for key, form in forms.items():
        task_spec = specs.get(form["task_spec"])
        task = Task(workflow, task_spec, state=form["state"], id=uuid(form["id"]))
        parent_id = form["parent"]
        task._parent = uuid(parent_id) if parent_id is not None else None
        task._children = [uuid(child) for child in form["children"]]
        task.last_state_change = form["last_state_change"]
        task.triggered = form["triggered"]
        task.internal_data = restore(form["internal_data"])
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            events.add_task(task)
        delta = form.get("delta")
        parent = workflow.tasks.get(task._parent) if task._parent is not None else None
        if delta and parent is not None:
            data = {k: copy(v) if isinstance(v, _MUTABLE) else v for k, v in parent.data.items()}
            data.update(restore(delta.get("updates", {})))
            for name in delta.get("deletions", {}):
                if name in data:
                    del data[name]
        else:
            data = restore(form["data"])
        task.data = data
        out[uuid(key)] = task
    return out


def task_data_converter(encode: Callable[[Any], Any]) -> type[TaskConverter]:
    """Return a task converter that stores task data (and its delta's updates) through ``encode``."""

    class TaskDataConverter(TaskConverter):
        def to_dict(self, task):
            dct = super().to_dict(task)
            dct["data"] = encode(dct["data"])
            if dct["delta"]:
                dct["delta"]["updates"] = encode(dct["delta"]["updates"])
                # Listed in the parent's key order, which a restore from PostgreSQL (JSONB) does not
                # keep: sorted, the same workflow always dumps the same state.
                dct["delta"]["deletions"] = sorted(dct["delta"]["deletions"])
            return dct

    return TaskDataConverter


def subworkflow_data_converter(encode: Callable[[Any], Any]) -> type[BpmnSubWorkflowConverter]:
    """Return a subworkflow converter that stores the subworkflow's data through ``encode``."""

    class SubWorkflowDataConverter(BpmnSubWorkflowConverter):
        def to_dict(self, workflow):
            dct = super().to_dict(workflow)
            dct["data"] = encode(workflow.data)
            return dct

        def from_dict(self, dct, task, top_workflow):
            # BpmnSubWorkflowConverter.from_dict, its tasks restored by restore_tasks.
            spec = top_workflow.subprocess_specs.get(task.task_spec.spec)
            subprocess = self.target_class(spec, task.id, top_workflow, deserializing=True)
            subprocess.tasks = restore_tasks(self.registry, dct["tasks"], subprocess)
            subprocess.task_tree = subprocess.tasks.get(UUID(dct["root"]))
            self.set_default_attributes(subprocess, dct)
            return subprocess

    return SubWorkflowDataConverter


def register_restorer(registry, typename: str, build: Callable[[dict], Any]) -> None:
    """Make the serializer's registry restore dicts tagged ``{"typename": typename}`` with ``build``."""
    registry.convert_from_dict[typename] = lambda dct, **kwargs: build(dct)
