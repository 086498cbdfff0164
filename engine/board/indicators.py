"""The center's indicators for a period (按期办结率, 调解成功率, GB/T 30428 grid figures, ...), each traceable to its cases.

One function (``indicators``) serves the board, the API and the assessment pre-fill (the
``platform_indicators`` script helper), so a township's figure in its self-assessment is the one
its leader sees on the board. Every figure is counted in SQL over ``instances``, ``human_tasks``
and ``audit_entries`` (the case history) inside the viewer's scope (``scope_clause``, the rule of case search), and
carries the ids of the cases behind it: ``case_ids`` are the cases counted in the denominator (the
population), ``numerator_case_ids`` those in the numerator. Only the grid events' handling time
needs Python, for the working-hour arithmetic, and reads two timestamps per closed event.

What counts as closed, agreed or overdue is read from how the shipped processes record it: their
end events, the deadlines on their tasks (``human_tasks.due_at``, set from each step's
``dueDate``) and the card timers of the supervision process. Those names are the constants below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from ..audit import EntryKind
from ..context import context_of
from ..errors import EngineError
from ..models import AuditEntry, CaseField, HumanTask, Instance, InstanceStatus, Org, TaskStatus
from ..orgs import Actor
from ..visibility import orgs_under, scope_clause, sees_everything

# Cases the public waits on, whose closing on time and closure rate the center answers for.
CASE_PROCESSES = ("mediation", "grid_event", "supervision")
# Ends that mean the matter was never taken on (不予受理, 不予立案, 不予立项): not a closed case.
NOT_TAKEN_ENDS = ("end_not_accepted", "end_rejected", "end_not_approved")
MEDIATION = "mediation"
MEDIATION_AGREED_ENDS = ("end_closed",)                      # 调解成功结案 (agreement reached and followed up)
MEDIATION_ENDED_ENDS = ("end_closed", "end_terminated")       # ... or 调解终止
GRID = "grid_event"
GRID_CLOSED_END = "end_closed"                                 # 结案
SUPERVISION = "supervision"
SUPERVISION_CARD_TIMERS = ("overdue_yellow", "overdue_red")    # 到期未办结 (黄牌), 超期达到红牌阈值 (红牌)
SUPERVISION_UNIT_FIELD = "lead_unit"                           # the case field naming the lead unit
REPORT = "report_review"
REPORT_REVIEW_TASK = "review"                                  # 县级审核: 通过 ends the case, 退回修改 goes back to 填报
REPORT_ACCEPTED_END = "end_accepted"

# Indicator keys, in the order the board and the pre-fill show them.
KEYS = ("on_time_rate", "closure_rate", "mediation_success_rate", "grid_closure_rate", "grid_avg_handling_hours",
        "overdue_supervision", "report_returns")
LABELS = {
    "on_time_rate": ("按期办结率", "On-time closure rate", "%"),
    "closure_rate": ("结案率", "Closure rate", "%"),
    "mediation_success_rate": ("调解成功率", "Mediation success rate", "%"),
    "grid_closure_rate": ("网格事件结案率", "Grid event closure rate", "%"),
    "grid_avg_handling_hours": ("网格事件平均处置用时", "Grid events: average handling time", "工作时"),
    "overdue_supervision": ("超期督办事项", "Overdue supervision items", "件"),
    "report_returns": ("报表退回修改", "Reports sent back", "件"),
}
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Indicator:
    """One figure: a rate (%), an average (工作时) or a count (件), with the cases behind it.

    For a rate, ``value`` is numerator / denominator in percent; for the average, ``numerator``
    is the total working hours (rounded) and ``value`` the exact mean; for a count, ``value`` is
    the numerator and ``denominator`` the population it was counted in. ``value`` is None when
    the denominator is 0 (nothing to measure, which is not the same as 0 %).
    """

    key: str
    label: str
    label_en: str
    numerator: int
    denominator: int
    value: float | None
    unit: str
    case_ids: list[int] = field(default_factory=list)
    numerator_case_ids: list[int] = field(default_factory=list)


def indicators(session: Session, *, actor: Actor, start: datetime, end: datetime,
               org_path: str | None = None) -> dict[str, Indicator]:
    """Compute the period's indicators ``[start, end)`` over the cases ``actor`` may see, within ``org_path`` if given."""
    if start.tzinfo is None or end.tzinfo is None:
        raise EngineError("统计期间的起止时间必须带时区", message_en="the period's start and end must be aware datetimes")
    if end <= start:
        raise EngineError("统计期间的结束时间必须晚于开始时间", message_en="the period must end after it starts")
    scope = _Scope(actor, org_path)
    out = {
        "on_time_rate": _on_time(session, scope, start, end),
        "closure_rate": _closure(session, scope, start, end, CASE_PROCESSES, None, "closure_rate"),
        "mediation_success_rate": _mediation(session, scope, start, end),
        "grid_closure_rate": _closure(session, scope, start, end, (GRID,), GRID_CLOSED_END, "grid_closure_rate"),
        "grid_avg_handling_hours": _grid_hours(session, scope, start, end),
        "overdue_supervision": _overdue_supervision(session, scope, start, end),
        "report_returns": _report_returns(session, scope, start, end),
    }
    return {k: out[k] for k in KEYS}


class _Scope:
    """The conditions on ``Instance`` that keep a figure inside the viewer's scope and the chosen org."""

    def __init__(self, actor: Actor, org_path: str | None):
        self.actor, self.org_path = actor, org_path

    def cases(self, *, unit_field: str | None = None) -> list:
        conditions = [] if sees_everything(self.actor) else [scope_clause(self.actor)]
        if self.org_path:
            in_org = Instance.org_id.in_(orgs_under([self.org_path]))
            if unit_field:
                # An item the county issues to a township belongs to that township, wherever it was opened.
                in_org = or_(in_org, exists().where(
                    CaseField.instance_id == Instance.id, CaseField.name == unit_field,
                    CaseField.value.in_(select(Org.code).where(Org.path.like(self.org_path + "%")))))
            conditions.append(in_org)
        return conditions


def _rate(key: str, numerator_ids: list[int], population: list[int]) -> Indicator:
    label, label_en, unit = LABELS[key]
    n, d = len(numerator_ids), len(population)
    return Indicator(key=key, label=label, label_en=label_en, numerator=n, denominator=d,
                     value=round(100.0 * n / d, 1) if d else None, unit=unit,
                     case_ids=sorted(population), numerator_case_ids=sorted(numerator_ids))


def _count(key: str, counted_ids: list[int], population: list[int], number: int | None = None) -> Indicator:
    label, label_en, unit = LABELS[key]
    n = len(counted_ids) if number is None else number
    return Indicator(key=key, label=label, label_en=label_en, numerator=n, denominator=len(population),
                     value=float(n) if population else None, unit=unit,
                     case_ids=sorted(population), numerator_case_ids=sorted(counted_ids))


def _ended_in(start, end):
    return and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at >= start, Instance.ended_at < end)


def _taken(column=None):
    column = Instance.end_event if column is None else column
    return or_(column.is_(None), column.not_in(NOT_TAKEN_ENDS))


def _on_time(session, scope, start, end) -> Indicator:
    # Late: some step with a deadline was finished (done, or cancelled by the flow) after it.
    late = exists().where(HumanTask.instance_id == Instance.id, HumanTask.due_at.is_not(None),
                          HumanTask.completed_at > HumanTask.due_at)
    rows = session.execute(select(Instance.id, late).where(
        Instance.process_key.in_(CASE_PROCESSES), _ended_in(start, end), _taken(), *scope.cases())).all()
    return _rate("on_time_rate", [i for i, is_late in rows if not is_late], [i for i, _ in rows])


def _closure(session, scope, start, end, processes, closed_end, key) -> Indicator:
    closed = and_(Instance.status == InstanceStatus.COMPLETED, Instance.ended_at < end, _taken())
    if closed_end:
        closed = and_(closed, Instance.end_event == closed_end)
    # Received in the period and taken on: a case refused at intake, or withdrawn, was never open.
    rows = session.execute(select(Instance.id, closed).where(
        Instance.process_key.in_(processes), Instance.started_at >= start, Instance.started_at < end,
        Instance.status != InstanceStatus.CANCELLED,
        or_(Instance.status != InstanceStatus.COMPLETED, Instance.ended_at >= end, _taken()),
        *scope.cases())).all()
    return _rate(key, [i for i, done in rows if done], [i for i, _ in rows])


def _mediation(session, scope, start, end) -> Indicator:
    rows = session.execute(select(Instance.id, Instance.end_event).where(
        Instance.process_key == MEDIATION, _ended_in(start, end), Instance.end_event.in_(MEDIATION_ENDED_ENDS),
        *scope.cases())).all()
    return _rate("mediation_success_rate", [i for i, e in rows if e in MEDIATION_AGREED_ENDS], [i for i, _ in rows])


def _grid_hours(session, scope, start, end) -> Indicator:
    rows = session.execute(select(Instance.id, Instance.started_at, Instance.ended_at).where(
        Instance.process_key == GRID, _ended_in(start, end), Instance.end_event == GRID_CLOSED_END,
        *scope.cases())).all()
    calendar = context_of(session).calendar(session)
    total = sum(working_hours_between(calendar, _aware(a), _aware(b)) for _, a, b in rows)
    label, label_en, unit = LABELS["grid_avg_handling_hours"]
    ids = sorted(i for i, _, _ in rows)
    return Indicator(key="grid_avg_handling_hours", label=label, label_en=label_en, numerator=round(total),
                     denominator=len(rows), value=round(total / len(rows), 1) if rows else None, unit=unit,
                     case_ids=ids, numerator_case_ids=ids)


def _overdue_supervision(session, scope, start, end) -> Indicator:
    in_scope = scope.cases(unit_field=SUPERVISION_UNIT_FIELD)
    carded = exists().where(AuditEntry.instance_id == Instance.id, AuditEntry.kind == EntryKind.TIMER,
                            AuditEntry.element_id.in_(SUPERVISION_CARD_TIMERS),
                            AuditEntry.at >= start, AuditEntry.at < end)
    # The items under way at some time in the period: issued before it ended, not closed before it began.
    rows = session.execute(select(Instance.id, carded).where(
        Instance.process_key == SUPERVISION, Instance.started_at < end,
        Instance.status != InstanceStatus.CANCELLED, or_(Instance.ended_at.is_(None), Instance.ended_at >= start),
        _taken(), *in_scope)).all()
    return _count("overdue_supervision", [i for i, c in rows if c], [i for i, _ in rows])


def _report_returns(session, scope, start, end) -> Indicator:
    # A county review either accepts the report, which ends the case at once, or sends it back to
    # 填报: so every review but an accepted case's last one was a return. Read from the history's
    # order (seq), not from times, which a step's entries share.
    later = aliased(AuditEntry)
    later_review = exists().where(later.instance_id == AuditEntry.instance_id, later.seq > AuditEntry.seq,
                                  later.kind == EntryKind.COMPLETED, later.element_id == REPORT_REVIEW_TASK)
    accepted = and_(Instance.status == InstanceStatus.COMPLETED, Instance.end_event == REPORT_ACCEPTED_END)
    is_return = or_(AuditEntry.kind == EntryKind.RETURNED, ~accepted, later_review)
    rows = session.execute(select(AuditEntry.instance_id, is_return).join(Instance, Instance.id == AuditEntry.instance_id)
                           .where(Instance.process_key == REPORT, AuditEntry.element_id == REPORT_REVIEW_TASK,
                                  AuditEntry.kind.in_((EntryKind.COMPLETED, EntryKind.RETURNED)),
                                  AuditEntry.at >= start, AuditEntry.at < end, *scope.cases())).all()
    returns = sum(1 for _, r in rows if r)
    return _count("report_returns", sorted({i for i, r in rows if r}), sorted({i for i, _ in rows}), number=returns)


def working_hours_between(calendar, a: datetime, b: datetime) -> float:
    """Return the 工作时 from ``a`` to ``b``: time inside working periods on working days (0 if ``b`` is not later)."""
    if b <= a:
        return 0.0
    first, last = a.astimezone(calendar.tz).replace(tzinfo=None), b.astimezone(calendar.tz).replace(tzinfo=None)
    total, day = timedelta(), first.date()
    full_day = sum((_span(day, begin, end) for begin, end in calendar.periods), timedelta())
    while day <= last.date():
        if calendar.is_workday(day):
            if first.date() < day < last.date():
                total += full_day
            else:
                for begin, end in calendar.periods:
                    lo, hi = max(first, datetime.combine(day, begin)), min(last, datetime.combine(day, end))
                    if hi > lo:
                        total += hi - lo
        day += ONE_DAY
    return total.total_seconds() / 3600


def _span(day: date, begin, end) -> timedelta:
    return datetime.combine(day, end) - datetime.combine(day, begin)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
