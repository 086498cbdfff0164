"""A step on a kept workflow starts from the rows the last save wrote, without reading them back.

``sync.KnownRows`` is kept beside the workflow (engine/spiff/cache.py); the next step compares
the workflow with it instead of reading the case's task, wait and field rows. Every shipped
scenario is played with workflows kept from step to step, and after every save the rows it says
the case has are compared with the rows the database holds; the scenarios' own checks see that
the steps that started from them did what a read would have done.
"""
from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import select

from engine import clock
from engine.runtime import lifecycle, sync, tasks, timers
from engine.spiff import cache as workflow_cache
from engine.store.models import CaseField, EventWait, HumanTask, InstanceStatus, TaskStatus
from tests.engine.test_timer_batch import KINDS, _start
from tests.factories import only_task
from tests.scenario_player import all_scenarios, keep_at_once, play_on_its_clock

SCENARIO_LIST = all_scenarios()


def _utc(moment):
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def assert_rows_are(session, instance_id: int, known: sync.KnownRows, where: str) -> None:
    waits = {w.task_id: (w.element_id, w.kind, w.name, _utc(w.due_at), w.correlation)
             for w in session.scalars(select(EventWait).where(EventWait.instance_id == instance_id))}
    assert {k: (w.element_id, w.kind, w.name, _utc(w.due_at), w.correlation) for k, w in known.waits.items()} == waits, \
        f"{where}: waits"
    open_tasks = set(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                                HumanTask.status == TaskStatus.OPEN)))
    assert set(known.open_tasks) == open_tasks, f"{where}: open tasks"
    if known.fields is not None:
        fields = {(f.name, f.value) for f in session.scalars(select(CaseField).where(CaseField.instance_id == instance_id))}
        assert set(known.fields) == fields, f"{where}: case fields"


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=[s.id for s in SCENARIO_LIST])
def test_the_rows_a_save_knows_are_the_rows_at_every_step_of_every_scenario(scenario, services, monkeypatch):
    kept, reads = [0], []

    def check(session, instance_id, version, companion):
        if companion is not None:
            session.flush()
            kept[0] += 1
            assert_rows_are(session, instance_id, companion, f"{scenario.id} save {kept[0]}")

    count_reads(monkeypatch, reads)
    keep_at_once(monkeypatch, check=check)
    try:
        play_on_its_clock(services, scenario)
    finally:
        workflow_cache.live_workflows.clear()
    assert kept[0] >= 1
    # The point: steps after the first went on from the known rows, not a read.
    if kept[0] > 1:
        assert len(reads) < kept[0], f"{len(reads)} reads for {kept[0]} saves"


def count_reads(monkeypatch, reads: list) -> None:
    """Note the case id of every read of projection rows (``sync.read_projections``)."""
    original_read = sync.read_projections

    def counting_read(session, loaded):
        reads.append(loaded.instance.id)
        return original_read(session, loaded)

    monkeypatch.setattr(sync, "read_projections", counting_read)


@pytest.fixture
def kept_at_once(monkeypatch):
    """Keep each save's workflow and rows at once (the session fixture's commits are savepoints); count reads."""
    reads = []
    count_reads(monkeypatch, reads)
    keep_at_once(monkeypatch)
    yield reads
    workflow_cache.live_workflows.clear()


def test_a_return_reads_the_rows_because_it_reopens_a_row(session, actors, kept_at_once):
    li, chen, lin = actors("li.sl"), actors("chen.tj"), actors("lin.ld")
    inst = lifecycle.start_instance(session, process_key="returns", actor=li)
    lifecycle.complete_task(session, task_id=only_task(session, inst.id, "submit").id, data={"content": "初稿"}, actor=li)
    check = only_task(session, inst.id, "check")
    lifecycle.complete_task(session, task_id=check.id, data={"finding": "属实"}, actor=chen)
    assert kept_at_once == []  # two completions on the kept workflow, neither read the rows back
    approve = only_task(session, inst.id, "approve")
    inst = tasks.return_task(session, task_id=approve.id, actor=lin, to_element="check", opinion="核查不充分")
    assert kept_at_once == [inst.id]
    # The same row reopened for whoever did it, not a second row for the same task.
    reopened = only_task(session, inst.id, "check")
    assert (reopened.id, reopened.assignee_id) == (check.id, chen.id)
    session.refresh(approve)
    assert approve.status == TaskStatus.CANCELLED
    lifecycle.complete_task(session, task_id=reopened.id, data={"finding": "属实"}, actor=chen)
    done = lifecycle.complete_task(session, task_id=only_task(session, inst.id, "approve").id,
                                   data={"approved": True}, actor=lin)
    assert done.status == InstanceStatus.COMPLETED and kept_at_once == [inst.id]


def test_a_step_ending_in_error_keeps_no_rows_so_the_retry_reads_them(session, actors, kept_at_once):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="fragile", actor=li)
    task = only_task(session, inst.id, "enter")
    inst = lifecycle.complete_task(session, task_id=task.id, data={"divisor": 0}, actor=li)
    assert inst.status == InstanceStatus.ERROR and inst.id in workflow_cache.live_workflows
    inst = lifecycle.retry_instance(session, instance_id=inst.id, actor=actors("admin"), data={"divisor": 4})
    assert inst.status == InstanceStatus.RUNNING and kept_at_once == [inst.id]
    session.refresh(task)
    # The completed task stays completed: the rows known before the failed step did not yet say so.
    assert task.status == TaskStatus.COMPLETED
    assert only_task(session, inst.id, "check")


def test_a_timer_batch_knows_the_rows_it_wrote(session, actors, frozen, monkeypatch):
    """Plain firings saved together (timer_batch.save_plain) keep their rows with their workflows too."""
    verified, made = [], []

    def check(s, instance_id, version, companion):
        if companion is not None:
            s.flush()
            assert_rows_are(s, instance_id, companion, f"case {instance_id} at version {version}")
            verified.append(instance_id)

    original = sync.known_after_timers
    monkeypatch.setattr(sync, "known_after_timers", lambda *a, **kw: made.append(1) or original(*a, **kw))
    keep_at_once(monkeypatch, check=check)
    try:
        ids = [_start(session, actors, kind).id for kind in KINDS]
        for advance in (timedelta(hours=1), timedelta(days=1), timedelta(days=3), timedelta(days=30)):
            frozen.advance(advance)
            timers.fire_cases_timers(session, instance_ids=ids, now=clock.now())
    finally:
        workflow_cache.live_workflows.clear()
    assert len(made) >= 3 and len(verified) > len(KINDS)
