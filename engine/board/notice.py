"""Printed supervision documents: the 督办单 of one item and the 督办通报 of a period, grouped by unit.

Both read the same ledger rows the page shows (``ledger``), so a printed count never differs from
the list a leader clicks through.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..cases.summaries import visible_instance
from ..errors import NotFound
from ..org.orgs import Actor
from .ledger import Card, ItemStatus, LedgerFilter, LedgerItem, ledger, ledger_item

# A 通报 covers every item of its period; more than this many is not a document one prints.
NOTICE_LIMIT = 5000


@dataclass(frozen=True)
class SupervisionSheet:
    """What a 督办单 prints: the ledger row and the item's own words."""
    item: LedgerItem
    content: str
    requirements: str
    time_limit_workdays: int | None
    leader_opinion: str


@dataclass
class UnitSection:
    """One lead unit's part of a 通报."""
    unit_name: str
    items: list[LedgerItem] = field(default_factory=list)

    @property
    def on_time(self) -> list[LedgerItem]:
        return [i for i in self.items if i.status == ItemStatus.CLOSED and i.on_time]

    @property
    def overdue(self) -> list[LedgerItem]:
        """Items closed late, or still open past their deadline."""
        return [i for i in self.items if (i.status == ItemStatus.CLOSED and i.on_time is False)
                or (i.status == ItemStatus.IN_PROGRESS and i.overdue)]

    @property
    def red_cards(self) -> list[LedgerItem]:
        return [i for i in self.items if i.card == Card.RED]

    @property
    def in_progress(self) -> list[LedgerItem]:
        return [i for i in self.items if i.status == ItemStatus.IN_PROGRESS and not i.overdue]


def supervision_sheet(session: Session, *, actor: Actor, instance_id: int) -> SupervisionSheet:
    """Return the 督办单 of one supervision item the actor may see; NotFound for any other case."""
    instance = visible_instance(session, instance_id=instance_id, actor=actor)
    item = ledger_item(session, actor=actor, instance_id=instance_id)
    if item is None:
        raise NotFound(f"督办事项 {instance_id} 不存在", message_en=f"supervision item {instance_id} not found")
    data = instance.data or {}
    limit = data.get("time_limit_workdays")
    return SupervisionSheet(item=item, content=str(data.get("content") or ""),
                            requirements=str(data.get("requirements") or ""),
                            time_limit_workdays=limit if isinstance(limit, int) else None,
                            leader_opinion=str(data.get("leader_opinion") or ""))


def supervision_notice(session: Session, *, actor: Actor, created_from: datetime | None,
                       created_to: datetime | None) -> list[UnitSection]:
    """Return a period's items (by date created) in the actor's scope, grouped by lead unit in name order."""
    items, _ = ledger(session, actor=actor, flt=LedgerFilter(created_from=created_from, created_to=created_to,
                                                              sort="business_key", limit=NOTICE_LIMIT))
    sections: dict[str, UnitSection] = {}
    for item in items:
        if item.status in (ItemStatus.PENDING, ItemStatus.NOT_APPROVED, ItemStatus.CANCELLED):
            continue  # never issued to a unit: nothing to report on
        name = item.lead_unit_name or "（未指定单位）"
        sections.setdefault(name, UnitSection(name)).items.append(item)
    return [sections[name] for name in sorted(sections)]


__all__ = ["SupervisionSheet", "UnitSection", "supervision_sheet", "supervision_notice", "NOTICE_LIMIT"]
