"""Case counts by definition and status: the tallies the triggers keep equal a plain GROUP BY."""
from __future__ import annotations

from sqlalchemy import delete, func, select, update

from engine.runtime import admin, lifecycle, timers
from engine.store import tallies
from engine.store import models as m
from engine.store.models import Instance, InstanceStatus
from tests.factories import only_task, start_review


def counted(session) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for definition_id, status, n in session.execute(
            select(Instance.definition_id, Instance.status, func.count()).group_by(Instance.definition_id, Instance.status)):
        out.setdefault(definition_id, {})[str(status)] = n
    return out


def test_counts_follow_cases_that_start_finish_cancel_fail_and_go(session, actors):
    li, admin_actor = actors("li.sl"), actors("admin")
    before = admin.instance_counts(session)
    assert before == counted(session)

    finished = start_review(session, li, amount=100)                 # completed at once
    waiting = start_review(session, li, amount=50000)                # waits for a leader
    cancelled = lifecycle.start_instance(session, process_key="review", actor=li)
    lifecycle.cancel_instance(session, instance_id=cancelled.id, actor=li, reason="重复登记")
    failed = lifecycle.start_instance(session, process_key="fragile", actor=li)
    lifecycle.complete_task(session, task_id=only_task(session, failed.id, "enter").id, data={"divisor": 0}, actor=li)
    session.flush()
    assert (finished.status, waiting.status, cancelled.status, failed.status) == (
        InstanceStatus.COMPLETED, InstanceStatus.RUNNING, InstanceStatus.CANCELLED, InstanceStatus.ERROR)
    assert admin.instance_counts(session) == counted(session) != before

    lifecycle.retry_instance(session, instance_id=failed.id, actor=admin_actor, data={"divisor": 4})
    lifecycle.complete_task(session, task_id=only_task(session, waiting.id, "approve").id, data={"approved": True},
                          actor=actors("lin.ld"))
    session.flush()
    assert admin.instance_counts(session) == counted(session)

    # Changes made behind the runtime's back count too: a bulk update, a move to another
    # definition, and a delete of several cases in one statement.
    session.execute(update(Instance).where(Instance.id == waiting.id).values(status=InstanceStatus.CANCELLED))
    session.execute(update(Instance).where(Instance.id == failed.id).values(definition_id=finished.definition_id))
    assert admin.instance_counts(session) == counted(session)
    gone = [cancelled.id, waiting.id]
    for model in (m.AuditEntry, m.HumanTask, m.EventWait, m.CaseField, m.TaskActor, m.CarbonCopy, m.Notification):
        session.execute(delete(model).where(model.instance_id.in_(gone)))
    session.execute(delete(Instance).where(Instance.id.in_(gone)).execution_options(synchronize_session=False))
    assert admin.instance_counts(session) == counted(session)


def test_compacting_folds_rows_and_keeps_the_counts(session, actors):
    li = actors("li.sl")
    for amount in (100, 100, 50000):
        start_review(session, li, amount=amount)
    session.flush()
    expected = counted(session)
    rows = tallies.rows(session)
    assert rows >= 3
    assert tallies.compact(session) == rows
    groups = sum(len(by_status) for by_status in expected.values())
    assert tallies.rows(session) == groups
    assert tallies.instance_counts(session) == expected
    start_review(session, li, amount=100)
    session.flush()
    assert tallies.instance_counts(session) == counted(session)


def test_the_sweep_folds_the_tallies_once_there_are_many(committed, monkeypatch):
    with committed.session() as s:
        start_review(s, actors_of(s, "li.sl"), amount=100)
    monkeypatch.setattr(tallies, "COMPACT_ABOVE", 0)
    timers.sweep(committed)
    with committed.session() as s:
        expected = counted(s)
        assert tallies.rows(s) == sum(len(by_status) for by_status in expected.values())
        assert tallies.instance_counts(s) == expected


def actors_of(session, username):
    from engine.org.orgs import actor_for

    return actor_for(session, username=username)
