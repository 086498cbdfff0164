"""Multi-instance and loop tasks: what their completion conditions see, which instance is which."""
from __future__ import annotations

import copy

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.util.task import TaskState


# Flowable/Camunda names, which designers of countersign steps already know; the completion
# condition of a multi-instance task sees them, e.g. ``nrOfCompletedInstances >= 1`` (或签).
_LOOP_COUNTS = ("nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances")


def inject_loop_counts(task) -> dict:
    """Give a finishing multi-instance child what its completion condition needs to decide.

    SpiffWorkflow evaluates the condition in the finishing child's data, which holds neither the
    counts nor the other instances' outputs: add both (the outputs as they stand once this
    instance is merged, e.g. every vote so far). Return what to undo afterwards.
    """
    parent = task.parent
    spec = getattr(parent, "task_spec", None)
    if not isinstance(spec, MultiInstanceTask) or spec.condition is None:
        return {}
    instances = [c for c in parent.children if c.task_spec.name == spec.task_spec]
    active = sum(1 for c in instances if not c.has_state(TaskState.FINISHED_MASK) and c is not task)
    done = len(parent.internal_data.get("merged", [])) + 1
    if parent.internal_data.get("cardinality") is not None:  # sequential, counted
        total = parent.internal_data["cardinality"]
    elif "remaining" in parent.internal_data:  # sequential, over a collection
        total = done + active + len(parent.internal_data["remaining"])
    else:
        total = len(instances)
    values = {"nrOfInstances": total, "nrOfCompletedInstances": done, "nrOfActiveInstances": active}
    if spec.data_output is not None and spec.output_item is not None and spec.output_item.exists(task):
        outputs = copy.deepcopy(spec.data_output.get(parent)) if spec.data_output.exists(parent) else []
        item, key = copy.deepcopy(spec.output_item.get(task)), task.internal_data.get("key_or_index")
        if key is not None and isinstance(outputs, dict):
            outputs[key] = item
        elif isinstance(outputs, list):
            outputs.append(item)
        values[spec.data_output.bpmn_id] = outputs
    saved = {k: task.data[k] for k in values if k in task.data}
    task.data.update(values)
    return {"names": list(values), "saved": saved}


def remove_injected(task, injected: dict) -> None:
    if not injected:
        return
    for holder in (task, task.parent):  # without an output collection the child's data is merged up
        for name in _LOOP_COUNTS:
            holder.data.pop(name, None)
    for name in injected["names"]:
        if name not in _LOOP_COUNTS:
            task.data.pop(name, None)
    task.data.update(injected["saved"])


def loop_index(task) -> int | None:
    """Return which instance of a multi-instance or loop task this is, counting from 0."""
    data = task.internal_data
    value = data.get("key_or_index", data.get("iteration"))
    if value is None and isinstance(data.get("item"), int):
        value = data["item"]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def loops_user_task(loop_task) -> bool:
    inner = loop_task.workflow.spec.task_specs.get(loop_task.task_spec.task_spec)
    return isinstance(inner, UserTask)
