"""What staff do to tasks besides completing them: claim, transfer, delegate, return, withdraw, CC, urge.

Each operation runs under the case's lock, leaves one typed audit entry carrying the actor's
opinion, and refuses with an EngineError subclass (NotFound, NotAllowed, Conflict, TaskNotOpen,
FormInvalid) before it changes anything.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import clock
from ..errors import Conflict, FormInvalid, NotAllowed, NotFound, Problem, TaskNotOpen
from ..org.orgs import SYSTEM, Actor, actor_by_id, users_with_role
from ..org.visibility import can_see
from ..store import audit
from ..store.audit import EntryKind
from ..store.models import AuditEntry, CarbonCopy, HumanTask, Instance, InstanceStatus, Notification, TaskStatus, User
from .lifecycle import _remember_actor, advance, give_back, load, lock_instance, may_act, open_task_for_update, save
from .notifications import NotificationKind, notify

# One reminder per task in this window, whoever sends it: a handler is not to be flooded.
URGE_INTERVAL = timedelta(minutes=10)
# Audit kinds the history labels already know that EntryKind does not name yet.
RELEASED = "released"


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(f"用户 '{username}' 不存在或已停用", message_en=f"user '{username}' not found or inactive")
    return user


def _pool_path(row: HumanTask) -> str:
    return row.candidate_org.path if row.candidate_org else "/"


def _not_delegated(row: HumanTask, what_zh: str, what_en: str) -> None:
    if row.owner_id is not None:
        raise Conflict(f"委派中的任务不能{what_zh}，请先由被委派人办理完毕交回",
                       message_en=f"a delegated task cannot be {what_en} until the delegate resolves it")


def claim_task(session: Session, *, task_id: str, actor: Actor, opinion: str | None = None) -> HumanTask:
    """Take a task offered to a role pool (签收)."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.assignee_id == actor.id:
        raise Conflict("您已签收该任务", message_en="you have already claimed this task")
    row.assignee_id = actor.id
    _remember_actor(session, row.instance_id, actor.id)
    audit.record(session, instance=loaded.instance, kind=EntryKind.CLAIMED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id, opinion=opinion)
    give_back(session, loaded)  # the workflow did not move
    return row


def release_task(session: Session, *, task_id: str, actor: Actor, opinion: str | None = None) -> HumanTask:
    """Give a claimed task back to its role pool."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    _not_delegated(row, "退回任务池", "released")
    if row.assignee_id is None:
        raise Conflict("该任务尚未签收，无需退回任务池", message_en="the task is not claimed")
    if not row.candidate_role:
        raise Conflict("该任务没有候选角色，不能退回任务池", message_en="the task has no role pool to go back to")
    row.assignee_id = None
    audit.record(session, instance=loaded.instance, kind=RELEASED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id, opinion=opinion)
    give_back(session, loaded)  # the workflow did not move
    return row


def transfer_task(session: Session, *, task_id: str, actor: Actor, to: str, opinion: str | None = None) -> HumanTask:
    """Hand a task to another person in its pool, who then completes it (转办)."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    _not_delegated(row, "转办", "transferred")
    target = actor_by_id(session, user_id=_user(session, to).id)
    if target.id == actor.id:
        raise NotAllowed("不能转办给自己", message_en="you cannot transfer a task to yourself")
    if not row.candidate_role or not target.has_role(row.candidate_role, _pool_path(row)):
        raise NotAllowed(f"{target.name} 不具备该任务所需的角色和组织范围，不能转办给他/她",
                         message_en=f"{to} does not hold the task's role in its org")
    row.assignee_id = target.id
    _remember_actor(session, row.instance_id, actor.id)
    _remember_actor(session, row.instance_id, target.id)
    audit.record(session, instance=loaded.instance, kind=EntryKind.TRANSFERRED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id, opinion=opinion, payload={"to": to})
    notify(session, user_ids=[target.id], kind=NotificationKind.TASK, instance_id=row.instance_id, task_id=row.id,
           text=f"{actor.name} 将任务“{row.title}”转办给您（{loaded.instance.title}）" + _said(opinion))
    give_back(session, loaded)  # the workflow did not move
    return row


def delegate_task(session: Session, *, task_id: str, actor: Actor, to: str, opinion: str | None = None) -> HumanTask:
    """Lend a task to someone; it comes back to the owner to finish (委派)."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.owner_id is not None:
        raise Conflict("任务已在委派中", message_en="the task is already delegated")
    target = _user(session, to)
    if target.id == actor.id:
        raise NotAllowed("不能委派给自己", message_en="you cannot delegate a task to yourself")
    row.owner_id, row.assignee_id = actor.id, target.id
    _remember_actor(session, row.instance_id, actor.id)
    _remember_actor(session, row.instance_id, target.id)
    audit.record(session, instance=loaded.instance, kind=EntryKind.DELEGATED, actor=actor.username,
                 task_id=row.id, element_id=row.element_id, opinion=opinion, payload={"to": to})
    notify(session, user_ids=[target.id], kind=NotificationKind.DELEGATED, instance_id=row.instance_id, task_id=row.id,
           text=f"{actor.name} 委派您协助办理“{row.title}”（{loaded.instance.title}）" + _said(opinion))
    give_back(session, loaded)  # the workflow did not move
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
           text=f"{actor.name} 已办理完委派的“{row.title}”，请您继续办理" + _said(opinion))
    give_back(session, loaded)  # the workflow did not move
    return row


def return_task(session: Session, *, task_id: str, actor: Actor, to_element: str, opinion: str | None = None) -> Instance:
    """Send the case back to an earlier user task (退回); it reopens for whoever did it.

    The current task (and every parallel one after the target) is cancelled. Only a step this
    task came through can be chosen, and an opinion saying why is required.
    """
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.owner_id is not None:
        raise NotAllowed("委派的任务不能退回，请办理完毕交回委派人", message_en="a delegate cannot return the task")
    if not opinion or not opinion.strip():
        raise FormInvalid("退回必须填写意见", message_en="a return needs an opinion",
                          details=[Problem("请填写退回意见", "Give the reason for the return", field="opinion")])
    user_tasks = (loaded.definition.spec.get("meta") or {}).get("user_tasks") or {}
    if to_element not in user_tasks:
        raise NotFound(f"流程中没有步骤“{to_element}”", message_en=f"the process has no user task '{to_element}'")
    name = user_tasks[to_element].get("name") or to_element
    if to_element == row.element_id:
        raise Conflict("不能退回到当前步骤", message_en="cannot return to the current step")
    earlier = loaded.runner.earlier_steps(task_id)
    target = next((tid for tid, element in earlier if element == to_element), None)
    if target is None:
        possible = list(dict.fromkeys(user_tasks.get(el, {}).get("name") or el for _, el in earlier))
        hint = f"，可退回的步骤：{'、'.join(possible)}" if possible else ""
        if any(el == to_element for _, el in loaded.runner.completed_user_tasks()):
            raise Conflict(f"不能退回到“{name}”：该步骤不在本任务的来路上（如另一并行分支）" + hint,
                           message_en=f"cannot return to '{to_element}': this task did not come through it")
        raise Conflict(f"不能退回到“{name}”：本案尚未经过该步骤" + hint,
                       message_en=f"cannot return to '{to_element}': the case has not been through it")
    # Under the calendar: the reset re-arms boundary timers such as workdays(1).
    if not advance(session, loaded, lambda: loaded.runner.reset_to(target)):
        raise Conflict(f"“{name}”办理得太早，已超出可退回的范围", message_en=f"'{to_element}' is too far back to return to")
    _remember_actor(session, row.instance_id, actor.id)
    audit.record(session, instance=loaded.instance, kind=EntryKind.RETURNED, actor=actor.username, task_id=row.id,
                 element_id=row.element_id, opinion=opinion, payload={"to_element": to_element, "to_task": target})
    before = session.scalar(select(func.max(Notification.id))) or 0
    instance = save(session, loaded, actor=actor, error=advance(session, loaded, loaded.runner.run_engine_steps))
    reopened = session.get(HumanTask, target)
    if reopened is not None and reopened.assignee_id:
        # Reopening told them of a "new task"; say instead who sent it back, and why.
        note = session.scalars(select(Notification).where(
            Notification.id > before, Notification.task_id == target,
            Notification.user_id == reopened.assignee_id)).first()
        if note is None:
            note = Notification(user_id=reopened.assignee_id, instance_id=instance.id, task_id=target,
                                created_at=clock.now())
            session.add(note)
        note.kind = NotificationKind.RETURNED
        note.text = f"{actor.name} 将“{instance.title}”退回到“{reopened.title}”：{opinion}"[:500]
        session.flush()
    return instance


# History entries that leave the next step untouched: telling people about the case.
_UNTOUCHING = (EntryKind.CC, EntryKind.URGED)


def withdraw_task(session: Session, *, task_id: str, actor: Actor, opinion: str | None = None) -> Instance:
    """Pull back a task one completed, while the next step is still untouched (撤回).

    Touched means anything happened after the completion besides CCs and urges: the next
    handler claimed, transferred, delegated or completed a task, a timer or message moved the
    case on; or a draft was saved on an open task.
    """
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    loaded = load(session, instance_id=row.instance_id)
    session.refresh(row)
    if row.status != TaskStatus.COMPLETED or row.completed_by_id != actor.id:
        raise NotAllowed("只能撤回自己办理完成的任务", message_en="you can only withdraw a task you completed")
    if loaded.instance.status != InstanceStatus.RUNNING:
        raise TaskNotOpen("案件已结束，不能撤回", message_en="the case is no longer running")
    if not loaded.runner.task_exists(task_id, ready=False):
        raise Conflict("流程中已找不到该任务，不能撤回", message_en="the task is gone from the workflow")
    if loaded.runner.is_loop_instance(task_id):
        raise Conflict("会签中的单份任务不能撤回", message_en="one instance of a multi-instance task cannot be withdrawn")
    completed_at = session.scalar(select(func.max(AuditEntry.seq)).where(
        AuditEntry.instance_id == row.instance_id, AuditEntry.kind == EntryKind.COMPLETED, AuditEntry.task_id == task_id))
    touched = session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.instance_id == row.instance_id, AuditEntry.seq > (completed_at or 0),
        AuditEntry.kind.not_in(_UNTOUCHING)))
    if completed_at is None or touched:
        raise Conflict("下一步已有人处理，不能撤回", message_en="the next step has been touched; withdraw is no longer possible")
    drafts = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id == row.instance_id, HumanTask.status == TaskStatus.OPEN, HumanTask.draft.is_not(None)))
    if drafts:
        raise Conflict("下一步已保存草稿，不能撤回", message_en="the next step has a draft; withdraw is no longer possible")
    # Under the calendar: the reset re-arms boundary timers such as workdays(1).
    if not advance(session, loaded, lambda: loaded.runner.reset_to(task_id)):
        raise Conflict("流程中已找不到该任务，不能撤回", message_en="the task is gone from the workflow")
    audit.record(session, instance=loaded.instance, kind=EntryKind.WITHDRAWN, actor=actor.username,
                 task_id=task_id, element_id=row.element_id, opinion=opinion)
    return save(session, loaded, actor=actor, error=advance(session, loaded, loaded.runner.run_engine_steps))


def cc_case(session: Session, *, instance_id: int, actor: Actor, to: list[str], task_id: str | None = None,
            opinion: str | None = None) -> list[str]:
    """Send a read-only notice of a case, once per person (抄送); return who was newly copied."""
    instance = lock_instance(session, instance_id=instance_id)
    if not can_see(session, instance=instance, actor=actor):
        raise NotFound(f"案件 {instance_id} 不存在", message_en=f"instance {instance_id} not found")
    if not to:
        raise FormInvalid("请选择抄送对象", message_en="choose at least one recipient",
                          details=[Problem("请选择抄送对象", "Choose at least one recipient", field="to")])
    if task_id is not None:
        task = session.get(HumanTask, task_id)
        if task is None or task.instance_id != instance_id:
            raise NotFound(f"任务 {task_id} 不属于该案件", message_en=f"task {task_id} is not part of this case")
    users = [_user(session, name) for name in dict.fromkeys(to)]
    already = set(session.scalars(select(CarbonCopy.user_id).where(CarbonCopy.instance_id == instance_id)))
    fresh = [u for u in users if u.id not in already]
    if not fresh:
        raise Conflict(f"已抄送给{'、'.join(u.name for u in users)}，每人只抄送一次",
                       message_en="every recipient has been copied already")
    now = clock.now()
    for u in fresh:
        session.add(CarbonCopy(instance_id=instance_id, user_id=u.id, task_id=task_id, sent_by_id=actor.id or None, sent_at=now))
    audit.record(session, instance=instance, kind=EntryKind.CC, actor=actor.username, task_id=task_id,
                 opinion=opinion, payload={"to": [u.username for u in fresh]})
    notify(session, user_ids=[u.id for u in fresh], kind=NotificationKind.CC, instance_id=instance_id,
           text=f"{actor.name} 抄送给您：{instance.title}" + _said(opinion))
    session.flush()
    return [u.username for u in fresh]


def urge_task(session: Session, *, task_id: str, actor: Actor, opinion: str | None = None) -> int:
    """Remind the current handler, or the whole pool if nobody claimed it (催办); return how many."""
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    instance = lock_instance(session, instance_id=row.instance_id)
    session.refresh(row)
    if row.status != TaskStatus.OPEN:
        raise TaskNotOpen("任务已办理，无需催办", message_en="the task is not open")
    if actor is not SYSTEM and row.owner_id != actor.id and not _may_urge(instance, actor):
        raise NotAllowed("只有发起人、委派人、领导、督查员或调度员可以催办", message_en="you may not urge this task")
    recent = session.scalar(select(AuditEntry.at).where(
        AuditEntry.instance_id == row.instance_id, AuditEntry.kind == EntryKind.URGED,
        AuditEntry.task_id == task_id).order_by(AuditEntry.seq.desc()).limit(1))
    if recent is not None and clock.now() - recent < URGE_INTERVAL:
        minutes = int(URGE_INTERVAL.total_seconds() // 60)
        raise Conflict(f"该任务 {minutes} 分钟内已催办过，请稍后再试", message_en="this task was urged a moment ago")
    if row.assignee_id:
        targets = [row.assignee_id]
    else:
        targets = [u.id for u in users_with_role(session, role=row.candidate_role or "", org_path=_pool_path(row))]
    if not targets:
        raise Conflict("该任务当前没有可催办的办理人", message_en="nobody holds this task to be reminded")
    audit.record(session, instance=instance, kind=EntryKind.URGED, actor=actor.username, task_id=task_id,
                 element_id=row.element_id, opinion=opinion, payload={"to": targets})
    notify(session, user_ids=targets, kind=NotificationKind.URGE, instance_id=instance.id, task_id=task_id,
           text=f"催办：请尽快办理“{row.title}”（{instance.title}）" + (f"——{opinion}" if opinion else ""))
    session.flush()
    return len(targets)


def _may_urge(instance: Instance, actor: Actor) -> bool:
    org_path = instance.org.path
    return (instance.started_by_id == actor.id
            or any(actor.has_role(r, org_path) for r in ("leader", "inspector", "dispatcher"))
            or actor.is_admin)


def _said(opinion: str | None) -> str:
    return f"：{opinion}" if opinion else ""


__all__ = ["claim_task", "release_task", "transfer_task", "delegate_task", "resolve_task", "return_task",
           "withdraw_task", "cc_case", "urge_task", "may_act", "URGE_INTERVAL"]
