"""Bulk 催办 from the ledger: each chosen item's open steps are urged through ``engine.runtime.tasks.urge_task``.

One refusal (urged a moment ago, not the actor's to urge, nobody to remind) is reported for that
item and the rest of the batch goes on: each item runs in a savepoint of its own, so a refusal
leaves nothing half-done behind it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..errors import EngineError
from ..org.orgs import Actor
from ..runtime.tasks import urge_task
from .ledger import ledger_item


@dataclass(frozen=True)
class UrgeResult:
    instance_id: int
    business_key: str
    reminded: int              # people reminded over all the item's open steps
    message: str               # what happened, in Chinese
    message_en: str
    ok: bool


def urge_items(session: Session, *, instance_ids: list[int], actor: Actor, opinion: str | None = None) -> list[UrgeResult]:
    """Urge the open steps of each supervision item (催办); return one result per item, refusals included."""
    results = []
    for instance_id in dict.fromkeys(instance_ids):
        item = ledger_item(session, actor=actor, instance_id=instance_id)
        if item is None:
            results.append(UrgeResult(instance_id, "", 0, f"督办事项 {instance_id} 不存在",
                                      f"supervision item {instance_id} not found", False))
            continue
        if not item.steps:
            results.append(UrgeResult(instance_id, item.business_key, 0, "该事项当前没有待办环节，无需催办",
                                      "the item has no open step to urge", False))
            continue
        reminded, refusals = 0, []
        for step in item.steps:
            savepoint = session.begin_nested()
            try:
                reminded += urge_task(session, task_id=step.task_id, actor=actor, opinion=opinion)
                savepoint.commit()
            except EngineError as exc:
                savepoint.rollback()
                refusals.append((step.title, exc))
        if reminded:
            results.append(UrgeResult(instance_id, item.business_key, reminded, f"已催办 {reminded} 人",
                                      f"{reminded} reminded", True))
        else:
            title, exc = refusals[0]
            results.append(UrgeResult(instance_id, item.business_key, 0, f"{title}：{exc.message}",
                                      f"{title}: {exc.message_en or exc.message}", False))
    session.flush()
    return results


__all__ = ["UrgeResult", "urge_items"]
