"""Firing many cases' timers together (engine/runtime/timer_batch.py) leaves the rows one case at a time leaves."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import clock
from engine.runtime import lifecycle, timers
from engine.store import audit
from engine.store.models import AuditEntry, EventWait, HumanTask, Instance
from tests.conftest import T0
from tests.factories import Statements


def _start(session, actors, kind: str):
    li = actors("li.sl")
    if kind == "date":
        return lifecycle.start_instance(session, process_key="timers_date", actor=li,
                                      data={"fire_at": (T0 + timedelta(hours=1)).isoformat(), "divisor": 4})
    if kind == "broken":  # the script after the timer fails: saved as the case's error
        return lifecycle.start_instance(session, process_key="timers_date", actor=li,
                                      data={"fire_at": (T0 + timedelta(hours=1)).isoformat(), "divisor": 0})
    if kind == "catch":  # the first of two catch events: a new timer row replaces the fired one
        return lifecycle.start_instance(session, process_key="timers_catch", actor=li,
                                      data={"fire_at": "2026-03-09T12:00:00+08:00", "divisor": 4})
    return lifecycle.start_instance(session, process_key=f"timers_{kind}", actor=li)


def _unnamed(value):
    # A payload without the task ids (uuids of each case's own workflow).
    if isinstance(value, dict):
        return {k: _unnamed(v) for k, v in value.items() if k != "task_id"}
    if isinstance(value, list):
        return [_unnamed(v) for v in value]
    return value


def _snapshot(session, instance_id: int) -> dict:
    """What a firing left of a case, without ids, hashes or anything else that names the case."""
    session.expire_all()
    inst = session.get(Instance, instance_id)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id).order_by(AuditEntry.seq))
    waits = session.scalars(select(EventWait).where(EventWait.instance_id == instance_id).order_by(EventWait.element_id))
    tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.created_at,
                                                                                                 HumanTask.element_id))
    checked, breaks = audit.verify(session, instance_id=instance_id)
    return {
        "case": (inst.status, inst.data, inst.end_event, inst.ended_at, inst.updated_at, inst.lock_version,
                 inst.audit_seq, (inst.error or {}).get("message"), inst.title.split(" ")[0]),
        "history": [(e.seq, e.kind, e.actor, e.task_id is not None, e.element_id, e.at, _unnamed(e.payload)) for e in entries],
        "waits": [(w.element_id, w.kind, w.name, w.due_at, w.attempts, w.next_attempt_at, w.correlation) for w in waits],
        "tasks": [(t.element_id, t.status, t.completed_at, t.candidate_role, t.assignee_id) for t in tasks],
        "chain": (checked, breaks),
    }


KINDS = ["date", "broken", "catch", "boundary", "escalation", "workdays", "date"]


def test_a_batch_leaves_each_case_as_firing_it_alone_does(session, actors, frozen):
    alone = [_start(session, actors, k).id for k in KINDS]
    together = [_start(session, actors, k).id for k in KINDS]
    for advance in (timedelta(hours=1), timedelta(days=1), timedelta(days=3), timedelta(days=30)):
        frozen.advance(advance)
        now = clock.now()
        one_by_one = [f for i in alone for f in timers.fire_instance_timers(session, instance_id=i, now=now)]
        batch = timers.fire_cases_timers(session, instance_ids=list(reversed(together)), now=now)
        assert [(f.element_id, f.due_at, f.fired_at, f.ok, f.error) for f in batch] == [
            (f.element_id, f.due_at, f.fired_at, f.ok, f.error) for f in one_by_one]
        assert [f.instance_id for f in batch] == sorted(f.instance_id for f in batch)
        for a, b in zip(alone, together):
            assert _snapshot(session, b) == _snapshot(session, a)
    # Every kind of save happened: finished, failed, waiting on, and a task taken away by a timer.
    statuses = {_snapshot(session, i)["case"][0] for i in together}
    assert statuses == {"completed", "error", "running"}


def test_a_batch_of_plain_firings_sends_the_same_statements_for_three_cases_as_for_twelve(session, actors, frozen):
    small = [_start(session, actors, "date").id for _ in range(3)]
    large = [_start(session, actors, "date").id for _ in range(12)]
    frozen.advance(timedelta(hours=1))
    with Statements(session) as three:
        assert len(timers.fire_cases_timers(session, instance_ids=small, now=clock.now())) == 3
    with Statements(session) as twelve:
        assert len(timers.fire_cases_timers(session, instance_ids=large, now=clock.now())) == 12
    assert len(twelve.sql) == len(three.sql) <= 8
    assert twelve.count("UPDATE instances") == 1 and twelve.count("INSERT INTO audit_entries") == 1


def test_a_case_fired_meanwhile_is_not_fired_again_by_a_batch(session, actors, frozen):
    ids = [_start(session, actors, "date").id for _ in range(3)]
    frozen.advance(timedelta(hours=1))
    timers.fire_instance_timers(session, instance_id=ids[1], now=clock.now())
    fired = timers.fire_cases_timers(session, instance_ids=ids, now=clock.now())
    assert [f.instance_id for f in fired] == [ids[0], ids[2]]
    assert [len([e for e in audit.history(session, instance_id=i) if e.kind == "timer_fired"]) for i in ids] == [1, 1, 1]
