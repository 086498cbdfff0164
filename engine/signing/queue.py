"""Passing a task along its signer queue; imported by the runtime, so it never imports the runtime."""
from __future__ import annotations

from sqlalchemy.orm import Session

from .. import clock
from ..org.orgs import Actor
from ..runtime.notifications import NotificationKind, notify
from ..store import audit
from ..store.audit import EntryKind
from ..store.models import HumanTask, Instance
from .models import Position, TaskSigner, pending

HELD = "_held_for_signing"
SUBMITTED_FOR_SIGNING = EntryKind.SUBMITTED_FOR_SIGNING


def current_signer(session: Session, row: HumanTask) -> TaskSigner | None:
    """The signer holding the task now, if it is out with a signer rather than its holder."""
    if row.owner_id is None or row.assignee_id is None:
        return None
    queue = pending(session, row.id, Position.AFTER if is_held(row) else Position.BEFORE)
    return queue[0] if queue and queue[0].user_id == row.assignee_id else None


def is_held(row: HumanTask) -> bool:
    """Tell whether the holder has submitted and the submission waits for after-signers."""
    return bool((row.draft or {}).get(HELD))


def hand_to(session: Session, row: HumanTask, signer: TaskSigner, *, holder_id: int, instance: Instance,
            actor: Actor, why: str) -> None:
    """Give the task to ``signer`` to sign, the holder staying its owner, and tell them."""
    row.owner_id, row.assignee_id = holder_id, signer.user_id
    notify(session, user_ids=[signer.user_id], kind=NotificationKind.TASK, instance_id=row.instance_id, task_id=row.id,
           text=f"{actor.name} 请您会签“{row.title}”（{instance.title}）：{why}")


def hold_for_signers(session: Session, *, row: HumanTask, instance: Instance, data: dict, actor: Actor,
                     opinion: str | None) -> Instance:
    """Keep the holder's checked submission and pass the task to the first after-signer (后加签)."""
    queue = pending(session, row.id, Position.AFTER)
    row.draft = dict(data) | {"_opinion": opinion or "", HELD: True}
    audit.record(session, instance=instance, kind=SUBMITTED_FOR_SIGNING, actor=actor.username, task_id=row.id,
                 element_id=row.element_id, opinion=opinion,
                 payload={"data": data, "signers": [s.user.username for s in queue]})
    hand_to(session, row, queue[0], holder_id=actor.id, instance=instance, actor=actor,
            why="已提交，待您签署后流转")
    instance.updated_at = clock.now()
    session.flush()
    return instance
