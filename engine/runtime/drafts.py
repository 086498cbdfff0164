"""Task drafts: what someone typed into a task form but has not submitted yet."""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..errors import EngineError, NotAllowed, NotFound, TaskNotOpen
from ..org.orgs import Actor
from ..store.models import HumanTask, TaskStatus
from .lifecycle import lock_instance, may_act

MAX_DRAFT_CHARS = 200_000


def save_draft(session: Session, *, task_id: str, data: dict, actor: Actor) -> HumanTask:
    """Keep the unvalidated form values of an open task the actor may work on."""
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    lock_instance(session, instance_id=row.instance_id)
    session.refresh(row)
    if row.status != TaskStatus.OPEN:
        raise TaskNotOpen("该任务已办理或已撤销，草稿未保存", message_en="the task is not open; the draft was not saved")
    if not may_act(row, actor):
        raise NotAllowed("您不是该任务的办理人，不能保存草稿", message_en="you may not work on this task")
    if len(repr(data)) > MAX_DRAFT_CHARS:
        raise EngineError("草稿内容过大", message_en="the draft is too large")
    row.draft = dict(data)
    session.flush()
    return row
