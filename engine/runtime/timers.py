"""Fire due timers: the one sweep that the embedded loop, Celery workers and the tests share.

``event_waits`` rows say which instance waits for which timer until when; they are an index, not
the truth. Every firing re-checks under the instance lock what the workflow itself is waiting
for, so a row fired twice (two workers, a lease that ran out) advances the instance once.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from .. import clock
from ..board import aggregates as board_tallies, warnings
from ..context import Services
from ..errors import EngineError
from ..org.orgs import SYSTEM
from ..spiff.timers import fire_due_timers
from ..store import audit, case_state, tallies
from ..store.audit import EntryKind
from ..store.models import EventWait, Instance, InstanceStatus
from . import deadlines, lifecycle, schedules, timer_batch
from .schedules import FiredTimer
from .sync import record_fired_timers, sync_waits
from .tasks import urge_task

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5                      # then the instance is put in error for an admin to retry
RETRY_BASE = timedelta(seconds=5)     # 5 s, 10 s, 20 s, 40 s between attempts
RETRY_CAP = timedelta(hours=1)
# A claimed row is left alone by other sweeps this long; if its sweep dies, another takes over.
LEASE = timedelta(minutes=2)
# Firing can make more timers due at the same moment (a cycle far behind, a zero timer).
_MAX_ROUNDS = 1000
# Rows one claim takes: small enough that concurrent workers share a burst evenly.
CLAIM = 100
# Cases fired in one transaction: one commit for several, while a case's lock is held only as
# long as the batch (about 20 × 5 ms); a user's step on one of them waits that long at most.
FIRE_TOGETHER = 20


@dataclass
class SweepReport:
    """What one sweep did."""

    fired: list[FiredTimer] = field(default_factory=list)
    failed_instances: list[int] = field(default_factory=list)
    deadline_notices: int = 0
    warnings_raised: int = 0
    more: bool = False  # it stopped at ``limit``: call again
    seconds: float = 0.0

    def summary(self) -> dict:
        """Return the counts as JSON-ready data (what a Celery task or the CLI reports)."""
        return {"fired": sum(f.ok for f in self.fired), "not_ok": sum(not f.ok for f in self.fired),
                "failed_instances": self.failed_instances, "deadline_notices": self.deadline_notices,
                "warnings_raised": self.warnings_raised,
                "more": self.more, "seconds": round(self.seconds, 3)}


def fire_instance_timers(session: Session, *, instance_id: int, now: datetime) -> list[FiredTimer]:
    """Fire an instance's timers due at ``now`` under its lock, advance it and save it."""
    loaded = lifecycle.load(session, instance_id=instance_id)
    if loaded.instance.status != InstanceStatus.RUNNING:
        return []
    error = lifecycle.advance(session, loaded, lambda: fire_due_timers(loaded.runner, now))
    return _save_firing(session, loaded, error, now)


def _save_firing(session: Session, loaded, error, now: datetime) -> list[FiredTimer]:
    fired = record_fired_timers(session, loaded)
    if not fired:
        if error is not None:
            # Nothing fired: the failure is the firing's own, so it is retried like any other.
            raise EngineError(f"定时器触发失败：{error.message}", message_en=f"timer failed: {error.message}")
        # Stale rows (another worker fired them first, or they moved): bring them in line.
        lifecycle.advance(session, loaded, lambda: sync_waits(session, loaded))
        return []
    instance = lifecycle.save(session, loaded, actor=SYSTEM, error=error)
    message = (instance.error or {}).get("message") if instance.status == InstanceStatus.ERROR else None
    for event in fired:
        _urge_if_asked(session, loaded, event)
    return [FiredTimer(loaded.instance.id, e.element_id, e.due_at or now, e.fired_at, message is None, message)
            for e in fired]


def fire_cases_timers(session: Session, *, instance_ids: list[int], now: datetime) -> list[FiredTimer]:
    """Fire the timers due at ``now`` of several instances in the caller's transaction; return them in id order.

    The instances are locked in one statement; a plain firing (engine/runtime/timer_batch.py) is saved
    with the batch's others in a few set-based statements, any other as ``fire_instance_timers``
    saves it. An exception undoes the caller's transaction: fire the instances alone then.
    """
    results: dict[int, list[FiredTimer]] = {}
    plain: list[timer_batch.PlainFiring] = []
    instances = [i for i in timer_batch.lock_cases(session, instance_ids) if i.status == InstanceStatus.RUNNING]
    rows = timer_batch.task_rows(session, instances)
    for instance in instances:
        loaded = timer_batch.restore(session, instance, rows)
        error = lifecycle.advance(session, loaded, lambda: fire_due_timers(loaded.runner, now))
        firing = timer_batch.take_plain(session, loaded, error)
        if firing is None:
            results[instance.id] = _save_firing(session, loaded, error, now)
        else:
            plain.append(firing)
    timer_batch.save_plain(session, plain, actor=SYSTEM)
    for firing in plain:
        for event in firing.fired:
            _urge_if_asked(session, firing.loaded, event)
        results[firing.loaded.instance.id] = [FiredTimer(firing.loaded.instance.id, e.element_id, e.due_at or now,
                                                         e.fired_at, True, None) for e in firing.fired]
    return [f for instance_id in sorted(results) for f in results[instance_id]]


def _urge_if_asked(session: Session, loaded, event) -> None:
    # A boundary timer with an ``urge`` property reminds whoever holds the task it hangs on (催办).
    expression = event.properties.get("urge")
    if not expression or not event.attached_task_id:
        return
    try:
        text = str(lifecycle.advance(session, loaded, lambda: loaded.runner.evaluate(expression, loaded.instance.data)) or "")
    except Exception:  # a broken message must not cost the reminder itself
        text = ""
    try:
        urge_task(session, task_id=event.attached_task_id, actor=SYSTEM, opinion=text or None)
    except EngineError:
        pass  # the task was finished or cancelled meanwhile, or just reminded: nothing to urge


def record_failure(session: Session, *, instance_id: int, now: datetime, error: BaseException) -> list[FiredTimer]:
    """Count a failed firing on the instance's due rows; after MAX_ATTEMPTS put the instance in error."""
    rows = list(session.scalars(select(EventWait).where(
        EventWait.instance_id == instance_id, EventWait.kind == "timer", EventWait.due_at <= now)))
    message = (getattr(error, "message", None) or str(error) or type(error).__name__)[:2000]
    attempts = max((r.attempts or 0 for r in rows), default=0) + 1
    for row in rows:
        row.attempts, row.last_error = attempts, message
        row.next_attempt_at = now + min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP)
    if attempts >= MAX_ATTEMPTS:
        instance = lifecycle.lock_instance(session, instance_id=instance_id)
        if instance.status == InstanceStatus.RUNNING:
            first = rows[0] if rows else None
            instance.status = InstanceStatus.ERROR
            instance.error = {
                "message": f"定时器触发失败，已重试 {attempts} 次：{message}", "source": "timer",
                "element_id": first.element_id if first else None, "element_name": None,
                "task_id": first.task_id if first else None, "line": None, "error_line": None,
                "trace": [], "attempts": attempts}
            audit.record(session, instance=instance, kind=EntryKind.ERROR, actor=SYSTEM.username,
                         task_id=instance.error["task_id"], element_id=instance.error["element_id"],
                         payload=instance.error)
    session.flush()
    return [FiredTimer(instance_id, r.element_id, r.due_at, now, False, message) for r in rows]


def _due_instances(session: Session, *, now: datetime, limit: int | None, exclude: set[int]) -> list[int]:
    query = (select(EventWait.instance_id, func.min(EventWait.due_at).label("due"))
             .join(Instance, Instance.id == EventWait.instance_id)
             .where(EventWait.kind == "timer", EventWait.due_at <= now, Instance.status == InstanceStatus.RUNNING,
                    or_(EventWait.next_attempt_at.is_(None), EventWait.next_attempt_at <= now))
             .group_by(EventWait.instance_id).order_by("due", EventWait.instance_id))
    if exclude:
        query = query.where(EventWait.instance_id.not_in(exclude))
    return list(session.scalars(query.limit(limit) if limit else query))


def fire_due(session: Session, *, now: datetime | None = None, limit: int | None = None) -> list[FiredTimer]:
    """Fire every timer due at ``now`` in the caller's transaction, one SAVEPOINT per instance.

    Timers that fall due because of a firing (a cycle behind by several periods) fire in the same
    call; schedules start their cases and deadline notices go out too. The caller commits.
    """
    now = now or clock.now()
    fired = schedules.fire_due_schedules(session, now=now)
    skip: set[int] = set()
    for _ in range(_MAX_ROUNDS):
        ids = _due_instances(session, now=now, limit=None, exclude=skip)
        if not ids:
            break
        for instance_id in ids:
            try:
                with session.begin_nested():
                    got = fire_instance_timers(session, instance_id=instance_id, now=now)
            except Exception as exc:  # one broken instance must not stop the others
                log.warning("timer of instance %s failed: %s", instance_id, exc)
                got = record_failure(session, instance_id=instance_id, now=now, error=exc)
            if not got or not all(f.ok for f in got):
                skip.add(instance_id)
            fired += got
            if limit is not None and len(fired) >= limit:
                return fired
    deadlines.notify_deadlines(session, now=now)
    return fired


def _claim(services: Services, *, now: datetime, limit: int) -> tuple[list[int], bool]:
    # Short transaction: SKIP LOCKED hands concurrent sweeps disjoint rows on PostgreSQL (SQLite
    # runs it under its write lock), and the lease keeps them disjoint after the commit.
    with services.session() as s:
        rows = s.execute(
            select(EventWait.id, EventWait.instance_id).join(Instance, Instance.id == EventWait.instance_id)
            .where(EventWait.kind == "timer", EventWait.due_at <= now, Instance.status == InstanceStatus.RUNNING,
                   or_(EventWait.next_attempt_at.is_(None), EventWait.next_attempt_at <= now))
            .order_by(EventWait.due_at, EventWait.id).limit(limit)
            .with_for_update(of=EventWait, skip_locked=True)).all()
        if rows:
            s.execute(update(EventWait).where(EventWait.id.in_([r.id for r in rows]))
                      .values(next_attempt_at=now + LEASE).execution_options(synchronize_session=False))
    return list(dict.fromkeys(r.instance_id for r in rows)), len(rows) == limit


def _fire_together(services: Services, ids: list[int], now: datetime, report: SweepReport) -> None:
    # Several cases in one transaction, without a SAVEPOINT each (on PostgreSQL a savepoint costs
    # the same two round trips as a transaction of its own) and written set-based where plain. A
    # firing that raises (rare: a script's failure is saved as the case's error, not raised)
    # undoes the whole batch, and _fire_claimed then fires its cases one transaction each.
    with services.session() as s:
        fired = fire_cases_timers(s, instance_ids=ids, now=now)
    report.fired += fired


def _fire_alone(services: Services, instance_id: int, now: datetime, report: SweepReport) -> None:
    try:
        with services.session() as s:
            report.fired += fire_instance_timers(s, instance_id=instance_id, now=now)
    except Exception as exc:  # carry on: this instance's rows get a retry time instead
        log.warning("timer of instance %s failed: %s", instance_id, exc, exc_info=not isinstance(exc, EngineError))
        report.failed_instances.append(instance_id)
        try:
            with services.session() as s:
                report.fired += record_failure(s, instance_id=instance_id, now=now, error=exc)
        except Exception:
            log.exception("could not record the failure of instance %s", instance_id)


def _fire_claimed(services: Services, ids: list[int], now: datetime, report: SweepReport) -> None:
    for start in range(0, len(ids), FIRE_TOGETHER):
        chunk = ids[start:start + FIRE_TOGETHER]
        if len(chunk) > 1:
            try:
                _fire_together(services, chunk, now, report)
                continue
            except Exception as exc:  # nothing of the batch stands: find the broken case alone
                log.info("firing %d cases together failed (%s); firing them one by one", len(chunk), exc)
        for instance_id in chunk:
            _fire_alone(services, instance_id, now, report)


def fire_claimed_timers(services: Services, *, limit: int, now: datetime | None = None,
                        budget: float | None = None) -> SweepReport:
    """Claim due timers in batches (SKIP LOCKED) and fire them until ``limit`` fired, none is due, or ``budget`` s passed.

    Without ``now`` each claim looks at the clock again, so timers falling due meanwhile are
    taken too. ``more`` says a claim stopped at the limit or the budget: call again.
    """
    started = time.perf_counter()
    report = SweepReport()
    claimed = 0
    while claimed < limit:
        moment = now or clock.now()
        size = min(CLAIM, limit - claimed)
        ids, report.more = _claim(services, now=moment, limit=size)
        claimed += size
        _fire_claimed(services, ids, moment, report)
        if not report.more or (budget is not None and time.perf_counter() - started >= budget):
            break
    report.seconds = time.perf_counter() - started
    return report


def fire_timers(services: Services, *, now: datetime | None = None, budget: float = 30.0) -> SweepReport:
    """Start due scheduled cases, then fire due timers until none is left or ``budget`` seconds passed.

    What a Celery worker runs when the sweeper sees timers fall due; no deadline notices or
    other housekeeping (the periodic ``sweep`` keeps those).
    """
    started = time.perf_counter()
    fired = schedules.sweep_schedules(services, now=now or clock.now())
    report = fire_claimed_timers(services, limit=sys.maxsize, now=now, budget=budget)
    report.fired[:0] = fired
    report.seconds = time.perf_counter() - started
    return report


def sweep(services: Services, *, limit: int = 500, now: datetime | None = None) -> SweepReport:
    """Claim up to ``limit`` due timers and fire them in short batches; then schedules and deadlines."""
    started = time.perf_counter()
    now = now or clock.now()
    schedule_fired = schedules.sweep_schedules(services, now=now)
    report = fire_claimed_timers(services, limit=limit, now=now)
    report.fired[:0] = schedule_fired
    try:
        with services.session() as s:
            report.deadline_notices = len(deadlines.notify_deadlines(s, now=now))
    except Exception:
        log.exception("deadline notices failed")
    try:
        # Checked in a read-only session: on SQLite most sweeps then take no write lock for it.
        with services.session(read_only=True) as s:
            due = tallies.rows(s) > tallies.COMPACT_ABOVE
        if due:
            with services.session() as s:
                tallies.compact(s)
                board_tallies.compact(s)  # the board's deltas grow with the same case changes
                case_state.purge(s.connection())  # and the rows of tasks gone from their cases
    except Exception:
        log.exception("folding the case tallies failed")
    try:
        evaluated = warnings.evaluate_if_due(services, now=now)  # every warning_interval_minutes
        report.warnings_raised = len(evaluated.raised) if evaluated else 0
    except Exception:
        log.exception("evaluating the warning rules failed")
    report.seconds = time.perf_counter() - started
    return report


def next_due(session: Session) -> datetime | None:
    """Return when the next timer, schedule or deadline notice falls due (possibly already past)."""
    timer = session.scalar(
        select(func.min(case((EventWait.next_attempt_at > EventWait.due_at, EventWait.next_attempt_at),
                             else_=EventWait.due_at)))
        .join(Instance, Instance.id == EventWait.instance_id)
        .where(EventWait.kind == "timer", Instance.status == InstanceStatus.RUNNING))
    moments = [m for m in (timer, schedules.next_due(session), deadlines.next_due(session)) if m is not None]
    return min(moments) if moments else None


def first_due_after(session: Session, *, after: datetime | None) -> datetime | None:
    """Return the earliest due time later than ``after`` of a timer or schedule nobody has claimed.

    What a sweeper polls several times a second, so it reads the ``(kind, due_at)`` index up to
    the first running case and no further: a row claimed or waiting for its retry (its
    ``next_attempt_at`` after its due time) is left to the periodic sweep.
    """
    query = (select(EventWait.due_at).join(Instance, Instance.id == EventWait.instance_id)
             .where(EventWait.kind == "timer", EventWait.due_at.is_not(None), Instance.status == InstanceStatus.RUNNING,
                    or_(EventWait.next_attempt_at.is_(None), EventWait.next_attempt_at <= EventWait.due_at))
             .order_by(EventWait.kind, EventWait.due_at).limit(1))
    if after is not None:
        query = query.where(EventWait.due_at > after)
    moments = [session.scalar(query), schedules.next_due(session)]
    moments = [m for m in moments if m is not None and (after is None or m > after)]
    return min(moments) if moments else None


def count_due(session: Session, *, now: datetime, after: datetime | None, cap: int) -> int:
    """Count (up to ``cap``) the unclaimed timers due by ``now`` and later than ``after``."""
    query = (select(EventWait.id).join(Instance, Instance.id == EventWait.instance_id)
             .where(EventWait.kind == "timer", EventWait.due_at <= now, Instance.status == InstanceStatus.RUNNING,
                    or_(EventWait.next_attempt_at.is_(None), EventWait.next_attempt_at <= now)))
    if after is not None:
        query = query.where(EventWait.due_at > after)
    return session.scalar(select(func.count()).select_from(query.limit(cap).subquery()))


def run_instance_steps(session: Session, *, instance_id: int) -> None:
    """Run an instance's automatic steps under its lock (work queued off a web request)."""
    loaded = lifecycle.load(session, instance_id=instance_id)
    if loaded.instance.status != InstanceStatus.RUNNING:
        return
    error = lifecycle.advance(session, loaded, loaded.runner.run_engine_steps)
    lifecycle.save(session, loaded, actor=SYSTEM, error=error)


__all__ = ["FiredTimer", "SweepReport", "fire_due", "sweep", "fire_timers", "fire_claimed_timers",
           "fire_instance_timers", "fire_cases_timers", "record_failure", "next_due", "first_due_after", "count_due",
           "run_instance_steps", "MAX_ATTEMPTS", "CLAIM"]
