"""The order of a workflow's tasks, subprocesses and waiting events: the same live as restored.

SpiffWorkflow keeps them in dicts and walks them in dict order: which waiting event catches a
message first, which ready task a walk meets first. A restore rebuilds the dicts parents first;
a workflow kept in memory between requests (engine/spiff/cache.py) must have that same order.
"""
from __future__ import annotations

from . import internals

__all__ = ["parents_first", "restored_order"]


def restored_order(wf) -> None:
    """Put the workflow's tasks, subprocesses and waiting events in the order a restore gives them.

    Called at every dump, so the live workflow is ordered as the one restored from what it saved.
    The dicts are reordered in place: the library may hold them.
    """
    _reorder(wf.tasks, parents_first(wf.tasks, wf.task_tree.id, internals.child_ids))
    subprocesses: dict = {}

    def walk(workflow) -> None:  # as the serializer restores them: under their task, depth first
        for task_id in workflow.tasks:
            sub = wf.subprocesses.get(task_id)
            if sub is not None and task_id not in subprocesses:
                _reorder(sub.tasks, parents_first(sub.tasks, sub.task_tree.id, internals.child_ids))
                subprocesses[task_id] = sub
                walk(sub)

    walk(wf)
    _reorder(wf.subprocesses, subprocesses)
    waiting = wf.event_manager.tasks
    if len(waiting) > 1:
        position = {task_id: i for i, task_id in enumerate(
            t for workflow in (wf, *subprocesses.values()) for t in workflow.tasks)}
        _reorder(waiting, dict(sorted(waiting.items(), key=lambda item: position.get(item[0], len(position)))))


def _reorder(target: dict, ordered: dict) -> None:
    """Give ``target`` the order of ``ordered`` (same keys first; any others stay, after them)."""
    if list(target) == list(ordered)[:len(target)]:
        return
    rest = {k: v for k, v in target.items() if k not in ordered}
    target.clear()
    target.update(ordered)
    target.update(rest)


def _serialized_children(task: dict) -> list:
    return task.get("children", [])


def parents_first(tasks: dict, root, children=_serialized_children) -> dict:
    """Order tasks (serialized, or live with ``children=internals.child_ids``) depth-first from the root.

    Every parent then precedes its children; restoring a task's data needs its parent's.
    """
    ordered, stack = {}, [root]
    while stack:
        task_id = stack.pop()
        if task_id in tasks and task_id not in ordered:
            ordered[task_id] = tasks[task_id]
            stack.extend(reversed(children(tasks[task_id])))
    for task_id, task in tasks.items():  # unreachable from the root: keep, as before
        ordered.setdefault(task_id, task)
    return ordered
