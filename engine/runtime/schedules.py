"""Timer start events: a deployed process whose start event is a timer starts a new case each time.

SpiffWorkflow would run a cycle's body again and again inside one workflow; in BPMN every
occurrence of a timer start event starts a new process instance. So the latest version of such a
process gets a ``timer_schedules`` row per timer start event, with the next due time; a sweep
starts a case (as the system, in the root org) and fires its start event at once.

Occurrences missed while nothing was sweeping are not made up one by one: the first sweep after
them starts one case and the schedule moves on to its next future occurrence.
"""
from __future__ import annotations

import logging
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from ..context import Services, context_of
from ..definitions.deployment import latest_definitions, runtime_spec
from ..definitions.scripting import use_calendar
from ..org.orgs import SYSTEM
from ..spiff.timers import fire_start_event, plan_start_timer, start_timer_events
from ..store import audit
from ..store.audit import EntryKind
from ..store.models import Org, ProcessDefinition, TimerSchedule
from . import lifecycle

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=5)
RESYNC_EVERY = 60.0  # seconds; a deployment elsewhere is noticed sooner through its new id
# Per database engine: (signature of the deployed definitions, when it was last synced).
_synced: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class FiredTimer:
    """One timer that fired (``ok``), or whose firing failed or left the instance in error.

    A case's own timer (``engine/runtime/timers.py``) or a schedule's timer start event, which is
    why it lives here, below the sweep that reports both.
    """

    instance_id: int
    element_id: str
    due_at: datetime
    fired_at: datetime
    ok: bool
    error: str | None


def sync_schedules(session: Session) -> int:
    """Make the schedules match the timer start events of every process's latest version; return rows changed."""
    wanted = {}
    for definition in latest_definitions(session):
        spec, _ = runtime_spec(definition)
        for event in start_timer_events(spec):
            wanted[(definition.key, event.element_id)] = (definition, event)
    rows = {(r.process_key, r.element_id): r for r in session.scalars(select(TimerSchedule))}
    changed = 0
    for key, row in rows.items():
        if key not in wanted:
            session.delete(row)
            changed += 1
    for key, (definition, event) in wanted.items():
        row = rows.get(key)
        if row is not None and row.definition_id == definition.id:
            continue
        changed += 1
        if row is not None and row.expression == event.expression:
            row.definition_id = definition.id  # a new version with the same timer keeps its rhythm
            continue
        if row is None:
            row = TimerSchedule(process_key=definition.key, element_id=event.element_id, created_at=clock.now())
            session.add(row)
        row.definition_id, row.expression = definition.id, event.expression
        row.fired_count, row.attempts, row.next_attempt_at, row.last_error = row.fired_count or 0, 0, None, None
        try:
            with use_calendar(context_of(session).calendar(session)):
                value = context_of(session).script_engine.environment.evaluate(event.expression, {})
            row.due_at, row.period_seconds, row.remaining = plan_start_timer(
                event.kind, value, anchor=definition.deployed_at)
            _skip_past_occurrences(row, clock.now())
        except Exception as exc:  # a bad expression disables the schedule, visibly, not the sweep
            log.warning("timer start event %s/%s: %s", definition.key, event.element_id, exc)
            row.due_at, row.period_seconds, row.remaining = None, None, 0
            row.last_error = f"定时启动表达式无效：{exc}"[:2000]
    session.flush()
    return changed


def _skip_past_occurrences(row: TimerSchedule, now: datetime) -> None:
    # A cycle that began before the schedule existed ("daily from 1 March") starts with the
    # next occurrence, not with one case for every day already gone.
    if not row.period_seconds or row.due_at is None:
        return
    period = timedelta(seconds=row.period_seconds)
    while row.due_at < now and row.remaining != 0:
        row.due_at += period
        if row.remaining > 0:
            row.remaining -= 1
    if row.remaining == 0:
        row.due_at = None


def sync_if_deployed(services: Services) -> None:
    """Re-sync schedules when the set of deployed definitions changed (or once a minute)."""
    key = services.engine
    with services.session() as s:
        signature = tuple(s.execute(select(func.count(ProcessDefinition.id), func.max(ProcessDefinition.id),
                                           func.max(ProcessDefinition.deployed_at))).one())
    seen = _synced.get(key)
    if seen and seen[0] == signature and time.monotonic() - seen[1] < RESYNC_EVERY:
        return
    try:
        with services.session() as s:
            sync_schedules(s)
    except IntegrityError:
        return  # another worker inserted the same schedule first: theirs stands
    _synced[key] = (signature, time.monotonic())


def fire_schedule(session: Session, *, schedule_id: int, now: datetime) -> FiredTimer | None:
    """Start one case for a due schedule and move the schedule on; None if it is not due (any more)."""
    row = session.scalars(select(TimerSchedule).where(TimerSchedule.id == schedule_id)
                          .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
    if row is None or row.due_at is None or row.due_at > now:
        return None
    definition = session.get(ProcessDefinition, row.definition_id)
    root = session.scalar(select(Org).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1))
    instance = lifecycle.start_instance(session, process_key=definition.key, version=definition.version,
                                      actor=SYSTEM, org_code=root.code if root else None)
    loaded = lifecycle.load(session, instance_id=instance.id)
    error = lifecycle.advance(session, loaded, lambda: fire_start_event(loaded.runner, row.element_id))
    audit.record(session, instance=loaded.instance, kind=EntryKind.TIMER, actor=SYSTEM.username,
                 element_id=row.element_id, at=now,
                 payload={"due_at": row.due_at.isoformat(), "fired_at": now.isoformat(), "schedule_id": row.id})
    instance = lifecycle.save(session, loaded, actor=SYSTEM, error=error)
    fired = FiredTimer(instance.id, row.element_id, row.due_at, now, error is None,
                       error.message if error else None)
    row.fired_count += 1
    row.last_fired_at, row.last_instance_id = now, instance.id
    row.attempts, row.next_attempt_at, row.last_error = 0, None, None
    _move_on(row, now)
    session.flush()
    return fired


def _move_on(row: TimerSchedule, now: datetime) -> None:
    if row.remaining > 0:
        row.remaining -= 1
    if not row.period_seconds or row.remaining == 0:
        row.due_at = None
        return
    period = timedelta(seconds=row.period_seconds)
    due = row.due_at + period
    while due <= now and row.remaining != 0:  # missed occurrences collapse into the one just run
        due += period
        if row.remaining > 0:
            row.remaining -= 1
    row.due_at = due if row.remaining != 0 else None


def record_failure(session: Session, *, schedule_id: int, now: datetime, error: BaseException) -> None:
    """Retry a failed occurrence later; after MAX_ATTEMPTS skip it, keeping the error for an admin."""
    row = session.get(TimerSchedule, schedule_id, with_for_update=True)
    if row is None:
        return
    row.attempts += 1
    row.last_error = (getattr(error, "message", None) or str(error) or type(error).__name__)[:2000]
    row.next_attempt_at = now + RETRY_BASE * 2 ** (row.attempts - 1)
    if row.attempts >= MAX_ATTEMPTS:
        log.error("schedule %s/%s gave up an occurrence: %s", row.process_key, row.element_id, row.last_error)
        row.attempts, row.next_attempt_at = 0, None
        _move_on(row, now)
    session.flush()


def _due_ids(session: Session, now: datetime) -> list[int]:
    return list(session.scalars(select(TimerSchedule.id).where(
        TimerSchedule.due_at <= now,
        or_(TimerSchedule.next_attempt_at.is_(None), TimerSchedule.next_attempt_at <= now))
        .order_by(TimerSchedule.due_at)))


def fire_due_schedules(session: Session, *, now: datetime) -> list[FiredTimer]:
    """Sync, then start the due schedules' cases in the caller's transaction (a SAVEPOINT each)."""
    sync_schedules(session)
    fired = []
    for schedule_id in _due_ids(session, now):
        try:
            with session.begin_nested():
                result = fire_schedule(session, schedule_id=schedule_id, now=now)
        except Exception as exc:
            log.warning("schedule %s failed: %s", schedule_id, exc)
            record_failure(session, schedule_id=schedule_id, now=now, error=exc)
            continue
        if result is not None:
            fired.append(result)
    return fired


def sweep_schedules(services: Services, *, now: datetime) -> list[FiredTimer]:
    """Start the due schedules' cases, one transaction each; carry on past failures."""
    fired = []
    try:
        sync_if_deployed(services)
        with services.session() as s:
            ids = _due_ids(s, now)
    except Exception:
        log.exception("schedule sync failed")
        return fired
    for schedule_id in ids:
        try:
            with services.session() as s:
                result = fire_schedule(s, schedule_id=schedule_id, now=now)
        except Exception as exc:
            log.warning("schedule %s failed: %s", schedule_id, exc)
            try:
                with services.session() as s:
                    record_failure(s, schedule_id=schedule_id, now=now, error=exc)
            except Exception:
                log.exception("could not record the failure of schedule %s", schedule_id)
            continue
        if result is not None:
            fired.append(result)
    return fired


def next_due(session: Session) -> datetime | None:
    """Return the earliest moment a schedule wants to start a case."""
    return session.scalar(select(func.min(TimerSchedule.due_at)).where(TimerSchedule.due_at.is_not(None)))
