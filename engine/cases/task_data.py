"""The data a task's form shows: the case's, or for one instance of a multi-instance step, that instance's own.

An instance of a multi-instance step (each township's 自查自评, each unit's 部门考评) has data
the case does not: its item of the loop (``assess_township``) and what a preScript set for it (a
township's own platform figures). Those live in the workflow's task, not in the case snapshot,
so for such a task the workflow is restored (read only) and its data laid over the case's.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..context import context_of
from ..definitions.deployment import runtime_spec, with_cached_json
from ..spiff.values import jsonable
from ..store import case_state
from ..store.models import HumanTask, TaskStatus


def task_form_data(session: Session, *, task: HumanTask) -> dict:
    """Return the data ``task``'s form is filled from."""
    instance = task.instance
    data = dict(instance.data or {})
    if task.multi_index is None or task.status != TaskStatus.OPEN or not instance.state:
        return data
    with_cached_json(instance.definition)
    spec, subs = runtime_spec(instance.definition)
    runner = case_state.restore(session.connection(), instance, spec, subs, context_of(session).script_engine)
    own = next((t for t in runner.ready_user_tasks() if t.id == task.id), None)
    if own is None:
        return data
    return data | {k: v for k, v in jsonable(own.data).items() if not k.startswith("_")}
