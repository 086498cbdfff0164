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
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    TaskConverter,
)

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
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


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

    return SubWorkflowDataConverter


def register_restorer(registry, typename: str, build: Callable[[dict], Any]) -> None:
    """Make the serializer's registry restore dicts tagged ``{"typename": typename}`` with ``build``."""
    registry.convert_from_dict[typename] = lambda dct, **kwargs: build(dct)
