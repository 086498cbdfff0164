"""A case's workflow is stored as its own fields plus one row per task, written only where a step changed it.

engine/store/case_state.py: ``instances.state`` keeps all but the tasks; each task is a row of
``case_task_states``; a step writes the rows of the tasks it changed (and the gone ones, with no
body) in one statement; the sweep deletes the gone ones; a state stored whole, as before
migration 0008, is still read and is written as rows at its case's next step.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, update

from engine.org.orgs import actor_for
from engine.runtime import lifecycle, timers
from engine.spiff import cache as workflow_cache
from engine.store import case_state, tallies
from engine.store.models import CaseTaskState, Instance, InstanceStatus
from tests.factories import only_task, open_tasks

UNITS = ["police", "housing", "justice"]
HANDLERS = {"police": "zhou.ga", "housing": "wu.zj", "justice": "ma.sf"}


@pytest.fixture
def split(monkeypatch):
    """Every case's tasks as rows, however small (the shipped threshold keeps small cases whole)."""
    monkeypatch.setattr(case_state, "INLINE_TASKS", 0)


def dispatch(session, actors):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="countersign", actor=li)
    return lifecycle.complete_task(session, task_id=only_task(session, inst.id, "dispatch").id,
                                   data={"units": list(UNITS)}, actor=li)


def live_rows(session, instance_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CaseTaskState).where(
        CaseTaskState.instance_id == instance_id, CaseTaskState.body.isnot(None)))


def gone_rows(session, instance_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CaseTaskState).where(
        CaseTaskState.instance_id == instance_id, CaseTaskState.body.is_(None)))


class RowsWritten:
    """The statements that wrote case_task_states, and the rows their INSERTs carried (an executemany carries several)."""

    def __init__(self, session):
        self.engine, self.rows, self.statements = session.get_bind(), 0, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if "case_task_states" in statement and not statement.lstrip().upper().startswith("SELECT"):
            self.statements.append(statement)
            if statement.lstrip().upper().startswith("INSERT"):
                self.rows += len(parameters) if executemany else 1


def test_the_state_keeps_no_task_and_each_task_is_a_row(session, actors, split):
    inst = dispatch(session, actors)
    session.flush()
    kept = session.scalar(select(Instance.state).where(Instance.id == inst.id))
    assert case_state.in_rows(kept) and kept["tasks"] == {}
    whole, rows = case_state.read(session.connection(), inst.id, kept)
    assert set(rows) == set(case_state.tasks_of(whole)) and len(rows) == live_rows(session, inst.id) > 10


def test_a_completion_writes_only_the_tasks_it_changed_in_one_statement(session, actors, split):
    inst = dispatch(session, actors)
    assist = {t.candidate_org.code: t for t in open_tasks(session, inst.id) if t.element_id == "assist"}
    total = live_rows(session, inst.id)
    workflow_cache.live_workflows.clear()  # restored from the rows, as after a restart
    with RowsWritten(session) as written:
        lifecycle.complete_task(session, task_id=assist["police"].id, data={"feedback": "已协办"},
                                actor=actors("zhou.ga"))
    assert len(written.statements) == 1, written.statements
    # The completed instance, its parent, the next ones it touched: not the whole case.
    assert 1 <= written.rows <= 4 < total, (written.rows, total)
    # What the rows hold restores to the workflow that went on: the next two units finish the case's countersign.
    for unit in ("housing", "justice"):
        lifecycle.complete_task(session, task_id=assist[unit].id, data={"feedback": "已协办"},
                                actor=actors(HANDLERS[unit]))
    summarize = only_task(session, inst.id, "summarize")
    assert session.get(Instance, inst.id).data["feedbacks"] == ["已协办"] * 3
    assert summarize.candidate_org.code == "chengguan"


def test_gone_tasks_keep_a_row_without_body_until_the_sweep_deletes_them(session, actors, split):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    session.flush()
    before = live_rows(session, inst.id)
    # A small amount ends the case at once: the finished history is pruned from the stored workflow.
    done = lifecycle.complete_task(session, task_id=only_task(session, inst.id, "register").id,
                                   data={"subject": "修缮围墙", "amount": 100}, actor=li)
    assert done.status == InstanceStatus.COMPLETED
    session.flush()
    gone, live = gone_rows(session, done.id), live_rows(session, done.id)
    assert gone > 0 and live > 0, (before, gone, live)
    whole, _ = case_state.read(session.connection(), done.id, done.state)
    assert len(case_state.tasks_of(whole)) == live
    assert case_state.purge(session.connection()) >= gone
    assert gone_rows(session, done.id) == 0 and live_rows(session, done.id) == live
    again, _ = case_state.read(session.connection(), done.id, done.state)
    assert again == whole


def test_a_state_stored_whole_is_read_and_written_as_rows_at_the_next_step(session, actors, split):
    """A case saved before migration 0008 holds its tasks in instances.state and has no rows."""
    inst = dispatch(session, actors)
    session.flush()
    whole, _ = case_state.read(session.connection(), inst.id, inst.state)
    session.execute(CaseTaskState.__table__.delete().where(CaseTaskState.instance_id == inst.id))
    session.execute(update(Instance).where(Instance.id == inst.id).values(state=whole))
    session.expire_all()
    workflow_cache.live_workflows.clear()
    assist = {t.candidate_org.code: t for t in open_tasks(session, inst.id) if t.element_id == "assist"}
    lifecycle.complete_task(session, task_id=assist["police"].id, data={"feedback": "已协办"}, actor=actors("zhou.ga"))
    session.flush()
    kept = session.scalar(select(Instance.state).where(Instance.id == inst.id))
    assert case_state.in_rows(kept) and kept["tasks"] == {}
    assert live_rows(session, inst.id) > 10 and gone_rows(session, inst.id) == 0
    for unit in ("housing", "justice"):
        lifecycle.complete_task(session, task_id=assist[unit].id, data={"feedback": "已协办"},
                                actor=actors(HANDLERS[unit]))
    assert only_task(session, inst.id, "summarize").status == "open"


def test_a_small_case_stays_one_document_and_moves_to_rows_when_it_grows(session, actors, monkeypatch):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="countersign", actor=li)
    session.flush()
    kept = session.scalar(select(Instance.state).where(Instance.id == inst.id))
    assert not case_state.in_rows(kept) and kept["tasks"] and live_rows(session, inst.id) == 0
    # Dispatching to three units adds their tasks: past the threshold, the case moves to rows.
    monkeypatch.setattr(case_state, "INLINE_TASKS", len(case_state.tasks_of(kept)))
    with RowsWritten(session) as written:
        lifecycle.complete_task(session, task_id=only_task(session, inst.id, "dispatch").id,
                                data={"units": list(UNITS)}, actor=li)
    session.flush()
    kept = session.scalar(select(Instance.state).where(Instance.id == inst.id))
    whole, rows = case_state.read(session.connection(), inst.id, kept)
    assert case_state.in_rows(kept) and kept["tasks"] == {}
    assert written.rows == len(rows) == live_rows(session, inst.id) == len(case_state.tasks_of(whole))
    # and stays split when it shrinks again: the three units answer, the case goes on to summarize.
    monkeypatch.setattr(case_state, "INLINE_TASKS", 1000)
    for task in open_tasks(session, inst.id):
        lifecycle.complete_task(session, task_id=task.id, data={"feedback": "好"},
                                actor=actors(HANDLERS[task.candidate_org.code]))
    session.flush()
    assert case_state.in_rows(session.scalar(select(Instance.state).where(Instance.id == inst.id)))
    assert only_task(session, inst.id, "summarize").status == "open"


def test_the_sweep_deletes_the_rows_of_gone_tasks(committed, monkeypatch):
    monkeypatch.setattr(case_state, "INLINE_TASKS", 0)
    with committed.session() as s:
        li = actor_for(s, username="li.sl")
        inst = lifecycle.start_instance(s, process_key="review", actor=li)
        lifecycle.complete_task(s, task_id=only_task(s, inst.id, "register").id,
                                data={"subject": "修缮围墙", "amount": 100}, actor=li)
        instance_id = inst.id
    with committed.session() as s:
        gone, live = gone_rows(s, instance_id), live_rows(s, instance_id)
    assert gone > 0
    monkeypatch.setattr(tallies, "COMPACT_ABOVE", 0)  # the sweep purges when it folds the tallies
    timers.sweep(committed)
    with committed.session() as s:
        assert gone_rows(s, instance_id) == 0 and live_rows(s, instance_id) == live
