"""The persisted hot path: few statements, and the rows and objects it writes stay true."""
from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm.exc import StaleDataError

from engine.definitions.deployment import runtime_spec
from engine.runtime import lifecycle
from engine.spiff.copying import copy_data
from engine.spiff.workflow import Runner
from engine.store import audit, case_state
from engine.store.models import AuditEntry, CaseField, HumanTask, Instance, InstanceStatus, TaskActor, TaskStatus
from engine.store.rows import write_changes
from tests.factories import Statements, only_task




def test_start_and_complete_send_few_statements(session, actors):
    li = actors("li.sl")
    lifecycle.start_instance(session, process_key="review", actor=li)  # warm the per-process caches
    with Statements(session) as started:
        inst = lifecycle.start_instance(session, process_key="review", actor=li)
    task = only_task(session, inst.id, "register")
    session.expunge_all()  # as a new request would: nothing cached in the session
    with Statements(session) as completed:
        lifecycle.complete_task(session, task_id=task.id, data={"subject": "修缮围墙", "amount": 100}, actor=li)
    # definition, instance, task actor, human task, pool holders, audit, instance update (no case
    # field: the subject is not known yet); then the task locked with its case (and whether the
    # actor is a task actor already), task update, waits + tasks + case fields read in one
    # statement, the case field's insert, both audit entries in one statement, instance update.
    # A case this small keeps its workflow as one document: no task rows (engine/store/case_state.py).
    # On PostgreSQL the task actor, new task rows, the pool's notices, task update, new case
    # fields, audit entries and instance update of each are one statement (lifecycle.write_step):
    # 3 and 3 there.
    bound = {"sqlite": (7, 6), "postgresql": (3, 3)}[session.get_bind().dialect.name]
    assert len(started.sql) <= bound[0], "\n".join(s[:90] for s in started.sql)
    assert len(completed.sql) <= bound[1], "\n".join(s[:90] for s in completed.sql)
    assert not any("case_task_states" in s for s in started.sql + completed.sql)
    assert sum("UPDATE instances" in s for s in completed.sql) == 1
    assert sum("INSERT INTO audit_entries" in s for s in completed.sql) == 1
    assert not any(s.startswith(("SELECT task_actors", "INSERT INTO task_actors")) for s in completed.sql)
    assert not any(s.startswith("SELECT task_actors") for s in started.sql)
    if session.get_bind().dialect.name == "postgresql":
        [written] = [s for s in started.sql if "UPDATE instances" in s]
        assert all(part in written for part in ("INSERT INTO human_tasks", "INSERT INTO notifications",
                                                 "INSERT INTO task_actors", "INSERT INTO audit_entries"))


def test_the_completed_case_is_stored_whole(session, actors):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    held = only_task(session, inst.id, "register")  # an object the session holds while completing
    version = inst.lock_version
    lifecycle.complete_task(session, task_id=held.id, data={"subject": "修缮围墙", "amount": 100}, actor=li)
    assert held.status == TaskStatus.COMPLETED and not session.dirty
    session.expire_all()
    inst = session.get(Instance, inst.id)
    assert (inst.status, inst.end_event, inst.title) == (InstanceStatus.COMPLETED, "end_normal", "审批：修缮围墙")
    assert inst.lock_version > version
    row = session.get(HumanTask, held.id)
    assert (row.status, row.completed_by_id) == (TaskStatus.COMPLETED, li.id)
    assert session.scalar(text("SELECT draft IS NULL FROM human_tasks WHERE id = :id"), {"id": held.id})
    assert session.scalar(text("SELECT error IS NULL FROM instances WHERE id = :id"), {"id": inst.id})
    assert set(session.scalars(select(CaseField.value).where(CaseField.instance_id == inst.id))) == {"修缮围墙"}
    assert list(session.scalars(select(TaskActor.user_id).where(TaskActor.instance_id == inst.id))) == [li.id]
    kinds = list(session.scalars(select(AuditEntry.kind).where(AuditEntry.instance_id == inst.id).order_by(AuditEntry.seq)))
    assert kinds == ["started", "task_completed", "finished"]
    assert audit.verify(session, instance_id=inst.id) == (3, [])


def test_a_completion_whose_case_moved_on_under_it_is_refused_and_undone_whole(session, actors, monkeypatch):
    """The case row's version is checked by the statement that also writes the task and the history."""
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    task_id = only_task(session, inst.id, "register").id
    session.flush()
    original = lifecycle.advance

    def advance_then_moved_on(session, loaded, step):  # another writer, as if the lock had not held it
        error = original(session, loaded, step)
        session.connection().execute(text("UPDATE instances SET lock_version = lock_version + 1 WHERE id = :id"),
                                     {"id": loaded.instance.id})
        return error

    monkeypatch.setattr(lifecycle, "advance", advance_then_moved_on)
    attempt = session.begin_nested()
    with pytest.raises(StaleDataError):
        lifecycle.complete_task(session, task_id=task_id, data={"subject": "修缮围墙", "amount": 100}, actor=li)
    attempt.rollback()
    session.expire_all()
    assert session.get(HumanTask, task_id).status == TaskStatus.OPEN
    kinds = list(session.scalars(select(AuditEntry.kind).where(AuditEntry.instance_id == inst.id)))
    assert kinds == ["started"]
    assert session.get(Instance, inst.id).status == InstanceStatus.RUNNING


def test_a_case_field_follows_the_data_and_is_not_rewritten_when_unchanged(session, actors):
    li, lin = actors("li.sl"), actors("lin.ld")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    lifecycle.complete_task(session, task_id=only_task(session, inst.id, "register").id,
                          data={"subject": "修缮围墙", "amount": 50000}, actor=li)
    first = session.scalar(select(CaseField.id).where(CaseField.instance_id == inst.id))
    lifecycle.complete_task(session, task_id=only_task(session, inst.id, "approve").id, data={"approved": True}, actor=lin)
    assert list(session.scalars(select(CaseField.id).where(CaseField.instance_id == inst.id))) == [first]


def test_write_changes_checks_the_version_like_the_unit_of_work(session, actors):
    inst = lifecycle.start_instance(session, process_key="review", actor=actors("li.sl"))
    session.flush()
    session.execute(update(Instance).where(Instance.id == inst.id).values(lock_version=Instance.lock_version + 1)
                    .execution_options(synchronize_session=False))
    inst.title = "改"
    with pytest.raises(StaleDataError):
        write_changes(session, inst)


def test_write_changes_leaves_a_value_set_back_alone(session, actors):
    inst = lifecycle.start_instance(session, process_key="review", actor=actors("li.sl"))
    session.flush()
    version = inst.lock_version
    inst.error = None  # loaded as SQL NULL: must not become the JSON text 'null'
    assert write_changes(session, inst) and inst.lock_version == version and not session.is_modified(inst)
    assert session.scalar(text("SELECT error IS NULL FROM instances WHERE id = :id"), {"id": inst.id})


def test_copy_data_is_a_deep_copy():
    value = {"a": [1, {"b": "x"}], "when": datetime(2026, 1, 2, tzinfo=timezone.utc), "d": date(2026, 1, 2),
             "n": Decimal("1.5"), "t": (1, [2]), "none": None, "yes": True}
    copied = copy_data(value)
    assert copied == copy.deepcopy(value) == value
    assert copied["a"] is not value["a"] and copied["a"][1] is not value["a"][1]
    assert copied["t"][1] is not value["t"][1]


def test_restoring_leaves_the_stored_state_untouched(session, actors):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    state, _rows = case_state.read(session.connection(), inst.id, inst.state)
    stored = json.dumps(state, sort_keys=True)
    spec, subs = runtime_spec(inst.definition)
    runner = Runner.restore(state, spec, subs, session.info["pingan"].script_engine)
    task = only_task(session, inst.id, "register")
    runner.complete_user_task(task.id, {"subject": "修缮围墙", "amount": 100})
    runner.dump()
    assert runner.completed and json.dumps(state, sort_keys=True) == stored
