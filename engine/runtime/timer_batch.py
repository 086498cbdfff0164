"""Save the firings of many cases' timers with a few statements for all of them.

A timer that fires in a plain case (afterwards no user task is ready and the case waits for
nothing but timers, and the firing did not fail) changes the same rows in every such case: its
wait rows, the history (one entry per firing, one more if the case finished), any task the flow
took away, and the instance row. ``save_plain`` writes those once for a batch of cases (one
DELETE, INSERT or UPDATE each, executemany) where ``lifecycle.save`` would send them once per case:
on PostgreSQL the round trips, not the statements' work, were most of a firing's cost
(docs/performance.md, timers). What it writes is what ``lifecycle.save`` and ``sync.sync_after_step``
write for such a case; every other case is left to them (``take_plain`` says which).
tests/engine/test_timer_batch.py compares the rows both paths leave. A restore, a title and the
workflow cache's key come from engine/runtime/lifecycle.py (``restore_locked``, ``case_title``,
``state_fingerprint``), the ones ``lifecycle.load`` and ``lifecycle.save`` use.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, joinedload

from .. import clock
from ..context import context_of
from ..definitions.deployment import WITHOUT_JSON
from ..definitions.scripting import use_calendar
from ..errors import NotFound
from ..org.orgs import Actor
from ..spiff import cache as workflow_cache
from ..spiff.timers import FiredTimerEvent, take_fired_timers
from ..spiff.workflow import StepError, WaitingEvent
from ..store import audit, case_state
from ..store.audit import EntryKind
from ..store.models import EventWait, HumanTask, Instance, InstanceStatus, TaskStatus
from ..store.rows import put
from . import lifecycle
from . import sync

__all__ = ["PlainFiring", "lock_cases", "task_rows", "restore", "take_plain", "save_plain"]

_LOCK = (select(Instance).where(Instance.id.in_(bindparam("ids", expanding=True))).order_by(Instance.id)
         .with_for_update(of=Instance)
         .options(joinedload(Instance.definition, innerjoin=True).options(*WITHOUT_JSON))
         .execution_options(populate_existing=True))
_WAITS = EventWait.__table__
_SELECT_WAITS = select(_WAITS.c.id, _WAITS.c.instance_id, _WAITS.c.task_id, _WAITS.c.element_id, _WAITS.c.kind,
                       _WAITS.c.name, _WAITS.c.due_at, _WAITS.c.correlation).where(
    _WAITS.c.instance_id.in_(bindparam("ids", expanding=True)))
_DELETE_WAITS = delete(_WAITS).where(_WAITS.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_WAITS = insert(_WAITS)
_UPDATE_WAIT_STATEMENTS: dict[tuple, object] = {}
_TASKS = HumanTask.__table__
# What sync_tasks does to a case with no user task ready: close the rows still open.
_CANCEL_OPEN_TASKS = update(_TASKS).where(
    _TASKS.c.instance_id.in_(bindparam("ids", expanding=True)), _TASKS.c.status == TaskStatus.OPEN.value
).values(status=TaskStatus.CANCELLED.value, completed_at=bindparam("now"))


@dataclass
class PlainFiring:
    """A case whose timers fired, to be saved with the rest of its batch."""

    loaded: lifecycle.Loaded
    fired: list[FiredTimerEvent]


def lock_cases(session: Session, instance_ids: list[int]) -> list[Instance]:
    """Lock the cases in id order, with their definitions, in one statement.

    Id order, as one case at a time in sorted order took them: two sweeps whose batches share a
    case cannot deadlock on each other.
    """
    wanted = sorted(set(instance_ids))
    instances = list(session.scalars(_LOCK, {"ids": wanted}))
    if len(instances) != len(wanted):
        missing = sorted(set(wanted) - {i.id for i in instances})
        raise NotFound(f"案件 {missing} 不存在", message_en=f"instances {missing} not found")
    return instances


def task_rows(session: Session, instances: list[Instance]) -> dict[int, list]:
    """The stored task rows of the locked cases this process does not keep a workflow of, in one statement."""
    wanted = [i.id for i in instances if i.id not in workflow_cache.live_workflows and case_state.in_rows(i.state)]
    return case_state.read_many(session.connection(), wanted)


def restore(session: Session, instance: Instance, rows: dict[int, list] | None = None) -> lifecycle.Loaded:
    """Restore the workflow of an instance locked by ``lock_cases`` (as ``lifecycle.load`` would).

    ``rows``: ``task_rows`` of the batch; a case not in it reads its own.
    """
    # lifecycle.load without its own SELECT of the case
    return lifecycle.restore_locked(session, instance, (rows or {}).get(instance.id))


def take_plain(session: Session, loaded: lifecycle.Loaded, error: StepError | None) -> PlainFiring | None:
    """Take the case's fired timers for ``save_plain`` if its save is plain; None leaves the case to ``lifecycle.save``.

    Plain: the firing did not fail, fired something, left no user task ready (sync_tasks then
    only closes open rows) and the case waits for timers only (no kept message to deliver).
    """
    if error is not None or loaded.instance.status != InstanceStatus.RUNNING:
        return None
    runner = loaded.runner
    if runner.ready_user_tasks():
        return None
    with use_calendar(context_of(session).calendar(session)):
        if any(w.kind != "timer" for w in runner.waiting_events()):
            return None
    fired = take_fired_timers(runner)
    if not fired:
        return None
    return PlainFiring(loaded, fired)


def save_plain(session: Session, firings: list[PlainFiring], *, actor: Actor) -> None:
    """Persist the plain firings of several locked cases as ``lifecycle.save`` would, set-based.

    Per case: the workflow's state and data, title, one history entry per fired timer (as
    ``sync.record_fired_timers``), its wait rows brought in line (as ``sync.sync_waits``), open
    task rows closed, searchable fields, and the finish if the flow reached its end.
    """
    if not firings:
        return
    conn = session.connection()
    ids = [f.loaded.instance.id for f in firings]
    rows: dict[int, dict[str, object]] = defaultdict(dict)
    for row in conn.execute(_SELECT_WAITS, {"ids": ids}):
        rows[row.instance_id][row.task_id] = row
    calendar = context_of(session).calendar(session)
    entries: list[dict] = []
    gone: list[int] = []
    changed: list[tuple[int, dict]] = []
    new_waits: list[dict] = []
    stored = case_state.store_many(conn, [(f.loaded.instance.id, f.loaded.runner) for f in firings])
    known: dict[int, sync.KnownRows] = {}
    for firing in firings:
        loaded = firing.loaded
        loaded.rows_known = None  # rows written here, not by sync_after_step
        instance, runner = loaded.instance, loaded.runner
        for event in firing.fired:  # sync.record_fired_timers
            audit.record(session, instance=instance, kind=EntryKind.TIMER, actor="system",
                         task_id=event.task_id, element_id=event.element_id, at=event.fired_at,
                         payload={"name": event.name, "due_at": event.due_at.isoformat() if event.due_at else None,
                                  "fired_at": event.fired_at.isoformat()}, into=entries)
        now = clock.now()
        # Set as committed values: the batch's UPDATE below writes them, no flush does.
        case_state.put_state(conn, instance, runner, kept=stored[instance.id], updated_at=now)
        put(instance, title=lifecycle.case_title(session, loaded.definition, instance.data, instance))
        with use_calendar(calendar):
            current = {w.task_id: w for w in runner.waiting_events()}
        _diff_waits(instance.id, current, rows.get(instance.id, {}), now, gone, changed, new_waits)
        fields = sync.project_case_fields(session, instance, loaded.definition)
        # What the statements below leave: the next step on the kept workflow need not read them.
        known[instance.id] = sync.known_after_timers(current.values(), fields=fields)
        loaded.new = False
        if runner.completed and instance.status != InstanceStatus.CANCELLED:
            put(instance, status=InstanceStatus.COMPLETED, ended_at=now, end_event=runner.end_event(), error=None)
            audit.record(session, instance=instance, kind=EntryKind.FINISHED, actor=actor.username,
                         element_id=instance.end_event, into=entries)
    if gone:
        conn.execute(_DELETE_WAITS, {"ids": gone})
    for wait_id, values in changed:
        conn.execute(_update_wait(tuple(sorted(values))), {"w_id": wait_id, **{f"v_{k}": v for k, v in values.items()}})
    if new_waits:
        conn.execute(_INSERT_WAITS, new_waits)
    sync.forget_rows(session, EventWait, gone, [wait_id for wait_id, _ in changed])
    conn.execute(_CANCEL_OPEN_TASKS, {"ids": ids, "now": clock.now()})
    audit.write(session, entries)
    lifecycle.write_cases(session, [f.loaded.instance for f in firings])
    session.flush()
    if gone or new_waits or changed:
        # What engine/runtime/timer_loop.py's flush listener notes for ORM writes: wake the loop on commit.
        session.info["pingan_timers_changed"] = True
    for firing in firings:
        instance = firing.loaded.instance
        if instance.status in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
            workflow_cache.keep_after_commit(session, instance_id=instance.id, version=instance.lock_version,
                                             workflow=firing.loaded.runner.wf,
                                             fingerprint=lifecycle.state_fingerprint(instance),
                                             companion=known[instance.id])


def _diff_waits(instance_id: int, current: dict[str, WaitingEvent], rows: dict, now, gone: list,
                changed: list, new_waits: list) -> None:
    # sync.sync_waits for a case that waits for timers only (their correlation is always {}).
    gone += [r.id for task_id, r in rows.items() if task_id not in current]
    for task_id, wait in current.items():
        row = rows.get(task_id)
        if row is None:
            new_waits.append(dict(instance_id=instance_id, task_id=task_id, element_id=wait.element_id,
                                  kind=wait.kind, name=wait.name, due_at=wait.due_at, correlation={},
                                  created_at=now, attempts=0, next_attempt_at=None, last_error=None))
            continue
        values = {}
        if (row.element_id, row.kind, row.name, row.correlation) != (wait.element_id, wait.kind, wait.name, {}):
            values.update(element_id=wait.element_id, kind=wait.kind, name=wait.name, correlation={})
        if row.due_at != wait.due_at:
            values.update(due_at=wait.due_at, attempts=0, next_attempt_at=None, last_error=None)
        if values:
            changed.append((row.id, values))


def _update_wait(keys: tuple):
    stmt = _UPDATE_WAIT_STATEMENTS.get(keys)
    if stmt is None:
        stmt = update(_WAITS).where(_WAITS.c.id == bindparam("w_id")).values(
            {_WAITS.c[k]: bindparam(f"v_{k}") for k in keys})
        _UPDATE_WAIT_STATEMENTS[keys] = stmt
    return stmt
