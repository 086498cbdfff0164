"""Lists staff read: to-do, done, CC'd, started by me, case search; each within the reader's scope."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import case, exists, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased, defer

from .. import clock
from ..context import context_of
from ..org.orgs import Actor
from ..org.visibility import (
    case_scope_check, orgs_under, scope_branches, scope_clause, sees_everything,
)
from ..store import tallies
from ..store.models import CarbonCopy, CaseField, HumanTask, Instance, InstanceStatus, Org, TaskStatus


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def light_of(task: HumanTask, now: datetime | None = None) -> Light:
    """Return a task's status light: red overdue, yellow past its warning time, else green."""
    now = now or clock.now()
    if task.due_at is not None and now >= task.due_at:
        return Light.RED
    if task.warn_at is not None and now >= task.warn_at:
        return Light.YELLOW
    return Light.GREEN


def light_expression(now: datetime):
    """The same rule as ``light_of`` as a SQL expression, for filtering and counting."""
    return case(
        (HumanTask.due_at <= now, literal(Light.RED.value)),
        (HumanTask.warn_at <= now, literal(Light.YELLOW.value)),
        else_=literal(Light.GREEN.value),
    )


@dataclass(frozen=True)
class TaskFilter:
    process: str | None = None
    light: Light | None = None
    org_code: str | None = None
    limit: int = 50
    offset: int = 0


def todo_query(actor: Actor, flt: TaskFilter = TaskFilter(), *, now: datetime | None = None):
    """Build the to-do query: tasks assigned to the actor or waiting in one of their role pools."""
    now = now or clock.now()
    query = (select(HumanTask).join(Org, Org.id == HumanTask.candidate_org_id, isouter=True)
             .where(HumanTask.id.in_(todo_ids(actor))))
    if flt.process:
        query = query.where(HumanTask.process_key == flt.process)
    if flt.light:
        query = query.where(light_expression(now) == flt.light.value)
    if flt.org_code:
        scope = aliased(Org)
        query = query.where(Org.path.startswith(
            select(scope.path).where(scope.code == flt.org_code).scalar_subquery()))
    return query


def todo_ids(actor: Actor):
    """Select the ids of the actor's open tasks: assigned to them, or in one of their pools.

    One branch per way in, each an index range on (assignee_id, status) or on (status,
    candidate_role, candidate_org_id). The equivalent single OR makes PostgreSQL read every
    open task in the database (docs/performance.md).
    """
    branches = [select(HumanTask.id).where(HumanTask.status == TaskStatus.OPEN, HumanTask.assignee_id == actor.id)]
    for role, path in sorted(set(actor.grants)):
        branches.append(select(HumanTask.id).where(
            HumanTask.status == TaskStatus.OPEN, HumanTask.assignee_id.is_(None), HumanTask.candidate_role == role,
            HumanTask.candidate_org_id.in_(orgs_under([path]))))
    return union_all(*branches)


def todo(session: Session, *, actor: Actor, flt: TaskFilter = TaskFilter()) -> list[HumanTask]:
    """Return the actor's to-do list, soonest deadline first."""
    query = todo_query(actor, flt).order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at,
                                            HumanTask.id)
    return list(session.scalars(query.limit(flt.limit).offset(flt.offset)))


def todo_counts(session: Session, *, actor: Actor, flt: TaskFilter = TaskFilter()) -> dict[str, int]:
    """Return to-do counts by light, and the total (the filter's light, limit and offset are ignored)."""
    now = clock.now()
    light = light_expression(now)
    flt = TaskFilter(process=flt.process, org_code=flt.org_code)
    sub = todo_query(actor, flt, now=now).with_only_columns(light.label("light")).subquery()
    rows = session.execute(select(sub.c.light, func.count()).group_by(sub.c.light)).all()
    counts = {lt.value: 0 for lt in Light} | {row[0]: row[1] for row in rows}
    counts["total"] = sum(counts[lt.value] for lt in Light)
    return counts


def done(session: Session, *, actor: Actor, limit: int = 50, offset: int = 0) -> list[HumanTask]:
    """Return tasks the actor completed, newest first."""
    return list(session.scalars(select(HumanTask).where(HumanTask.completed_by_id == actor.id,
                                                        HumanTask.status == TaskStatus.COMPLETED)
                                .order_by(HumanTask.completed_at.desc(), HumanTask.id).limit(limit).offset(offset)))


def copied_to_me(session: Session, *, actor: Actor, limit: int = 50, offset: int = 0) -> list[tuple[CarbonCopy, Instance]]:
    """Return the cases CC'd to the actor, newest first."""
    rows = session.execute(select(CarbonCopy, Instance).join(Instance, Instance.id == CarbonCopy.instance_id)
                           .where(CarbonCopy.user_id == actor.id)
                           .order_by(CarbonCopy.sent_at.desc(), CarbonCopy.id.desc()).limit(limit).offset(offset))
    return [(cc, instance) for cc, instance in rows]


def started_by_me(session: Session, *, actor: Actor, limit: int = 50, offset: int = 0) -> list[Instance]:
    """Return the cases the actor started, newest first."""
    return list(session.scalars(select(Instance).where(Instance.started_by_id == actor.id)
                                .order_by(Instance.started_at.desc(), Instance.id.desc()).limit(limit).offset(offset)))


def case_counts(session: Session, *, actor: Actor) -> dict[str, int]:
    """Return how many cases the actor may see, by status (statuses with none left out)."""
    if sees_everything(actor):
        return tallies.status_totals(session)
    visible = _visible(actor, "status").subquery("visible")
    return {str(status): n for status, n in session.execute(
        select(visible.c.status, func.count()).group_by(visible.c.status))}


def _visible(actor: Actor, column: str):
    """Select every case a (non-admin) actor may see, once each, as rows of (id, the case's ``column``).

    Cases read straight from the case indexes carry the column and do not overlap; a case
    reached only through a task, a task actor or a CC is looked up, unless it was read already.
    """
    by_case, by_link = scope_branches(actor, columns=(column,))
    direct = union_all(*by_case).cte("direct")
    links = union_all(*by_link).subquery("links")
    linked = select(links.c[0]).where(~exists().where(direct.c.id == links.c[0]))
    return union_all(select(direct.c.id, direct.c[column]),
                     select(Instance.id, getattr(Instance, column)).where(Instance.id.in_(linked)))


class Deadline(StrEnum):
    """A running case's deadline: one of its open steps overdue, or the nearest due within SOON_WORKDAYS."""
    SOON = "soon"
    OVERDUE = "overdue"


SOON_WORKDAYS = 3


def soon_until(session: Session, now: datetime) -> datetime:
    """Return the end of the SOON_WORKDAYS-th working day after now (the 临期 horizon of lists and board)."""
    return context_of(session).calendar(session).add_workdays(now, SOON_WORKDAYS)


def deadline_condition(deadline: Deadline, *, now: datetime, horizon: datetime):
    """A condition on ``Instance``: the case has an open step overdue, or (soon) one due by ``horizon`` and none overdue."""
    def open_due(condition):
        return exists().where(HumanTask.instance_id == Instance.id, HumanTask.status == TaskStatus.OPEN, condition)
    overdue = open_due(HumanTask.due_at <= now)
    if deadline == Deadline.OVERDUE:
        return overdue
    return open_due(HumanTask.due_at <= horizon) & ~overdue


def unit_condition(unit_path: str):
    """A condition on ``Instance``: a step of the case waits or waited in the pool of the org at ``unit_path``."""
    return exists().where(HumanTask.instance_id == Instance.id,
                          HumanTask.status.in_((TaskStatus.OPEN, TaskStatus.COMPLETED)),
                          HumanTask.candidate_org_id.in_(orgs_under([unit_path])))


@dataclass(frozen=True)
class CaseSearch:
    business_key: str | None = None
    process: str | None = None
    status: InstanceStatus | None = None
    org_code: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    fields: tuple[tuple[str, str], ...] = ()  # (projected field name, value prefix)
    deadline: Deadline | None = None
    closed_from: datetime | None = None
    closed_to: datetime | None = None     # exclusive
    unit: str | None = None               # org code: the unit holds or held one of the case's tasks
    limit: int = 50
    offset: int = 0


def search_cases(session: Session, *, actor: Actor, search: CaseSearch) -> tuple[list[Instance], int]:
    """Find cases within the actor's scope; return one page and the total count."""
    unfiltered = search == CaseSearch(limit=search.limit, offset=search.offset)
    if unfiltered and not sees_everything(actor):
        return _scope_page(session, actor=actor, limit=search.limit, offset=search.offset)
    # A party's name or a case number picks out a few cases: check those one by one rather than
    # build every id the actor may see (docs/performance.md, "at scale").
    narrow = bool(search.fields or search.business_key)
    query = select(Instance).where(case_scope_check(actor) if narrow else scope_clause(actor))
    if search.business_key:
        query = query.where(Instance.business_key.startswith(search.business_key))
    if search.process:
        query = query.where(Instance.process_key == search.process)
    if search.status:
        query = query.where(Instance.status == search.status)
    if search.org_code:
        scope = aliased(Org)
        org_path = select(scope.path).where(scope.code == search.org_code).scalar_subquery()
        query = query.where(Instance.org_id.in_(select(Org.id).where(Org.path.startswith(org_path))))
    if search.started_from:
        query = query.where(Instance.started_at >= search.started_from)
    if search.started_to:
        query = query.where(Instance.started_at < search.started_to)
    for name, value in search.fields:
        query = query.where(Instance.id.in_(select(CaseField.instance_id).where(
            CaseField.name == name, CaseField.value.startswith(value))))
    if search.deadline:
        now = clock.now()
        query = query.where(Instance.status == InstanceStatus.RUNNING,
                            deadline_condition(search.deadline, now=now, horizon=soon_until(session, now)))
    if search.closed_from:
        query = query.where(Instance.ended_at >= search.closed_from)
    if search.closed_to:
        query = query.where(Instance.ended_at < search.closed_to)
    if search.unit:
        unit_path = session.scalar(select(Org.path).where(Org.code == search.unit))
        if unit_path is None:
            return [], 0
        query = query.where(unit_condition(unit_path))
    # A list never shows the workflow state: leave it in the database (a few KB of JSON a case).
    page = list(session.scalars(query.options(defer(Instance.state))
                                .order_by(Instance.started_at.desc(), Instance.id.desc())
                                .limit(search.limit).offset(search.offset)))
    if 0 < len(page) < search.limit or (not page and not search.offset):
        return page, search.offset + len(page)  # the last page tells the total; no second query
    if unfiltered:  # someone who sees every case: the total is every case, from the tallies
        return page, sum(tallies.status_totals(session).values())
    return page, session.scalar(select(func.count()).select_from(query.subquery()))


def _scope_page(session: Session, *, actor: Actor, limit: int, offset: int) -> tuple[list[Instance], int]:
    """The unfiltered case list of someone with a scope: one page, newest first, and the total, in one statement.

    The start times come with the ids, from the rows the scope reads anyway, so only the page's
    cases are read whole. Reading every visible case to sort them took 12 ms for a township's
    2,147 cases among 1.1 M (docs/performance.md, section 14).
    """
    visible = _visible(actor, "started_at").cte("visible")
    page = (select(visible.c.id).order_by(visible.c.started_at.desc(), visible.c.id.desc())
            .limit(limit).offset(offset).subquery("page"))
    total = select(func.count()).select_from(visible).scalar_subquery()
    rows = session.execute(select(Instance, total).join(page, page.c.id == Instance.id)
                           .options(defer(Instance.state))
                           .order_by(Instance.started_at.desc(), Instance.id.desc())).all()
    if rows:
        return [instance for instance, _total in rows], rows[0][1]
    # Nothing visible, or past the last page: the total alone.
    return [], session.scalar(select(func.count()).select_from(visible)) if offset else 0


__all__ = ["Light", "light_of", "TaskFilter", "todo", "todo_counts", "done", "copied_to_me", "started_by_me",
           "case_counts", "CaseSearch", "search_cases", "Deadline", "SOON_WORKDAYS", "soon_until",
           "deadline_condition", "unit_condition"]
