"""Messages from outside (a court's confirmation, a hotline's update) delivered to waiting cases."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, clock
from .audit import EntryKind
from .definitions import latest_definitions
from .errors import MessageNotDelivered
from .models import EventWait, Instance, InstanceStatus, PendingMessage
from .orgs import Actor
from .runtime import advance, load, save, start_instance
from .sync import correlation_matches


@dataclass(frozen=True)
class Delivery:
    instance_ids: list[int]
    started: list[int]
    kept_id: int | None


def send_message(session: Session, *, name: str, correlation: dict | None = None, payload: dict | None = None,
                 actor: Actor) -> Delivery:
    """Deliver a message to every case waiting for it with matching correlation keys.

    With no receiver, a process with a matching message start event is started; otherwise the
    message is kept when some process declares ``messages: {name: {unmatched: keep}}``, and refused
    (MessageNotDelivered) when none does: it is never silently dropped.
    """
    correlation, payload = dict(correlation or {}), dict(payload or {})
    waits = session.scalars(
        select(EventWait).join(Instance, Instance.id == EventWait.instance_id)
        .where(EventWait.kind == "message", EventWait.name == name, Instance.status == InstanceStatus.RUNNING)
        .order_by(EventWait.instance_id)).all()
    targets = sorted({w.instance_id for w in waits if correlation_matches(w.correlation, correlation)})
    delivered = []
    for instance_id in targets:
        loaded = load(session, instance_id=instance_id)
        # Re-check under the lock: another delivery may have advanced the case meanwhile.
        caught = loaded.runner.catch_message(name, payload, {})
        if not caught:
            continue
        audit.record(session, instance=loaded.instance, kind=EntryKind.MESSAGE, actor=actor.username,
                     payload={"name": name, "correlation": correlation, "payload": payload})
        error = advance(session, loaded, loaded.runner.run_engine_steps)
        save(session, loaded, actor=actor, error=error)
        delivered.append(instance_id)
    if delivered:
        return Delivery(delivered, [], None)
    started = [d for d in latest_definitions(session) if name in (d.spec.get("meta") or {}).get("start_messages", [])]
    if started:
        ids = []
        for definition in started:
            instance = start_instance(session, process_key=definition.key, data=payload, actor=actor)
            loaded = load(session, instance_id=instance.id)
            if loaded.runner.catch_message(name, payload, {}):
                audit.record(session, instance=loaded.instance, kind=EntryKind.MESSAGE, actor=actor.username,
                             payload={"name": name, "correlation": correlation, "payload": payload})
                save(session, loaded, actor=actor, error=advance(session, loaded, loaded.runner.run_engine_steps))
            ids.append(instance.id)
        return Delivery([], ids, None)
    if _keeps(session, name):
        kept = PendingMessage(name=name, correlation=correlation, payload=payload, received_at=clock.now())
        session.add(kept)
        session.flush()
        return Delivery([], [], kept.id)
    raise MessageNotDelivered(f"没有案件在等待消息“{name}”（关联键 {correlation}），该消息未被接收",
                              message_en=f"no case waits for message '{name}' with correlation {correlation}")


def _keeps(session: Session, name: str) -> bool:
    for definition in latest_definitions(session):
        rule = ((definition.config or {}).get("messages") or {}).get(name) or {}
        if rule.get("unmatched") == "keep":
            return True
    return False
