"""Messages from outside (a court's confirmation, a hotline's update) delivered to waiting cases."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..definitions.deployment import latest_definitions
from ..definitions.form_contract import accept_payload, message_contract
from ..errors import FormInvalid, MessageNotDelivered
from ..org.orgs import Actor, get_org
from ..store import audit
from ..store.audit import EntryKind
from ..store.models import EventWait, Instance, InstanceStatus, Org, PendingMessage
from .lifecycle import Loaded, advance, load, save, start_instance
from .sync import correlation_matches


@dataclass(frozen=True)
class Delivery:
    """Where a message went: the cases it advanced, the cases it started, or the row keeping it."""

    instance_ids: list[int]
    started: list[int]
    kept_id: int | None


def send_message(session: Session, *, name: str, correlation: dict | None = None, payload: dict | None = None,
                 actor: Actor, org_code: str | None = None) -> Delivery:
    """Deliver a message to every case waiting for it with matching correlation keys.

    Each case takes it at one wait, checked again under the case's lock, so a copy of a message
    that was already caught finds nothing left to advance. With no receiver, a process whose
    start event catches the message is started (in ``org_code``, else the actor's org, else the
    top of the org tree); otherwise the message is kept when some process declares
    ``messages: {name: {unmatched: keep}}``, and refused (MessageNotDelivered, nothing stored)
    when none does: it is never silently dropped.
    """
    correlation, payload = dict(correlation or {}), dict(payload or {})
    waits = session.execute(
        select(EventWait.instance_id, EventWait.correlation).join(Instance, Instance.id == EventWait.instance_id)
        .where(EventWait.kind == "message", EventWait.name == name, Instance.status == InstanceStatus.RUNNING)
        .order_by(EventWait.instance_id, EventWait.id)).all()
    targets = list(dict.fromkeys(i for i, expected in waits if correlation_matches(expected, correlation)))
    delivered = [i for i in targets if _deliver(session, instance_id=i, name=name, correlation=correlation,
                                               payload=payload, actor=actor)]
    if delivered:
        return Delivery(delivered, [], None)
    starters = [d for d in latest_definitions(session) if name in (d.spec.get("meta") or {}).get("start_messages", [])]
    if starters:
        org = _start_org(session, actor=actor, org_code=org_code)
        started = []
        for definition in starters:
            instance = start_instance(session, process_key=definition.key, data=payload, actor=actor,
                                      org_code=org.code, message=name)
            _deliver(session, instance_id=instance.id, name=name, correlation=correlation, payload=payload,
                     actor=actor, check_correlation=False)
            started.append(instance.id)
        return Delivery([], started, None)
    keepers = _keepers(session, name)
    if keepers:
        # Kept only if some process that keeps it would take this payload.
        _check_payload(session, definitions=keepers, name=name, payload=payload)
        kept = PendingMessage(name=name, correlation=correlation, payload=payload, received_at=clock.now())
        session.add(kept)
        session.flush()
        return Delivery([], [], kept.id)
    raise MessageNotDelivered(f"没有案件在等待消息“{name}”（关联键 {correlation}），该消息未被接收",
                              message_en=f"no case waits for message '{name}' with correlation {correlation}")


def _deliver(session: Session, *, instance_id: int, name: str, correlation: dict, payload: dict, actor: Actor,
             check_correlation: bool = True) -> bool:
    """Hand the message to one wait of one case, under its lock; False if nothing waits for it now."""
    loaded: Loaded = load(session, instance_id=instance_id)
    if loaded.instance.status != InstanceStatus.RUNNING:
        return False
    waits = session.scalars(select(EventWait).where(
        EventWait.instance_id == instance_id, EventWait.kind == "message", EventWait.name == name)
        .order_by(EventWait.id).execution_options(populate_existing=True)).all()
    for wait in waits:
        if check_correlation and not correlation_matches(wait.correlation, correlation):
            continue
        payload = accept_payload(message_contract(session, definition=loaded.definition, name=name,
                                                  org_path=loaded.instance.org.path), payload)
        if loaded.runner.catch_message(name, payload, correlation, task_ids=[wait.task_id]):
            audit.record(session, instance=loaded.instance, kind=EntryKind.MESSAGE, actor=actor.username,
                         element_id=wait.element_id,
                         payload={"name": name, "correlation": correlation, "payload": payload})
            save(session, loaded, actor=actor, error=advance(session, loaded, loaded.runner.run_engine_steps))
            return True
    return False


def _start_org(session: Session, *, actor: Actor, org_code: str | None) -> Org:
    if org_code:
        return get_org(session, code=org_code)
    if actor.org_id:
        return session.get(Org, actor.org_id)
    return session.scalars(select(Org).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1)).one()


def _keepers(session: Session, name: str) -> list:
    return [d for d in latest_definitions(session)
            if (((d.config or {}).get("messages") or {}).get(name) or {}).get("unmatched") == "keep"]


def _check_payload(session: Session, *, definitions: list, name: str, payload: dict) -> None:
    """Refuse a payload that no process keeping the message declares (FormInvalid from the last one)."""
    for index, definition in enumerate(definitions):
        try:
            message_contract(session, definition=definition, name=name).accept(payload)
            return
        except FormInvalid:
            if index == len(definitions) - 1:
                raise


def pending_messages(session: Session, *, name: str | None = None) -> list[PendingMessage]:
    """Return the kept messages no case has taken yet, oldest first."""
    query = select(PendingMessage).where(PendingMessage.consumed_at.is_(None))
    if name:
        query = query.where(PendingMessage.name == name)
    return list(session.scalars(query.order_by(PendingMessage.id)))


__all__ = ["Delivery", "send_message", "pending_messages"]
