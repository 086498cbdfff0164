"""After every engine step: project the workflow's open tasks, waits and search fields into tables."""
from __future__ import annotations

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from . import audit, clock
from .audit import EntryKind
from .context import context_of
from .lint import form_key_for
from .models import CaseField, EventWait, HumanTask, Instance, PendingMessage, TaskStatus, User
from .notifications import NotificationKind, notify
from .orgs import Actor, get_org, role_for_lane
from .scripting import parse_moment, use_calendar
from .spiff.timers import FiredTimerEvent, take_fired_timers
from .spiff.workflow import StepError

# Delivering a kept message can make the case wait for another kept message; bound the chain.
_MAX_DELIVERY_ROUNDS = 20


def sync_after_step(session: Session, loaded, *, actor: Actor) -> StepError | None:
    """Bring tasks, waits and case fields in line with the workflow; deliver kept messages."""
    with use_calendar(context_of(session).calendar(session)):
        for _ in range(_MAX_DELIVERY_ROUNDS):
            waits = sync_waits(session, loaded)
            delivered = deliver_kept_messages(session, loaded, waits, actor=actor)
            if delivered is None:
                break
            if isinstance(delivered, StepError):
                return delivered
        record_fired_timers(session, loaded)
        try:
            sync_tasks(session, loaded)
        except _AssignmentError as exc:
            return StepError(message=str(exc), element_id=exc.element_id, element_name=None,
                             task_id=exc.task_id, line=None, error_line=None, trace=[])
    project_case_fields(session, loaded.instance, loaded.definition)
    return None


def record_fired_timers(session: Session, loaded) -> list[FiredTimerEvent]:
    """Write one history entry per timer the workflow fired since the last call; return them."""
    fired = take_fired_timers(loaded.runner)
    for event in fired:
        audit.record(session, instance=loaded.instance, kind=EntryKind.TIMER, actor="system",
                     task_id=event.task_id, element_id=event.element_id, at=event.fired_at,
                     payload={"name": event.name, "due_at": event.due_at.isoformat() if event.due_at else None,
                              "fired_at": event.fired_at.isoformat()})
    return fired


class _AssignmentError(Exception):
    def __init__(self, message: str, element_id: str, task_id: str):
        super().__init__(message)
        self.element_id, self.task_id = element_id, task_id


def sync_tasks(session: Session, loaded) -> None:
    """Open rows for newly ready user tasks; close rows the workflow no longer offers."""
    instance, definition, runner = loaded.instance, loaded.definition, loaded.runner
    now = clock.now()
    ready = {t.id: t for t in runner.ready_user_tasks()}
    # Only rows that can change: open ones, and earlier rows of tasks that are ready again (a
    # return reopens the same task). A long-lived case has thousands of finished rows.
    rows = {r.id: r for r in session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id,
        or_(HumanTask.status == TaskStatus.OPEN, HumanTask.id.in_(list(ready)))))}
    for row in rows.values():
        if row.status == TaskStatus.OPEN and row.id not in ready:
            # Taken away by the flow itself: an interrupting timer, a return, a cancellation.
            row.status, row.completed_at = TaskStatus.CANCELLED, now
    defaults = definition.config or {}
    for task_id, task in ready.items():
        row = rows.get(task_id)
        if row is not None and row.status == TaskStatus.OPEN:
            continue
        props = task.properties
        org_id = _candidate_org(session, runner, task, props.get("candidateOrg") or defaults.get("candidate_org"), instance)
        assignee_id = _assignee(session, runner, task, props.get("assignee"))
        if row is None:
            row = HumanTask(id=task_id, instance_id=instance.id)
            session.add(row)
        elif assignee_id is None and row.completed_by_id:
            # A task sent back (退回) returns to whoever did it last time.
            assignee_id = row.completed_by_id
        row.element_id, row.title, row.process_key = task.element_id, task.name, instance.process_key
        row.candidate_role = role_for_lane(task.lane)
        row.candidate_org_id, row.assignee_id, row.owner_id = org_id, assignee_id, None
        row.status, row.created_at, row.completed_at, row.completed_by_id = TaskStatus.OPEN, now, None, None
        row.form_key = form_key_for(instance.process_key, task.element_id, props.get("formKey"))
        row.due_at = _moment(runner, task, props.get("dueDate"))
        row.warn_at = _moment(runner, task, props.get("warnAt"))
        row.multi_index = task.multi_index
        if assignee_id:
            notify(session, user_ids=[assignee_id], kind=NotificationKind.TASK, instance_id=instance.id,
                   task_id=task_id, text=f"新任务：{task.name}（{instance.title}）")
    session.flush()


def _candidate_org(session, runner, task, expr, instance: Instance) -> int:
    if not expr:
        return instance.org_id
    code = _evaluate(runner, task, expr, "candidateOrg")
    if not code:
        return instance.org_id
    try:
        return get_org(session, code=str(code)).id
    except Exception:
        raise _AssignmentError(f"任务“{task.name}”的候选组织 '{code}' 不存在", task.element_id, task.id) from None


def _assignee(session, runner, task, expr) -> int | None:
    if not expr:
        return None
    username = _evaluate(runner, task, expr, "assignee")
    if not username:
        return None
    user_id = session.scalar(select(User.id).where(User.username == str(username), User.active.is_(True)))
    if user_id is None:
        raise _AssignmentError(f"任务“{task.name}”的办理人 '{username}' 不存在或已停用", task.element_id, task.id)
    return user_id


def _moment(runner, task, expr):
    if not expr:
        return None
    value = _evaluate(runner, task, expr, "dueDate/warnAt")
    try:
        return parse_moment(value)
    except (TypeError, ValueError) as exc:
        raise _AssignmentError(f"任务“{task.name}”的期限表达式结果无效：{exc}", task.element_id, task.id) from None


def _evaluate(runner, task, expr: str, what: str):
    try:
        return runner.evaluate(expr, task.data)
    except Exception as exc:
        raise _AssignmentError(f"任务“{task.name}”的 {what} 表达式出错：{exc}", task.element_id, task.id) from None


def sync_waits(session: Session, loaded) -> list[EventWait]:
    """Rewrite the instance's waiting timers and messages as rows; return the message waits."""
    instance, runner = loaded.instance, loaded.runner
    current = {w.task_id: w for w in runner.waiting_events()}
    rows = {r.task_id: r for r in session.scalars(select(EventWait).where(EventWait.instance_id == instance.id))}
    for task_id, row in rows.items():
        if task_id not in current:
            session.delete(row)
    now = clock.now()
    for task_id, wait in current.items():
        row = rows.get(task_id)
        correlation = _expected_correlation(runner, wait) if wait.kind == "message" else {}
        if row is None:
            row = EventWait(instance_id=instance.id, task_id=task_id, created_at=now, attempts=0)
            session.add(row)
        row.element_id, row.kind, row.name = wait.element_id, wait.kind, wait.name
        if row.due_at != wait.due_at:
            row.due_at, row.attempts, row.next_attempt_at, row.last_error = wait.due_at, 0, None, None
        row.correlation = correlation
    session.flush()
    return [r for r in session.scalars(select(EventWait).where(EventWait.instance_id == instance.id, EventWait.kind == "message"))]


def _expected_correlation(runner, wait) -> dict:
    values = {}
    for prop, expr in (wait.detail.get("properties") or {}).items():
        try:
            values[prop] = runner.evaluate(expr, wait.detail.get("data") or {})
        except Exception:
            values[prop] = None  # not known yet: matches nothing until the data has it
    return values


def correlation_matches(expected: dict, given: dict) -> bool:
    """Tell whether a message's correlation satisfies what a waiting instance expects."""
    return all(v is not None and given.get(k) is not None and str(given[k]) == str(v)
               for k, v in expected.items())


def deliver_kept_messages(session: Session, loaded, waits: list[EventWait], *, actor: Actor):
    """Hand the oldest matching kept message to this instance; None when nothing was delivered."""
    if not waits:
        return None
    names = {w.name for w in waits}
    # SKIP LOCKED: a message another case is taking right now is not ours to take (PostgreSQL;
    # SQLite's single writer needs no row lock).
    pending = session.scalars(select(PendingMessage).where(
        PendingMessage.name.in_(names), PendingMessage.consumed_at.is_(None)).order_by(PendingMessage.id)
        .with_for_update(skip_locked=True))
    for message in pending:
        for wait in waits:
            if wait.name == message.name and correlation_matches(wait.correlation, message.correlation):
                if not loaded.runner.catch_message(message.name, message.payload, message.correlation,
                                                   task_ids=[wait.task_id]):
                    continue
                message.consumed_at, message.consumed_by_instance_id = clock.now(), loaded.instance.id
                audit.record(session, instance=loaded.instance, kind=EntryKind.MESSAGE, actor=actor.username,
                             element_id=wait.element_id,
                             payload={"name": message.name, "correlation": message.correlation,
                                      "payload": message.payload, "kept_since": message.received_at.isoformat()})
                error = loaded.runner.run_engine_steps()
                loaded.instance.state = loaded.runner.dump()
                loaded.instance.data = loaded.runner.data()
                return error or True
    return None


def project_case_fields(session: Session, instance: Instance, definition) -> None:
    """Copy the searchable fields declared in the process config into indexed rows."""
    fields = (definition.config or {}).get("search_fields") or []
    if not fields:
        return
    wanted = set()
    for spec in fields:
        name, path = spec["name"], spec.get("path", spec["name"])
        for value in extract(instance.data, path):
            if value not in (None, ""):
                wanted.add((name, str(value)[:300]))
    existing = set(session.execute(select(CaseField.name, CaseField.value).where(CaseField.instance_id == instance.id)).all())
    if wanted == existing:
        return
    session.execute(delete(CaseField).where(CaseField.instance_id == instance.id))
    session.add_all(CaseField(instance_id=instance.id, name=n, value=v) for n, v in sorted(wanted))


def extract(data, path: str) -> list:
    """Follow a path like ``parties[*].name`` through nested data; return every value found."""
    values = [data]
    for part in path.split("."):
        many = part.endswith("[*]")
        key = part[:-3] if many else part
        nxt = []
        for v in values:
            if isinstance(v, dict) and key in v:
                item = v[key]
                if many and isinstance(item, list):
                    nxt.extend(item)
                else:
                    nxt.append(item)
        values = nxt
    return [v for v in values if not isinstance(v, (dict, list))]
