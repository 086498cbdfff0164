"""加签 and 减签 as task operations: add signers before or after oneself, sign, remove a signer.

- 前加签 (before): the task goes to each added signer in turn; each signs (同意/不同意 with an
  opinion) and it comes back to its holder, who then completes it as usual.
- 后加签 (after): the holder submits the form as usual; the checked submission is held and the task
  goes to each added signer in turn. When the last one agrees, the task completes with the holder's
  submission and the case moves on. A signer who disagrees sends it back to the holder, submission
  kept as a draft, and will sign again after the holder resubmits.
- 减签: the holder (or whoever added the signer, or an administrator) removes a signer who has not
  signed yet; if it was their turn, the task moves on as if they had agreed to step aside.

Like every task operation: under the case's lock, one typed audit entry with the opinion, refused
with a clear message before anything changes.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import clock
from ..errors import Conflict, FormInvalid, NotAllowed, NotFound, Problem
from ..org.orgs import Actor, actor_by_id
from ..runtime.lifecycle import _remember_actor, finish_task, lock_instance, open_task_for_update
from ..runtime.notifications import NotificationKind, notify
from ..store import audit
from ..store.audit import EntryKind
from ..store.models import HumanTask, Instance, TaskStatus, User
from .models import Position, SignerStatus, TaskSigner, pending, signers_of
from .queue import HELD, current_signer, hand_to, is_held

SIGNERS_ADDED, SIGNED, SIGNER_REMOVED = EntryKind.SIGNERS_ADDED, EntryKind.SIGNED, EntryKind.SIGNER_REMOVED
MAX_SIGNERS = 10
OPINION_LIMIT = 2000


def add_signers(session: Session, *, task_id: str, actor: Actor, to: list[str], position: str,
                opinion: str | None = None) -> HumanTask:
    """Add people to sign the task before or after its holder (前加签 / 后加签)."""
    if position not in (Position.BEFORE, Position.AFTER):
        raise FormInvalid("请选择前加签或后加签", message_en="position must be before or after",
                          details=[Problem("请选择前加签或后加签", field="position")])
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    if row.assignee_id != actor.id or row.owner_id is not None:
        raise NotAllowed("只有任务的办理人可以加签；请先签收任务，委派或会签中的任务不能加签",
                         message_en="only the task's holder may add signers (claim it first; not while delegated or out for signing)")
    names = list(dict.fromkeys(u.strip() for u in to if u and u.strip()))
    if not names:
        raise FormInvalid("请选择加签人", message_en="choose at least one signer",
                          details=[Problem("请选择加签人", field="to")])
    existing = pending(session, row.id)
    if len(existing) + len(names) > MAX_SIGNERS:
        raise FormInvalid(f"一个任务最多加签 {MAX_SIGNERS} 人", message_en=f"at most {MAX_SIGNERS} signers per task",
                          details=[Problem(f"一个任务最多加签 {MAX_SIGNERS} 人", field="to")])
    users = []
    for name in names:
        user = session.scalar(select(User).where(User.username == name))
        if user is None or not user.active:
            raise NotFound(f"用户 '{name}' 不存在或已停用", message_en=f"user '{name}' not found or inactive")
        if user.id == actor.id:
            raise NotAllowed("不能给自己加签", message_en="you cannot add yourself as a signer")
        if any(s.user_id == user.id for s in existing):
            raise Conflict(f"{user.name} 已在加签名单中，尚未签署", message_en=f"{name} is already a pending signer")
        users.append(user)
    seq = session.scalar(select(func.coalesce(func.max(TaskSigner.seq), 0)).where(TaskSigner.task_id == row.id))
    now = clock.now()
    added = []
    for n, user in enumerate(users, start=1):
        signer = TaskSigner(task_id=row.id, instance_id=row.instance_id, user_id=user.id, position=position,
                            seq=seq + n, status=SignerStatus.PENDING, added_by_id=actor.id, added_at=now)
        session.add(signer)
        added.append(signer)
        _remember_actor(session, row.instance_id, user.id)
    session.flush()
    audit.record(session, instance=loaded.instance, kind=SIGNERS_ADDED, actor=actor.username, task_id=row.id,
                 element_id=row.element_id, opinion=opinion,
                 payload={"to": names, "position": position, "names": [u.name for u in users]})
    if position == Position.BEFORE:
        first = pending(session, row.id, Position.BEFORE)[0]
        hand_to(session, row, first, holder_id=actor.id, instance=loaded.instance, actor=actor,
                why="请在办理人办理前签署意见" + _said(opinion))
    else:
        notify(session, user_ids=[u.id for u in users], kind=NotificationKind.CC, instance_id=row.instance_id,
               task_id=row.id, text=f"{actor.name} 将您加为“{row.title}”的后加签人，提交后请您签署（{loaded.instance.title}）")
    session.flush()
    return row


def sign_task(session: Session, *, task_id: str, actor: Actor, agree: bool, opinion: str | None = None) -> Instance:
    """Sign a task one was added to (同意 or 不同意, with an opinion), passing it on."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    signer = current_signer(session, row)
    if signer is None or signer.user_id != actor.id:
        raise NotAllowed("现在不是由您签署该任务", message_en="it is not your turn to sign this task")
    opinion = (opinion or "").strip()
    if not agree and not opinion:
        raise FormInvalid("不同意时请填写理由", message_en="say why you disagree",
                          details=[Problem("不同意时请填写理由", field="opinion")])
    if len(opinion) > OPINION_LIMIT:
        raise FormInvalid(f"意见不能超过 {OPINION_LIMIT} 字", message_en="the opinion is too long",
                          details=[Problem(f"意见不能超过 {OPINION_LIMIT} 字", field="opinion")])
    signer.status, signer.decision, signer.opinion, signer.done_at = (
        SignerStatus.SIGNED, "agree" if agree else "disagree", opinion or None, clock.now())
    audit.record(session, instance=loaded.instance, kind=SIGNED, actor=actor.username, task_id=row.id,
                 element_id=row.element_id, opinion=opinion or None,
                 payload={"agree": agree, "position": signer.position})
    holder_id = row.owner_id
    if signer.position == Position.AFTER and not agree:
        # Sent back: the holder's submission becomes their draft again; this signer signs the next one too.
        session.add(TaskSigner(task_id=row.id, instance_id=row.instance_id, user_id=actor.id, position=Position.AFTER,
                               seq=signer.seq, status=SignerStatus.PENDING, added_by_id=signer.added_by_id,
                               added_at=signer.added_at))
        row.draft = {k: v for k, v in (row.draft or {}).items() if k != HELD}
        _back_to_holder(session, row, loaded.instance, actor,
                        f"{actor.name} 不同意“{row.title}”，已退回您修改后重新提交：{opinion}")
        session.flush()
        return loaded.instance
    return _pass_on(session, row=row, loaded=loaded, actor=actor, holder_id=holder_id,
                    why=f"{actor.name} 已{'同意' if agree else '签署不同意意见'}")


def remove_signer(session: Session, *, task_id: str, actor: Actor, signer_id: int, opinion: str | None = None) -> Instance:
    """Remove a signer who has not signed yet (减签)."""
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    lock_instance(session, instance_id=row.instance_id)
    session.refresh(row)
    if row.status != TaskStatus.OPEN:
        raise Conflict("该任务已办理或已撤销，不能减签", message_en="the task is not open")
    signer = session.get(TaskSigner, signer_id)
    if signer is None or signer.task_id != row.id:
        raise NotFound("该任务没有这位加签人", message_en="no such signer on this task")
    if signer.status != SignerStatus.PENDING:
        raise Conflict(f"{signer.user.name} 已签署或已被减签，不能再减签",
                       message_en="the signer has already signed or been removed")
    holder_id = row.owner_id if row.owner_id is not None else row.assignee_id
    if not (actor.is_admin or actor.id in (holder_id, signer.added_by_id)):
        raise NotAllowed("只有任务办理人、加签发起人或管理员可以减签",
                         message_en="only the task's holder, whoever added the signer, or an administrator may remove a signer")
    was_current = current_signer(session, row) is signer
    signer.status, signer.done_at = SignerStatus.REMOVED, clock.now()
    instance = session.get(Instance, row.instance_id)
    audit.record(session, instance=instance, kind=SIGNER_REMOVED, actor=actor.username, task_id=row.id,
                 element_id=row.element_id, opinion=opinion,
                 payload={"signer": signer.user.username, "name": signer.user.name, "position": signer.position})
    notify(session, user_ids=[signer.user_id], kind=NotificationKind.CC, instance_id=row.instance_id, task_id=row.id,
           text=f"{actor.name} 已将您从“{row.title}”的加签人中移除（{instance.title}）" + _said(opinion))
    session.flush()
    if not was_current:
        return instance
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor_by_id(session, user_id=row.assignee_id))
    return _pass_on(session, row=row, loaded=loaded, actor=actor, holder_id=holder_id,
                    why=f"{actor.name} 已减签 {signer.user.name}")


def _pass_on(session: Session, *, row: HumanTask, loaded, actor: Actor, holder_id: int, why: str) -> Instance:
    """After a signer is done (or removed): the next signer, the holder, or — after-signing done — completion."""
    held = is_held(row)
    queue = pending(session, row.id, Position.AFTER if held else Position.BEFORE)
    if queue:
        hand_to(session, row, queue[0], holder_id=holder_id, instance=loaded.instance, actor=actor, why=why)
        session.flush()
        return loaded.instance
    if not held:
        _back_to_holder(session, row, loaded.instance, actor, f"“{row.title}”的前加签已签署完毕，请您继续办理（{why}）")
        session.flush()
        return loaded.instance
    draft = dict(row.draft or {})
    opinion = draft.pop("_opinion", None) or None
    draft.pop(HELD, None)
    row.assignee_id, row.owner_id = holder_id, None
    holder = actor_by_id(session, user_id=holder_id)
    signed = [s.user.username for s in signers_of(session, row.id)
              if s.position == Position.AFTER and s.status == SignerStatus.SIGNED and s.decision == "agree"]
    return finish_task(session, row=row, loaded=loaded, data=draft, actor=holder, opinion=opinion, signed_by=signed)


def _back_to_holder(session: Session, row: HumanTask, instance: Instance, actor: Actor, text: str) -> None:
    holder_id = row.owner_id
    row.assignee_id, row.owner_id = holder_id, None
    notify(session, user_ids=[holder_id], kind=NotificationKind.TASK, instance_id=row.instance_id, task_id=row.id,
           text=text)


def _said(opinion: str | None) -> str:
    return f"：{opinion}" if opinion else ""
