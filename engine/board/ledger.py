"""The supervision ledger (督办台账): every supervision item in the viewer's scope, with its deadline and card.

One function (``ledger``) serves the page, the API and the Excel export, so they can never give
different rows for the same filters. Cards come from the thresholds of processes/supervision.yaml
(``warn_before_workdays``, ``red_card_after_workdays``) of the version each case runs, never from
code, and are counted in working days on the deployment's calendar.

Scope and the plain filters are SQL (``scope_clause``, the same rule as case search); the card,
the item status and the sort are worked out per item, because they depend on the calendar and on
the case's data. Supervision items number in the hundreds or thousands per county, not millions.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from .. import clock
from ..cases.case_file import field_catalogue
from ..context import context_of
from ..definitions.deployment import get_definition
from ..definitions.form_contract import parameters
from ..errors import NotFound
from ..org.orgs import Actor
from ..org.visibility import orgs_under
from ..store.audit import EntryKind
from ..store.models import AuditEntry, CaseField, HumanTask, Instance, InstanceStatus, Org, TaskStatus, User
from .scope import ViewerScope, viewer_scope

PROCESS = "supervision"


class Card(StrEnum):
    """An item's colour: none, due soon (黄灯), overdue (黄牌), overdue past the red threshold (红牌)."""
    NONE = "none"
    NEAR = "near"
    YELLOW = "yellow"
    RED = "red"


class ItemStatus(StrEnum):
    PENDING = "pending"            # waiting for the leader's approval: no deadline yet
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"              # 办结销号
    NOT_APPROVED = "not_approved"  # 不予立项
    CANCELLED = "cancelled"
    ERROR = "error"


CARD_LABELS = {Card.NONE: ("正常", "On track"), Card.NEAR: ("临期", "Due soon"),
               Card.YELLOW: ("黄牌", "Yellow card"), Card.RED: ("红牌", "Red card")}
STATUS_LABELS = {ItemStatus.PENDING: ("待审核", "Awaiting approval"), ItemStatus.IN_PROGRESS: ("办理中", "In progress"),
                 ItemStatus.CLOSED: ("已办结", "Closed"), ItemStatus.NOT_APPROVED: ("不予立项", "Not approved"),
                 ItemStatus.CANCELLED: ("已撤销", "Cancelled"), ItemStatus.ERROR: ("出错待处理", "Error")}
# The card the process itself wrote into the case data (亮黄牌/亮红牌/本轮办理结束).
_RECORDED_CARDS = {"黄牌": Card.YELLOW, "红牌": Card.RED}
_CARD_RANK = {Card.NONE: 0, Card.NEAR: 1, Card.YELLOW: 2, Card.RED: 3}
SORT_KEYS = ("business_key", "title", "source", "lead_unit", "feedback", "created_at", "due_at", "current_step",
             "holder", "days_left", "card", "urge_count", "status")


@dataclass(frozen=True)
class LedgerFilter:
    unit: str | None = None          # org code: the lead unit or an assisting unit
    township: str | None = None      # org code: the case's org lies in this township
    source: str | None = None        # one of the start form's 事项来源 options
    card: Card | None = None
    status: ItemStatus | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None   # exclusive
    sort: str = "due_at"
    descending: bool = False
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Feedback:
    unit: str          # org code
    unit_name: str
    done: bool


@dataclass(frozen=True)
class Step:
    task_id: str
    title: str
    holder: str        # the assignee's name, else the pool's org name


@dataclass
class LedgerItem:
    instance_id: int
    business_key: str
    title: str
    source: str
    lead_unit: str | None
    lead_unit_name: str
    assisting: list[Feedback]
    org_name: str
    created_at: datetime
    due_at: datetime | None
    finished_at: datetime | None
    steps: list[Step]
    days_left: int | None          # working days; negative when overdue
    overdue: bool
    card: Card
    urge_count: int
    status: ItemStatus
    on_time: bool | None = None    # closed items: finished by the deadline

    @property
    def current_step(self) -> str:
        # A step every assisting unit has (协办反馈) is named once; ``holder`` names the units.
        return "、".join(dict.fromkeys(s.title for s in self.steps))

    @property
    def holder(self) -> str:
        return "、".join(dict.fromkeys(s.holder for s in self.steps if s.holder))

    @property
    def feedback(self) -> str:
        """Each assisting unit and whether it has reported, e.g. ``县公安局✓、县司法局…``."""
        return "、".join(f"{f.unit_name}{'（已反馈）' if f.done else '（未反馈）'}" for f in self.assisting)

    @property
    def feedback_done(self) -> int:
        return sum(f.done for f in self.assisting)


def ledger(session: Session, *, actor: Actor, flt: LedgerFilter = LedgerFilter(),
           now: datetime | None = None, scope: ViewerScope | None = None) -> tuple[list[LedgerItem], int]:
    """Return one page of the supervision items the actor may see, filtered and sorted, and the total.

    ``scope`` is the actor's scope resolved beforehand (``scope.viewer_scope``; the board has it).
    """
    items = _all_items(session, actor=actor, flt=flt, now=now or clock.now(), scope=scope)
    if flt.card:
        items = [i for i in items if i.card == flt.card]
    if flt.status:
        items = [i for i in items if i.status == flt.status]
    items.sort(key=lambda i: i.instance_id, reverse=True)
    key = flt.sort if flt.sort in SORT_KEYS else "due_at"
    # Empty values sort last whichever the direction: a blank deadline is not "the soonest".
    present = [i for i in items if _sort_value(i, key) is not None]
    missing = [i for i in items if _sort_value(i, key) is None]
    present.sort(key=lambda i: _sort_value(i, key), reverse=flt.descending)
    ordered = present + missing
    return ordered[flt.offset:flt.offset + flt.limit], len(ordered)


def ledger_item(session: Session, *, actor: Actor, instance_id: int, now: datetime | None = None) -> LedgerItem | None:
    """Return one supervision item as the ledger shows it, or None if the actor may not see it."""
    items = _all_items(session, actor=actor, flt=LedgerFilter(), now=now or clock.now(), instance_id=instance_id)
    return items[0] if items else None


def source_choices(session: Session) -> list[str]:
    """Return the 事项来源 options of the latest supervision start form (the filter's choice list)."""
    try:
        latest = get_definition(session, key=PROCESS)
    except NotFound:
        return []
    spec = field_catalogue(latest).get("source")
    return [str(o.value) for o in spec.options] if spec is not None else []


def _sort_value(item: LedgerItem, key: str):
    if key == "card":
        return _CARD_RANK[item.card]
    if key == "status":
        return list(ItemStatus).index(item.status)
    if key == "feedback":
        return (item.feedback_done, len(item.assisting)) if item.assisting else None
    if key in ("current_step", "holder"):
        return getattr(item, key) or None
    if key == "lead_unit":
        return item.lead_unit_name or None
    return getattr(item, key)


def _all_items(session: Session, *, actor: Actor, flt: LedgerFilter, now: datetime,
               instance_id: int | None = None, scope: ViewerScope | None = None) -> list[LedgerItem]:
    # A leader's scope holds millions of cases: resolved once (scope.py) it is a condition on the
    # item's org and a few ids, not the set of every id the viewer may see.
    scope = scope or viewer_scope(session, actor=actor)
    query = (select(Instance).where(Instance.process_key == PROCESS, *scope.where())
             .options(defer(Instance.state)))
    if instance_id is not None:
        query = query.where(Instance.id == instance_id)
    if flt.unit:
        query = query.where(Instance.id.in_(select(CaseField.instance_id).where(
            CaseField.name.in_(("lead_unit", "assisting_unit")), CaseField.value == flt.unit)))
    if flt.source:
        query = query.where(Instance.id.in_(select(CaseField.instance_id).where(
            CaseField.name == "source", CaseField.value == flt.source)))
    if flt.township:
        path = session.scalar(select(Org.path).where(Org.code == flt.township))
        if path is None:
            return []
        query = query.where(Instance.org_id.in_(orgs_under([path])))
    if flt.created_from:
        query = query.where(Instance.started_at >= flt.created_from)
    if flt.created_to:
        query = query.where(Instance.started_at < flt.created_to)
    instances = list(session.scalars(query))
    if not instances:
        return []
    ids = [i.id for i in instances]
    calendar = context_of(session).calendar(session)
    tasks = _tasks_by_case(session, ids)
    urges = dict(session.execute(select(AuditEntry.instance_id, func.count()).where(
        AuditEntry.instance_id.in_(ids), AuditEntry.kind == EntryKind.URGED).group_by(AuditEntry.instance_id)).all())
    org_ids = {t.candidate_org_id for ts in tasks.values() for t in ts} | {i.org_id for i in instances}
    codes = {u for i in instances for u in [i.data.get("lead_unit"), *_assisting(i.data)] if isinstance(u, str)}
    orgs = {oid: (code, name) for oid, code, name in session.execute(
        select(Org.id, Org.code, Org.name).where((Org.id.in_(org_ids - {None})) | Org.code.in_(codes)))}
    by_code = {code: name for code, name in orgs.values()}
    users = dict(session.execute(select(User.id, User.name).where(User.id.in_(
        {t.assignee_id for ts in tasks.values() for t in ts} - {None}))).all())
    return [_item(i, tasks.get(i.id, []), urges.get(i.id, 0), orgs, by_code, users, calendar, now)
            for i in instances]


def _tasks_by_case(session: Session, ids: list[int]) -> dict[int, list[HumanTask]]:
    out: dict[int, list[HumanTask]] = {}
    for t in session.scalars(select(HumanTask).where(
            HumanTask.instance_id.in_(ids), HumanTask.status.in_((TaskStatus.OPEN, TaskStatus.COMPLETED)))
            # Parallel steps start at the same moment: the org breaks the tie the same way on every database.
            .order_by(HumanTask.created_at, HumanTask.element_id, HumanTask.candidate_org_id)):
        out.setdefault(t.instance_id, []).append(t)
    return out


def _assisting(data: dict) -> list[str]:
    units = data.get("assisting_units")
    if isinstance(units, list):
        return [u for u in units if isinstance(u, str)]
    rows = data.get("assisting") or []
    lead = data.get("lead_unit")
    return [r["unit"] for r in rows if isinstance(r, dict) and isinstance(r.get("unit"), str) and r["unit"] != lead]


def _moment(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _item(instance: Instance, tasks: list[HumanTask], urge_count: int, orgs, by_code, users, calendar,
          now: datetime) -> LedgerItem:
    data = instance.data or {}
    status = _status(instance, data)
    # The case data is that of the latest step, and the process runs the lead unit and the
    # assisting units in parallel branches: only the lead's branch knows ``deadline_at``. The
    # deadline is therefore read from the lead's latest 办理并报告 task (extensions and rework give
    # it a new one), else from the branch data, else from ``assist_due`` (the same moment, set
    # before the branches split).
    reports = [t for t in tasks if t.element_id == "report"]
    due = (reports[-1].due_at if reports and reports[-1].due_at else None) or _moment(data.get("deadline_at")) \
        or _moment(data.get("assist_due"))
    finished = reports[-1].completed_at if reports and reports[-1].status == TaskStatus.COMPLETED else None
    thresholds = parameters(instance.definition)
    days_left, overdue, card = None, False, _RECORDED_CARDS.get(data.get("card"), Card.NONE)
    on_time = None
    if due is not None and status == ItemStatus.IN_PROGRESS:
        overdue = now > due
        days_left = -calendar.workdays_between(due, now) if overdue else calendar.workdays_between(now, due)
        live = _live_card(due, now, days_left, overdue, thresholds, calendar)
        card = max(card, live, key=_CARD_RANK.__getitem__)
    elif due is not None and status == ItemStatus.CLOSED and finished is not None:
        on_time = finished <= due
        if not on_time:  # the card it earned by the day its report came in, as 本轮办理结束 records it
            late = _live_card(due, finished, -calendar.workdays_between(due, finished), True, thresholds, calendar)
            card = max(card, late, key=_CARD_RANK.__getitem__)
    open_tasks = [t for t in tasks if t.status == TaskStatus.OPEN]
    steps = [Step(t.id, t.title, users.get(t.assignee_id) or orgs.get(t.candidate_org_id, ("", ""))[1])
             for t in open_tasks]
    assist_done = {orgs.get(t.candidate_org_id, ("", ""))[0] for t in tasks
                   if t.element_id == "assist" and t.status == TaskStatus.COMPLETED}
    assisting = [Feedback(u, by_code.get(u, u), u in assist_done) for u in _assisting(data)]
    lead = data.get("lead_unit") if isinstance(data.get("lead_unit"), str) else None
    return LedgerItem(
        instance_id=instance.id, business_key=instance.business_key or "",
        title=str(data.get("item_title") or instance.title or ""), source=str(data.get("source") or ""),
        lead_unit=lead, lead_unit_name=by_code.get(lead, lead or ""), assisting=assisting,
        org_name=orgs.get(instance.org_id, ("", ""))[1], created_at=instance.started_at, due_at=due,
        finished_at=finished, steps=steps, days_left=days_left, overdue=overdue, card=card,
        urge_count=urge_count, status=status, on_time=on_time)


def _live_card(due: datetime, now: datetime, days_left: int, overdue: bool, thresholds: dict, calendar) -> Card:
    # The same moments the process keeps (schedule/rework/apply_extension): a yellow card at the
    # deadline, a red one red_card_after_workdays working days later, the light warn_before_workdays before.
    red_after = thresholds.get("red_card_after_workdays")
    if overdue and isinstance(red_after, int) and now >= calendar.add_workdays(due, red_after):
        return Card.RED
    if overdue:
        return Card.YELLOW
    warn_before = thresholds.get("warn_before_workdays")
    if isinstance(warn_before, int) and days_left < warn_before:
        return Card.NEAR
    return Card.NONE


def _status(instance: Instance, data: dict) -> ItemStatus:
    if instance.status == InstanceStatus.CANCELLED:
        return ItemStatus.CANCELLED
    if instance.status == InstanceStatus.ERROR:
        return ItemStatus.ERROR
    if instance.status == InstanceStatus.COMPLETED:
        return ItemStatus.NOT_APPROVED if data.get("approved") is False else ItemStatus.CLOSED
    return ItemStatus.IN_PROGRESS if data.get("issued_at") else ItemStatus.PENDING


__all__ = ["Card", "ItemStatus", "CARD_LABELS", "STATUS_LABELS", "SORT_KEYS", "LedgerFilter", "LedgerItem",
           "Feedback", "Step", "ledger", "ledger_item", "source_choices", "PROCESS"]
