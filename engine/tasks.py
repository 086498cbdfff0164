"""What staff do to tasks besides completing them: claim, transfer, delegate, return, withdraw, CC, urge."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, clock
from .audit import EntryKind
from .errors import Conflict, EngineError, NotAllowed, NotFound, TaskNotOpen
from .models import AuditEntry, CarbonCopy, HumanTask, Instance, InstanceStatus, TaskStatus, User
from .notifications import NotificationKind, notify
from .orgs import SYSTEM, Actor, actor_by_id, users_with_role
from .runtime import advance, load, may_act, open_task_for_update, save
from .visibility import can_see

URGE_INTERVAL = timedelta(minutes=10)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(f"用户 '{username}' 不存在或已停用", message_en=f"user '{username}' not found or inactive")
    return user


def claim_task(session: Session, *, task_id: str, actor: Actor) -> HumanTask:
    """Take a task offered to a role pool (签收)."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.assignee_id == actor.id:
        raise Conflict("您已签收该任务", message_en="you have already claimed this task")
    row.assignee_id = actor.id
    audit.record(session, instance=loaded.instance, kind=EntryKind.CLAIMED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id)
    session.flush()
    return row


def release_task(session: Session, *, task_id: str, actor: Actor) -> HumanTask:
    """Give a claimed task back to its role pool."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.owner_id is not None:
        raise Conflict("委派中的任务不能退回任务池", message_en="a delegated task cannot be released")
    row.assignee_id = None
    audit.record(session, instance=loaded.instance, kind="released", actor=actor.username,
                 task_id=row.id, element_id=row.element_id)
    session.flush()
    return row


def transfer_task(session: Session, *, task_id: str, actor: Actor, to: str, opinion: str | None = None) -> HumanTask:
    """Hand a task to another person in its pool, who then completes it (转办)."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    target = actor_by_id(session, user_id=_user(session, to).id)
    if target.id == actor.id:
        raise EngineError("不能转办给自己", message_en="you cannot transfer a task to yourself")
    org_path = row.candidate_org.path if row.candidate_org else "/"
    if row.candidate_role and not target.has_role(row.candidate_role, org_path):
        raise NotAllowed(f"{target.name} 不具备该任务所需的角色和组织范围，不能转办给他/她",
                         message_en=f"{to} does not hold the task's role in its org")
    row.assignee_id, row.owner_id = target.id, None
    audit.record(session, instance=loaded.instance, kind=EntryKind.TRANSFERRED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id, opinion=opinion, payload={"to": to})
    notify(session, user_ids=[target.id], kind=NotificationKind.TASK, instance_id=row.instance_id, task_id=row.id,
           text=f"{actor.name} 将任务“{row.title}”转办给您（{loaded.instance.title}）")
    session.flush()
    return row


def delegate_task(session: Session, *, task_id: str, actor: Actor, to: str, opinion: str | None = None) -> HumanTask:
    """Lend a task to someone; it comes back to the owner to finish (委派)."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.owner_id is not None:
        raise Conflict("任务已在委派中", message_en="the task is already delegated")
    target = _user(session, to)
    if target.id == actor.id:
        raise EngineError("不能委派给自己", message_en="you cannot delegate a task to yourself")
    row.owner_id, row.assignee_id = actor.id, target.id
    audit.record(session, instance=loaded.instance, kind=EntryKind.DELEGATED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id, opinion=opinion, payload={"to": to})
    notify(session, user_ids=[target.id], kind=NotificationKind.DELEGATED, instance_id=row.instance_id, task_id=row.id,
           text=f"{actor.name} 委派您协助办理“{row.title}”（{loaded.instance.title}）")
    session.flush()
    return row


def resolve_task(session: Session, *, task_id: str, actor: Actor, opinion: str | None = None,
                 draft: dict | None = None) -> HumanTask:
    """Hand a delegated task back to its owner, with the delegate's draft and opinion."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.owner_id is None or row.assignee_id != actor.id:
        raise Conflict("该任务不是委派给您的", message_en="this task is not delegated to you")
    owner_id = row.owner_id
    row.assignee_id, row.owner_id = owner_id, None
    if draft:
        row.draft = dict(draft)
    audit.record(session, instance=loaded.instance, kind=EntryKind.RESOLVED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id, opinion=opinion, payload={"draft": draft or {}})
    notify(session, user_ids=[owner_id], kind=NotificationKind.TASK, instance_id=row.instance_id, task_id=row.id,
           text=f"{actor.name} 已办理完委派的“{row.title}”，请您继续办理")
    session.flush()
    return row


def return_task(session: Session, *, task_id: str, actor: Actor, to_element: str, opinion: str | None = None) -> Instance:
    """Send the case back to an earlier user task (退回); it reopens for whoever did it."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    earlier = [tid for tid, el in loaded.runner.completed_user_tasks() if el == to_element]
    if not earlier:
        done = sorted({el for _, el in loaded.runner.completed_user_tasks()})
        raise EngineError(f"不能退回到“{to_element}”：该步骤尚未办理过" + (f"，可退回的步骤：{'、'.join(done)}" if done else ""),
                          message_en=f"cannot return to '{to_element}': it has not been done; possible: {done}")
    if not opinion or not opinion.strip():
        raise EngineError("退回必须填写意见", message_en="a return needs an opinion")
    target = earlier[-1]
    if not loaded.runner.reset_to(target):
        raise Conflict(f"“{to_element}”办理得太早，已超出可退回的范围", message_en=f"'{to_element}' is too far back to return to")
    audit.record(session, instance=loaded.instance, kind=EntryKind.RETURNED, actor=actor.username, task_id=row.id,
                 element_id=row.element_id, opinion=opinion, payload={"to_element": to_element, "to_task": target})
    instance = save(session, loaded, actor=actor, error=advance(session, loaded, loaded.runner.run_engine_steps))
    reopened = session.get(HumanTask, target)
    if reopened is not None and reopened.assignee_id:
        notify(session, user_ids=[reopened.assignee_id], kind=NotificationKind.TASK, instance_id=instance.id,
               task_id=target, text=f"{actor.name} 将“{instance.title}”退回到“{reopened.title}”：{opinion}")
    return instance


_UNTOUCHING = {EntryKind.CC, EntryKind.URGED}


def withdraw_task(session: Session, *, task_id: str, actor: Actor, opinion: str | None = None) -> Instance:
    """Pull back a task one completed, while the next step is still untouched (撤回)."""
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    loaded = load(session, instance_id=row.instance_id)
    session.refresh(row)
    if row.status != TaskStatus.COMPLETED or row.completed_by_id != actor.id:
        raise NotAllowed("只能撤回自己办理完成的任务", message_en="you can only withdraw a task you completed")
    if loaded.instance.status != InstanceStatus.RUNNING:
        raise TaskNotOpen("案件已结束，不能撤回", message_en="the case is no longer running")
    entries = session.scalars(select(AuditEntry).where(AuditEntry.instance_id == row.instance_id)
                              .order_by(AuditEntry.seq.desc())).all()
    for entry in entries:
        if entry.kind == EntryKind.COMPLETED and entry.task_id == task_id:
            break
        if entry.kind not in _UNTOUCHING:
            raise Conflict("下一步已有人处理，不能撤回", message_en="the next step has been touched; withdraw is no longer possible")
    if not loaded.runner.task_exists(task_id, ready=False):
        raise Conflict("流程中已找不到该任务，不能撤回", message_en="the task is gone from the workflow")
    nxt = session.scalars(select(HumanTask).where(HumanTask.instance_id == row.instance_id,
                                                  HumanTask.status == TaskStatus.OPEN)).all()
    if any(t.draft for t in nxt):
        raise Conflict("下一步已保存草稿，不能撤回", message_en="the next step has a draft; withdraw is no longer possible")
    if not loaded.runner.reset_to(task_id):
        raise Conflict("流程中已找不到该任务，不能撤回", message_en="the task is gone from the workflow")
    audit.record(session, instance=loaded.instance, kind=EntryKind.WITHDRAWN, actor=actor.username,
                 task_id=task_id, element_id=row.element_id, opinion=opinion)
    return save(session, loaded, actor=actor, error=advance(session, loaded, loaded.runner.run_engine_steps))


def cc_case(session: Session, *, instance_id: int, actor: Actor, to: list[str], task_id: str | None = None,
            opinion: str | None = None) -> list[str]:
    """Send a read-only notice of a case, once per person (抄送); return who was newly copied."""
    instance = load(session, instance_id=instance_id).instance
    if not can_see(session, instance=instance, actor=actor):
        raise NotFound(f"案件 {instance_id} 不存在", message_en=f"instance {instance_id} not found")
    if not to:
        raise EngineError("请选择抄送对象", message_en="choose at least one recipient")
    users = [_user(session, name) for name in dict.fromkeys(to)]
    already = set(session.scalars(select(CarbonCopy.user_id).where(CarbonCopy.instance_id == instance_id)))
    fresh = [u for u in users if u.id not in already]
    now = clock.now()
    for u in fresh:
        session.add(CarbonCopy(instance_id=instance_id, user_id=u.id, task_id=task_id, sent_by_id=actor.id or None, sent_at=now))
    if fresh:
        audit.record(session, instance=instance, kind=EntryKind.CC, actor=actor.username, task_id=task_id,
                     opinion=opinion, payload={"to": [u.username for u in fresh]})
        notify(session, user_ids=[u.id for u in fresh], kind=NotificationKind.CC, instance_id=instance_id,
               text=f"{actor.name} 抄送给您：{instance.title}" + (f"（{opinion}）" if opinion else ""))
    session.flush()
    return [u.username for u in fresh]


def urge_task(session: Session, *, task_id: str, actor: Actor, opinion: str | None = None) -> int:
    """Remind the current handler (催办); return how many people were reminded."""
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    instance = load(session, instance_id=row.instance_id).instance
    session.refresh(row)
    if row.status != TaskStatus.OPEN:
        raise TaskNotOpen("任务已办理，无需催办", message_en="the task is not open")
    if actor is not SYSTEM and not _may_urge(session, instance, actor):
        raise NotAllowed("只有发起人、领导、督查员或调度员可以催办", message_en="you may not urge this task")
    recent = session.scalar(select(AuditEntry.at).where(
        AuditEntry.instance_id == row.instance_id, AuditEntry.kind == EntryKind.URGED,
        AuditEntry.task_id == task_id, AuditEntry.actor == actor.username).order_by(AuditEntry.seq.desc()).limit(1))
    if recent is not None and clock.now() - recent < URGE_INTERVAL:
        raise Conflict("您刚刚已催办过该任务，请稍后再试", message_en="you urged this task a moment ago")
    if row.assignee_id:
        targets = [row.assignee_id]
    else:
        org_path = row.candidate_org.path if row.candidate_org else "/"
        targets = [u.id for u in users_with_role(session, role=row.candidate_role or "", org_path=org_path)]
    audit.record(session, instance=instance, kind=EntryKind.URGED, actor=actor.username, task_id=task_id,
                 element_id=row.element_id, opinion=opinion, payload={"to": targets})
    notify(session, user_ids=targets, kind=NotificationKind.URGE, instance_id=instance.id, task_id=task_id,
           text=f"催办：请尽快办理“{row.title}”（{instance.title}）" + (f"——{opinion}" if opinion else ""))
    session.flush()
    return len(targets)


def _may_urge(session: Session, instance: Instance, actor: Actor) -> bool:
    org_path = instance.org.path
    return (instance.started_by_id == actor.id
            or any(actor.has_role(r, org_path) for r in ("leader", "inspector", "dispatcher"))
            or actor.is_admin)


__all__ = ["claim_task", "release_task", "transfer_task", "delegate_task", "resolve_task", "return_task",
           "withdraw_task", "cc_case", "urge_task", "may_act"]
