"""After every engine step: project the workflow's open tasks, waits and search fields into tables."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, cast, delete, insert, literal_column, null, or_, select, union_all, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from .. import clock
from ..context import context_of
from ..definitions.form_contract import accept_payload, message_contract
from ..definitions.lint import form_key_for
from ..definitions.scripting import parse_moment, use_calendar
from ..errors import FormInvalid
from ..org.orgs import Actor, role_for_lane
from ..spiff.timers import FiredTimerEvent, take_fired_timers
from ..spiff.values import jsonable
from ..spiff.workflow import StepError
from ..store import audit, case_state
from ..store.audit import EntryKind
from ..store.models import CaseField, EventWait, HumanTask, Instance, Org, PendingMessage, TaskStatus, User
from ..store.rows import insert_now_or_later, put
from .notifications import NotificationKind, notify, notify_pool, pool_notice

# Delivering a kept message can make the case wait for another kept message; bound the chain.
_MAX_DELIVERY_ROUNDS = 20


def sync_after_step(session: Session, loaded, *, actor: Actor) -> StepError | None:
    """Bring tasks, waits and case fields in line with the workflow; deliver kept messages.

    On success ``loaded.rows_known`` says what the projection rows now are (``KnownRows``).
    """
    # A case started in this transaction has no rows yet: nothing to read back the first time.
    fresh = loaded.new
    # Otherwise the rows are what the last save left, when that is known and no task was made
    # ready again under its own id (a return reopens its row); else the three projections'
    # rows are read in one statement. A delivered message (which moves the workflow on) has the
    # waits and task rows read again.
    known, loaded.rows_known = loaded.rows_known, None  # good until this step writes
    if fresh:
        rows = None
    elif known is not None and not loaded.runner.went_back:
        rows = known.projections(loaded.runner)
    else:
        rows = read_projections(session, loaded)
    wait_rows: dict = {}
    with use_calendar(context_of(session).calendar(session)):
        for _ in range(_MAX_DELIVERY_ROUNDS):
            waits = sync_waits(session, loaded, fresh=fresh, rows=rows.waits if rows else None, into=wait_rows)
            fresh = False
            delivered = deliver_kept_messages(session, loaded, waits, actor=actor)
            if delivered is None:
                break
            if rows is not None:
                rows.waits = rows.tasks = None
            if isinstance(delivered, StepError):
                return delivered
        record_fired_timers(session, loaded)
        try:
            open_tasks = sync_tasks(session, loaded, fresh=loaded.new, rows=rows.tasks if rows else None)
        except _AssignmentError as exc:
            return StepError(message=str(exc), element_id=exc.element_id, element_name=None,
                             task_id=exc.task_id, line=None, error_line=None, trace=[])
    fields = project_case_fields(session, loaded.instance, loaded.definition, fresh=loaded.new,
                                 existing=rows.fields if rows else None, later=loaded.later)
    loaded.rows_known = KnownRows(wait_rows, open_tasks, fields)
    return None


@dataclass
class Projections:
    """A case's projection rows as one step found them: waits by task id, task rows that can change, fields."""

    waits: dict | None
    tasks: dict | None
    fields: set | None


@dataclass(frozen=True)
class KnownRows:
    """A case's projection rows as a successful ``sync_after_step`` left them, for the next step to start from.

    Kept beside the workflow (engine/spiff/cache.py) by the save that wrote them, so it is used
    only while the case's row is at that save's version. Every writer of these rows either saves
    the case, bumping the version, or takes the kept workflow without putting it back; and within
    a transaction, code that writes them outside ``sync_after_step`` sets ``rows_known`` to None.
    A task row this session holds as an object (finish_task's) is laid over them by ``sync_tasks``.
    tests/engine/test_known_rows.py compares them with the rows at every step of every scenario.
    """

    waits: dict  # task id -> _WaitRow
    open_tasks: frozenset  # ids of the open task rows
    fields: frozenset | None  # (name, value) rows; None: not known (the process declares no search field)

    def projections(self, runner) -> Projections:
        """What ``read_projections`` would read now."""
        ready_tasks = runner.ready_user_tasks()
        return Projections(dict(self.waits), {
            "ready": frozenset(t.id for t in ready_tasks), "rows": dict.fromkeys(self.open_tasks, (TaskStatus.OPEN, None)),
            "tasks": ready_tasks}, None if self.fields is None else set(self.fields))


def known_after_timers(waits, *, fields: frozenset | None) -> KnownRows:
    """``KnownRows`` for a case whose rows ``timer_batch.save_plain`` wrote: these timer waits, no open task."""
    return KnownRows({w.task_id: _WaitRow(w.task_id, w.element_id, w.kind, w.name, w.due_at, {}) for w in waits},
                     frozenset(), fields)


@dataclass(frozen=True)
class _WaitRow:
    task_id: str
    element_id: str
    kind: str
    name: str
    due_at: object
    correlation: dict


def read_projections(session: Session, loaded) -> Projections:
    """Read what ``sync_waits``, ``sync_tasks`` and ``project_case_fields`` compare with, in one statement."""
    ready_tasks = loaded.runner.ready_user_tasks()
    ready = [t.id for t in ready_tasks]
    waits, tasks, fields = {}, {}, set()
    for r in session.connection().execute(_SELECT_PROJECTIONS, {"instance_id": loaded.instance.id, "ready": ready}):
        if r.src == 0:
            waits[r.a] = _WaitRow(r.a, r.b, r.c, r.d, r.due_at, r.correlation)
        elif r.src == 1:
            tasks[r.a] = (r.b, r.n)
        else:
            fields.add((r.a, r.b))
    return Projections(waits, {"ready": frozenset(ready), "rows": tasks, "tasks": ready_tasks}, fields)


def record_fired_timers(session: Session, loaded) -> list[FiredTimerEvent]:
    """Write one history entry per timer the workflow fired since the last call; return them."""
    fired = take_fired_timers(loaded.runner)
    for event in fired:
        audit.record(session, instance=loaded.instance, kind=EntryKind.TIMER, actor="system",
                     task_id=event.task_id, element_id=event.element_id, at=event.fired_at,
                     payload={"name": event.name, "due_at": event.due_at.isoformat() if event.due_at else None,
                              "fired_at": event.fired_at.isoformat()}, into=loaded.entries)
    return fired


class _AssignmentError(Exception):
    def __init__(self, message: str, element_id: str, task_id: str):
        super().__init__(message)
        self.element_id, self.task_id = element_id, task_id


_TASKS = HumanTask.__table__
_SELECT_TASKS = select(_TASKS.c.id, _TASKS.c.status, _TASKS.c.completed_by_id).where(
    _TASKS.c.instance_id == bindparam("instance_id"),
    or_(_TASKS.c.status == TaskStatus.OPEN.value, _TASKS.c.id.in_(bindparam("ready", expanding=True))))
_INSERT_TASKS = insert(_TASKS)


def sync_tasks(session: Session, loaded, *, fresh: bool = False, rows: dict | None = None) -> frozenset:
    """Open rows for newly ready user tasks; close rows the workflow no longer offers; return the open ones' ids.

    Rows go through Core statements; an object this session holds for a row takes the values
    written (rows.put), and what other code changed on it and has not flushed counts as its state.
    """
    instance, definition, runner = loaded.instance, loaded.definition, loaded.runner
    now = clock.now()
    # read_projections' list when the workflow has not moved since (a delivered message drops ``rows``).
    ready = {t.id: t for t in (rows["tasks"] if rows is not None and "tasks" in rows else runner.ready_user_tasks())}
    conn = session.connection()
    # Only rows that can change: open ones, and earlier rows of tasks that are ready again (a
    # return reopens the same task). A long-lived case has thousands of finished rows.
    if fresh:
        rows = {}
    elif rows is not None and rows["ready"] == frozenset(ready):  # read_projections, for the same ready tasks
        rows = dict(rows["rows"])
    else:
        rows = {r.id: (r.status, r.completed_by_id) for r in conn.execute(
            _SELECT_TASKS, {"instance_id": instance.id, "ready": list(ready)})}
    # The objects this session holds for these rows: looked up by the session's few keys, not
    # by each of a large case's hundreds of open rows.
    held = {}
    for key in list(session.identity_map.keys()):
        if key[0] is HumanTask and key[1][0] in rows:
            obj = session.identity_map.get(key)
            if obj is not None:
                held[key[1][0]] = obj
                rows[key[1][0]] = (obj.status, obj.completed_by_id)
    for task_id, (status, _) in rows.items():
        if status == TaskStatus.OPEN and task_id not in ready:
            # Taken away by the flow itself: an interrupting timer, a return, a cancellation.
            _write_task(conn, held, task_id, status=TaskStatus.CANCELLED.value, completed_at=now)
    defaults = definition.config or {}
    new_rows, pending_pools = [], []
    for task_id, task in ready.items():
        status, completed_by_id = rows.get(task_id, (None, None))
        if status == TaskStatus.OPEN:
            continue
        props = task.properties
        org_id = _candidate_org(session, runner, task, props.get("candidateOrg") or defaults.get("candidate_org"), instance)
        assignee_id = _assignee(session, runner, task, props.get("assignee"))
        if status is not None and assignee_id is None and completed_by_id:
            # A task sent back (退回) returns to whoever did it last time.
            assignee_id = completed_by_id
        values = dict(
            element_id=task.element_id, title=task.name, process_key=instance.process_key,
            candidate_role=role_for_lane(task.lane), candidate_org_id=org_id, assignee_id=assignee_id,
            owner_id=None, status=TaskStatus.OPEN.value, created_at=now, completed_at=None, completed_by_id=None,
            form_key=form_key_for(instance.process_key, task.element_id, props.get("formKey")),
            due_at=_moment(runner, task, props.get("dueDate")), warn_at=_moment(runner, task, props.get("warnAt")),
            multi_index=task.multi_index)
        if status is None:
            new_rows.append({"id": task_id, "instance_id": instance.id, **values})  # draft: SQL NULL
        else:
            _write_task(conn, held, task_id, **values)
        if assignee_id:
            notify(session, user_ids=[assignee_id], kind=NotificationKind.TASK, instance_id=instance.id,
                   task_id=task_id, text=f"新任务：{task.name}（{instance.title}）")
        elif values["candidate_role"] and status is None:
            pending_pools.append(pool_notice(role=values["candidate_role"], org_id=org_id, instance_id=instance.id,
                                             task_id=task_id, text=f"新任务（待签收）：{task.name}（{instance.title}）"))
    if new_rows:
        insert_now_or_later(conn, _INSERT_TASKS, new_rows, loaded.later)
    notify_pool(session, pending_pools, loaded.later)
    return frozenset(ready)


def _write_task(conn, held: dict, task_id: str, **values) -> None:
    conn.execute(update(_TASKS).where(_TASKS.c.id == task_id).values(**values))
    obj = held.get(task_id)
    if obj is not None:  # the session's object says what the row now says
        put(obj, **values)


def _candidate_org(session, runner, task, expr, instance: Instance) -> int:
    if not expr:
        return instance.org_id
    code = _evaluate(runner, task, expr, "candidateOrg")
    if not code:
        return instance.org_id
    org_id = session.connection().execute(_ORG_ID, {"code": str(code)}).scalar()
    if org_id is None:
        raise _AssignmentError(f"任务“{task.name}”的候选组织 '{code}' 不存在", task.element_id, task.id)
    return org_id


_ORG_ID = select(Org.id).where(Org.code == bindparam("code"))
_ACTIVE_USER = select(User.id).where(User.username == bindparam("username"), User.active.is_(True))


def _assignee(session, runner, task, expr) -> int | None:
    if not expr:
        return None
    username = _evaluate(runner, task, expr, "assignee")
    if not username:
        return None
    user_id = session.connection().execute(_ACTIVE_USER, {"username": str(username)}).scalar()
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


@dataclass(frozen=True)
class MessageWait:
    """A message an instance waits for, with the correlation values it expects."""

    task_id: str
    element_id: str
    name: str
    correlation: dict


_WAITS = EventWait.__table__
_SELECT_WAITS = select(_WAITS.c.task_id, _WAITS.c.element_id, _WAITS.c.kind, _WAITS.c.name,
                       _WAITS.c.due_at, _WAITS.c.correlation).where(_WAITS.c.instance_id == bindparam("instance_id"))
# By case and task id (unique together): rows known from the last save have no id in hand.
_DELETE_WAITS = delete(_WAITS).where(_WAITS.c.instance_id == bindparam("instance_id"),
                                     _WAITS.c.task_id.in_(bindparam("task_ids", expanding=True)))
_INSERT_WAITS = insert(_WAITS)


def sync_waits(session: Session, loaded, *, fresh: bool = False, rows: dict | None = None,
               into: dict | None = None) -> list[MessageWait]:
    """Rewrite the instance's waiting timers and messages as rows; return the message waits.

    ``rows`` are the wait rows by task id when the caller knows them (``read_projections``,
    ``KnownRows``); ``into`` receives the rows as written, by task id.
    """
    instance, runner = loaded.instance, loaded.runner
    if into is None:
        loaded.rows_known = None  # written outside sync_after_step: what a save knew is past
    conn = session.connection()
    current = {w.task_id: w for w in runner.waiting_events()}
    if fresh:
        rows = {}
    elif rows is None:
        rows = {r.task_id: _WaitRow(*r) for r in conn.execute(_SELECT_WAITS, {"instance_id": instance.id})}
    gone = [task_id for task_id in rows if task_id not in current]
    if gone:
        conn.execute(_DELETE_WAITS, {"instance_id": instance.id, "task_ids": gone})
    now = clock.now()
    new_rows, changed, messages, timers_changed = [], [], [], bool(gone)
    written = {}
    for task_id, wait in current.items():
        row = rows.get(task_id)
        correlation = _expected_correlation(runner, wait) if wait.kind == "message" else {}
        if wait.kind == "message":
            messages.append(MessageWait(task_id, wait.element_id, wait.name, correlation))
        written[task_id] = _WaitRow(task_id, wait.element_id, wait.kind, wait.name, wait.due_at, correlation)
        if row is None:
            new_rows.append(dict(instance_id=instance.id, task_id=task_id, element_id=wait.element_id,
                                 kind=wait.kind, name=wait.name, due_at=wait.due_at, correlation=correlation,
                                 created_at=now, attempts=0, next_attempt_at=None, last_error=None))
            timers_changed = timers_changed or wait.kind == "timer"
            continue
        values = {}
        if (row.element_id, row.kind, row.name, row.correlation) != (wait.element_id, wait.kind, wait.name, correlation):
            values.update(element_id=wait.element_id, kind=wait.kind, name=wait.name, correlation=correlation)
        if row.due_at != wait.due_at:
            values.update(due_at=wait.due_at, attempts=0, next_attempt_at=None, last_error=None)
            timers_changed = True
        if values:
            conn.execute(update(_WAITS).where(_WAITS.c.instance_id == instance.id, _WAITS.c.task_id == task_id)
                         .values(**values))
            changed.append(task_id)
    if new_rows:
        conn.execute(_INSERT_WAITS, new_rows)
    if gone or changed:
        _forget_waits(session, instance.id, gone, changed)
    if timers_changed:
        # What engine/runtime/timer_loop.py's flush listener notes for ORM writes: wake the loop on commit.
        session.info["pingan_timers_changed"] = True
    if into is not None:
        into.clear()
        into.update(written)
    return messages


def _forget_waits(session: Session, instance_id: int, deleted: list, changed: list) -> None:
    """Keep wait objects this session holds (by case and task id) in line with rows just written."""
    held = [obj for obj in list(session.identity_map.values())
            if isinstance(obj, EventWait) and obj.instance_id == instance_id]
    for obj in held:
        if obj.task_id in deleted:
            session.expunge(obj)
        elif obj.task_id in changed:
            session.expire(obj)


def forget_rows(session: Session, model, deleted: list, changed: list) -> None:
    """Keep objects this session holds in line with rows just written by Core statements."""
    for ident in deleted:
        obj = session.identity_map.get(identity_key(model, ident))
        if obj is not None:
            session.expunge(obj)
    for ident in changed:
        obj = session.identity_map.get(identity_key(model, ident))
        if obj is not None:
            session.expire(obj)


def _expected_correlation(runner, wait) -> dict:
    values = {}
    for prop, expr in (wait.detail.get("properties") or {}).items():
        try:
            # As JSON (a script's Decimal or date as text): the row stores it, matching compares text.
            values[prop] = jsonable(runner.evaluate(expr, wait.detail.get("data") or {}))
        except Exception:
            values[prop] = None  # not known yet: matches nothing until the data has it
    return values


def correlation_matches(expected: dict, given: dict) -> bool:
    """Tell whether a message's correlation satisfies what a waiting instance expects."""
    return all(v is not None and given.get(k) is not None and str(given[k]) == str(v)
               for k, v in expected.items())


def deliver_kept_messages(session: Session, loaded, waits: list[MessageWait], *, actor: Actor):
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
        if message.consumed_at is not None:
            continue  # taken in an earlier round of this step, not flushed yet
        for wait in waits:
            if wait.name == message.name and correlation_matches(wait.correlation, message.correlation):
                try:  # kept for whichever process declares its payload; this one may not
                    payload = accept_payload(message_contract(session, definition=loaded.definition, name=message.name,
                                                              org_path=loaded.instance.org.path), message.payload)
                except FormInvalid:
                    continue
                if not loaded.runner.catch_message(message.name, payload, message.correlation,
                                                   task_ids=[wait.task_id]):
                    continue
                message.consumed_at, message.consumed_by_instance_id = clock.now(), loaded.instance.id
                audit.record(session, instance=loaded.instance, kind=EntryKind.MESSAGE, actor=actor.username,
                             element_id=wait.element_id,
                             payload={"name": message.name, "correlation": message.correlation,
                                      "payload": message.payload, "kept_since": message.received_at.isoformat()},
                             into=loaded.entries)
                error = loaded.runner.run_engine_steps()
                case_state.put_state(session.connection(), loaded.instance, loaded.runner)
                return error or True
    return None


_FIELDS = CaseField.__table__
_SELECT_FIELDS = select(_FIELDS.c.name, _FIELDS.c.value).where(_FIELDS.c.instance_id == bindparam("instance_id"))
_DELETE_FIELDS = delete(_FIELDS).where(_FIELDS.c.instance_id == bindparam("instance_id"),
                                       _FIELDS.c.name == bindparam("name"), _FIELDS.c.value == bindparam("value"))
_INSERT_FIELDS = insert(_FIELDS)


def _none(column):
    return cast(null(), column.type)


# read_projections: one row shape for three tables (the first branch's types decode every row).
#   src  n                a             b                c     d     due_at  correlation
#   0                     task id       element id       kind  name  due_at  correlation
#   1    completed_by_id  task row id   status
#   2                     field name    field value
_SELECT_PROJECTIONS = union_all(
    select(literal_column("0").label("src"), _none(_TASKS.c.completed_by_id).label("n"), _WAITS.c.task_id.label("a"),
           _WAITS.c.element_id.label("b"), _WAITS.c.kind.label("c"), _WAITS.c.name.label("d"),
           _WAITS.c.due_at.label("due_at"), _WAITS.c.correlation.label("correlation"))
    .where(_WAITS.c.instance_id == bindparam("instance_id")),
    _SELECT_TASKS.with_only_columns(  # the rows sync_tasks reads: open ones, and earlier rows of ready tasks
        literal_column("1"), _TASKS.c.completed_by_id, _TASKS.c.id, _TASKS.c.status, _none(_WAITS.c.kind),
        _none(_WAITS.c.name), _none(_WAITS.c.due_at), _none(_WAITS.c.correlation)),
    select(literal_column("2"), _none(_WAITS.c.id), _FIELDS.c.name, _FIELDS.c.value, _none(_WAITS.c.kind),
           _none(_WAITS.c.name), _none(_WAITS.c.due_at), _none(_WAITS.c.correlation))
    .where(_FIELDS.c.instance_id == bindparam("instance_id")))


def project_case_fields(session: Session, instance: Instance, definition, *, fresh: bool = False,
                        existing: set | None = None, later: list | None = None) -> frozenset | None:
    """Copy the searchable fields declared in the process config into indexed rows; return them.

    ``existing`` are the case's (name, value) rows when the caller knows them (``read_projections``).
    None when the process declares no search field (its rows, if any, are left alone unread).
    New rows go into ``later`` when given (``rows.insert_now_or_later``).
    """
    fields = (definition.config or {}).get("search_fields") or []
    if not fields:
        return None
    wanted = set()
    for spec in fields:
        name, path = spec["name"], spec.get("path", spec["name"])
        for value in extract(instance.data, path):
            if value not in (None, ""):
                wanted.add((name, str(value)[:300]))
    conn = session.connection()
    if fresh:
        existing = set()
    elif existing is None:
        existing = set(tuple(r) for r in conn.execute(_SELECT_FIELDS, {"instance_id": instance.id}))
    # Only the rows that changed: a field's old value goes, its new one comes in.
    gone, added = sorted(existing - wanted), sorted(wanted - existing)
    if gone:
        conn.execute(_DELETE_FIELDS, [{"instance_id": instance.id, "name": n, "value": v} for n, v in gone])
    if added:
        insert_now_or_later(conn, _INSERT_FIELDS, [{"instance_id": instance.id, "name": n, "value": v} for n, v in added],
                            later)
    return frozenset(wanted)


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
