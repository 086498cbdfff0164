"""Prune finished history from long-lived workflows so loops can run for thousands of rounds.

SpiffWorkflow 3.2.0 keeps every executed task in one tree and walks it with ``max_depth=1000``.
A case that is returned and resubmitted grows the tree by one level per task per round, so after
~1,000 levels ``get_tasks`` stops seeing the frontier: ``do_engine_steps`` silently does nothing
and ``is_completed()`` even reports True. Parallel gateways crash earlier, in the recursive
``Task.is_descendant_of``. Every step also walks the whole tree, so cost grows with history.

Rule. Let the *live* tasks be those not COMPLETED/CANCELLED (ERROR counts as live) and D their
deepest common ancestor. Walk the chain root=a0, a1 (the start event), a2 … D.
Keep a0, a1 and the last ``keep_depth`` levels above D; drop a2 … a(c-1) with every side branch
hanging off them, and hang a(c) under a1. a1 then stands in for the dropped stretch: it takes
a(c-1)'s data, so every kept task sees exactly the parent data it saw before. That matters
because ``reset_from_task_id`` copies ``parent.data``, the serializer stores each task as a delta
against its parent, and UnstructuredJoin merges ``parent.data`` of earlier join instances.
(Re-parenting under the root instead would give the top kept task the start data on a reset, and
changing the root's data would leak into event subprocesses Spiff later starts under the root.)

Why this is safe.
* Everything removed is above D, so it is finished and no live task descends from it.
* Joins: a pending parallel/inclusive/unstructured join decides from the instances of its own
  spec and their parents; the split that opened its branches is a common ancestor of the join
  instance and of every branch still running, so it sits at or below D and is kept. We also
  refuse while any join is WAITING, and never start the window between a split and the join
  instance on the chain that merged it (``_chain_join_splits``): a reset inside the window then
  still finds the sibling branches' tokens. Structured joins (boundary events, event-based
  starts, ``Join(split_task=…)``) look their split up by ``find_ancestor``; that ancestor is kept.
* Boundary events, multi-instance, loops and waiting catch events are live while they matter,
  hence below D. The window never starts at a child of a task with several children, so a
  BoundaryEventSplit always keeps its attached task and events together (``reset_from_task_id``
  resets the siblings when the target's parent is such a split).
* Subprocesses: a removed task's finished subprocess is deleted with it; a task whose subprocess
  is still running, a task in the event manager, or the workflow's ``last_task`` (Spiff copies
  its data when a subprocess ends) is never removed — compaction is refused instead. Running
  subprocesses are compacted in their own trees by the same rule.

Spiff quirk kept on purpose: a parallel/inclusive gateway counts every earlier finished instance
of itself whose input completed as a token for that input, however old, so in a loop it can fire
after one branch (the tests pin this). So that compaction never changes *when* a join fires, the
newest such instance per (join, input) is kept with its input task, re-hung under a1
(``_stale_tokens``). Not kept: UnstructuredJoin also merges the data of all those old inputs, so
a key deleted more than a window ago is no longer resurrected at the join (a Spiff bug anyway).

Refused (returns 0, tree untouched): any WAITING join; removing a live task, a running
subprocess, an event-manager task or ``last_task``; and nothing is gained while D stays high,
e.g. a loop inside one branch of a parallel section whose other branch is open — model such a
loop as an embedded subprocess, whose own tree is then compacted.

Cost: each call walks up from one task (O(depth)); the O(tree) pass runs only once the depth
passes 2 x ``keep_depth``, i.e. about once per ``keep_depth`` new levels (or on every call
while D cannot move, as above: no worse than the tree walks Spiff itself does per step).
"""
from __future__ import annotations

from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState

from .internals import child_ids, notify_removed, set_child_ids, set_parent_id

DEFAULT_KEEP_DEPTH = 50
# Spiff recurses once per level in is_descendant_of/find_ancestor and iterates to depth 1000, and
# the tree may reach 2 x keep_depth plus one round before the next compaction.
MAX_KEEP_DEPTH = 200

_REMOVABLE = TaskState.COMPLETED | TaskState.CANCELLED


def compact(workflow, *, keep_depth: int = DEFAULT_KEEP_DEPTH) -> int:
    """Prune finished history from a workflow and its running subprocesses; return tasks removed."""
    if not 1 <= keep_depth <= MAX_KEEP_DEPTH:
        raise ValueError(f"keep_depth must be between 1 and {MAX_KEEP_DEPTH}, got {keep_depth}")
    removed = _compact_tree(workflow, workflow, keep_depth)
    for task_id, subprocess in list(workflow.subprocesses.items()):
        # An earlier pass may have deleted it together with a pruned parent task.
        if task_id in workflow.subprocesses and not subprocess.completed:
            removed += _compact_tree(subprocess, workflow, keep_depth)
    return removed


def _compact_tree(wf, top, keep_depth: int) -> int:
    """Compact one task tree (the top workflow's or a subprocess's) in place."""
    probe = _newest_live_task(wf)
    if probe is None:
        return 0
    chain = _path_from_root(probe)
    # Cheap enough for every step: one walk up from one task.
    if len(chain) - 1 <= 2 * keep_depth:
        return 0

    live = [t for t in wf.tasks.values() if not t.has_state(_REMOVABLE)]
    if any(isinstance(t.task_spec, Join) and t.state == TaskState.WAITING for t in live):
        return 0

    index_of = {task.id: i for i, task in enumerate(chain)}
    memo: dict = {}
    live_root = min(_meeting_index(t, index_of, memo) for t in live)  # D's chain index
    cut = live_root - keep_depth
    for task in live:
        split_index = _structured_split_index(task, index_of)
        if split_index is not None:
            cut = min(cut, split_index)
    cut = _settle_cut(cut, chain, _chain_join_splits(wf, chain, index_of, memo))
    if cut < 3:
        return 0

    anchor, first_dropped, keep_top = chain[1], chain[2], chain[cut]
    doomed = _subtree_without(first_dropped, keep_top)
    tokens = _stale_tokens(doomed, index_of)
    superseded = _superseded_tokens(anchor, tokens, index_of)
    doomed += superseded
    if any(not _may_remove(t, wf, top) for t in doomed):
        return 0
    saved = {t.id for join in tokens.values() for t in (join, join.parent)}
    doomed = [t for t in doomed if t.id not in saved]

    removed_subprocess_tasks = 0
    # Delete subprocesses before any task leaves wf.tasks: delete_subprocess looks up the
    # parent task of every subprocess it considers.
    for task in doomed:
        if task.id in top.subprocesses:
            removed_subprocess_tasks += len(top.delete_subprocess(task))

    anchor.data = chain[cut - 1].data
    children = child_ids(anchor)
    children[children.index(first_dropped.id)] = keep_top.id
    set_parent_id(keep_top, anchor.id)
    set_child_ids(anchor, [i for i in children if i not in {t.id for t in superseded}])
    for join in tokens.values():
        source = join.parent
        set_parent_id(source, anchor.id)
        child_ids(anchor).append(source.id)
    for task in doomed:
        del wf.tasks[task.id]
    for task in doomed:
        notify_removed(wf, task)
    return len(doomed) + removed_subprocess_tasks


def _newest_live_task(wf):
    """Return a live task, looking at the newest first (they are almost always live)."""
    for task in reversed(wf.tasks.values()):
        if not task.has_state(_REMOVABLE):
            return task
    return None


def _path_from_root(task) -> list:
    """Return the tasks from the root down to ``task``."""
    path = []
    while task is not None:
        path.append(task)
        task = task.parent
    path.reverse()
    return path


def _meeting_index(task, index_of: dict, memo: dict) -> int:
    """Return the chain index of the nearest ancestor-or-self of ``task`` that is on the chain."""
    walked = []
    while task is not None and task.id not in index_of and task.id not in memo:
        walked.append(task.id)
        task = task.parent
    if task is None:  # detached from the root: treat as live at the top so nothing is pruned
        index = 0
    else:
        index = index_of[task.id] if task.id in index_of else memo[task.id]
    for task_id in walked:
        memo[task_id] = index
    return index


def _structured_split_index(task, index_of: dict) -> int | None:
    """Return the chain index of the split a live structured join will look up, if any."""
    spec = task.task_spec
    split_name = getattr(spec, "split_task", None) if isinstance(spec, Join) else None
    if split_name is None:
        return None
    ancestor = task.parent
    while ancestor is not None and ancestor.task_spec.name != split_name:
        ancestor = ancestor.parent
    return None if ancestor is None else index_of.get(ancestor.id)


def _chain_join_splits(wf, chain: list, index_of: dict, memo: dict) -> list[tuple[int, int]]:
    """Pair each join on the chain with the branching point of its own sibling instances.

    The siblings of the join instance at chain index j (from the same activation) branch off
    the chain after the previous chain instance of that join: earlier ones are stale tokens of
    older rounds. Branching at the root or a1 never constrains the cut: both are always kept.
    """
    side_points: dict = {}
    for task in wf.tasks.values():
        if isinstance(task.task_spec, Join) and task.id not in index_of:
            side_points.setdefault(task.task_spec.name, []).append(
                _meeting_index(task, index_of, memo))
    pairs, previous = [], {}
    for j, task in enumerate(chain):
        if not isinstance(task.task_spec, Join):
            continue
        name = task.task_spec.name
        floor = max(previous.get(name, 1), 1)
        own = [m for m in side_points.get(name, ()) if floor < m < j]
        if own:
            pairs.append((j, max(own)))
        previous[name] = j
    return pairs


def _settle_cut(cut: int, chain: list, join_splits: list[tuple[int, int]]) -> int:
    """Move the cut up until the window starts cleanly: outside split/join pairs, no siblings."""
    changed = True
    while changed and cut >= 3:
        changed = False
        for j, split in join_splits:
            if j >= cut > split:
                cut, changed = split, True
        # The dropped parent must have had only this child, or a sibling's history goes missing.
        while cut >= 3 and len(child_ids(chain[cut - 1])) != 1:
            cut, changed = cut - 1, True
    return cut


def _stale_tokens(doomed: list, index_of: dict) -> dict:
    """Pick the newest finished side instance of each join per completed input among ``doomed``.

    Spiff's parallel and inclusive gateways count such an instance as a token for its input
    spec, however old. Keeping the newest one per (join, input) keeps that answer unchanged.
    """
    newest: dict = {}
    for task in doomed:
        parent = task.parent
        if (isinstance(task.task_spec, Join) and task.id not in index_of
                and parent.id not in index_of and parent.state == TaskState.COMPLETED
                and child_ids(parent) == [task.id]):
            key = (task.task_spec.name, parent.task_spec.name)
            if key not in newest or task.last_state_change >= newest[key].last_state_change:
                newest[key] = task
    return newest


def _superseded_tokens(anchor, tokens: dict, index_of: dict) -> list:
    """Return earlier saved tokens under ``anchor`` (input and join) that ``tokens`` replace."""
    found = []
    for side in anchor.children:
        if side.id in index_of:
            continue
        children = side.children
        if len(children) == 1 and (children[0].task_spec.name, side.task_spec.name) in tokens:
            found += [side, children[0]]
    return found


def _subtree_without(start, keep) -> list:
    """Return ``start`` and its descendants, leaving out ``keep`` and everything below it."""
    found, stack = [], [start]
    while stack:
        task = stack.pop()
        if task is keep:
            continue
        found.append(task)
        stack.extend(task.children)
    return found


def _may_remove(task, wf, top) -> bool:
    """Check that removing ``task`` cannot affect anything still running."""
    subprocess = top.subprocesses.get(task.id)
    return (
        task.has_state(_REMOVABLE)
        and (subprocess is None or subprocess.completed)
        and task.id not in top.event_manager.tasks
        and task is not wf.last_task
    )
