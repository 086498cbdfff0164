"""Moving cases whose live part is a multi-instance step or an event-based gateway."""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.definitions.deployment import deploy
from engine.org.orgs import SYSTEM
from engine.runtime import lifecycle, timers
from engine.runtime.messages import send_message
from engine.store.db import make_session_factory
from engine.store.models import EventWait, Instance, InstanceStatus
from engine.studio.migration import get_job, run_migration_job, start_migration
from engine.studio.migration_models import JobStatus
from tests.factories import only_task, open_tasks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def factory(services, session):
    return make_session_factory(session.bind, join_transaction_mode="create_savepoint", info={"pingan": services.context})


def _copy(tmp_path: Path, source: Path, key: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "processes").mkdir(parents=True)
    for f in (source / "processes").glob(f"{key}.*"):
        shutil.copy(f, repo / "processes" / f.name)
    shutil.copytree(source / "forms" / key, repo / "forms" / key)
    return repo


def _edit(repo: Path, key: str, old: str, new: str) -> None:
    path = repo / "processes" / f"{key}.bpmn"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _move(session, actors, factory, key: str, version: int, ids: list[int]) -> list:
    job = start_migration(session, actor=actors("designer"), process_key=key, to_version=version, instance_ids=ids)
    assert run_migration_job(factory, job.id) == JobStatus.DONE
    session.expire_all()
    return get_job(session, job_id=job.id, actor=actors("designer")).cases


def test_a_countersign_half_signed_moves_with_each_units_task(session, actors, factory, tmp_path):
    repo = _copy(tmp_path, FIXTURES / "repo", "countersign")
    (v1,) = deploy(session, paths=[repo])
    li = actors("li.sl")
    case = lifecycle.start_instance(session, process_key="countersign", version=v1.version, actor=li)
    lifecycle.complete_task(session, task_id=only_task(session, case.id, "dispatch").id,
                          data={"units": ["police", "housing", "justice"]}, actor=li)
    by_unit = {t.candidate_org.code: t for t in open_tasks(session, case.id)}
    lifecycle.complete_task(session, task_id=by_unit["police"].id, data={"feedback": "公安已协办"}, actor=actors("zhou.ga"))
    before = {t.id: (t.candidate_org_id, t.multi_index, t.candidate_role) for t in open_tasks(session, case.id)}
    assert len(before) == 2
    _edit(repo, "countersign", 'name="汇总"', 'name="汇总并答复"')
    (v2,) = deploy(session, paths=[repo])
    (outcome,) = _move(session, actors, factory, "countersign", v2.version, [case.id])
    assert outcome.ok, outcome.reason
    assert {t.id: (t.candidate_org_id, t.multi_index, t.candidate_role) for t in open_tasks(session, case.id)} == before
    lifecycle.complete_task(session, task_id=by_unit["housing"].id, data={"feedback": "住建已协办"}, actor=actors("wu.zj"))
    done = lifecycle.complete_task(session, task_id=by_unit["justice"].id, data={"feedback": "司法已协办"}, actor=actors("ma.sf"))
    assert only_task(session, case.id, "summarize").title == "汇总并答复"
    # Each unit's answer lands in its own place: the instances kept their items through the move.
    assert done.data["feedbacks"] == ["公安已协办", "住建已协办", "司法已协办"]


def test_an_event_based_gateway_moves_and_its_timer_keeps_its_time(session, actors, factory, frozen, tmp_path):
    repo = _copy(tmp_path, FIXTURES / "event_gateway", "ebg")
    (v1,) = deploy(session, paths=[repo])
    waiting = lifecycle.start_instance(session, process_key="ebg", version=v1.version, actor=actors("li.sl"), data={"ref": "M-1"})
    answered = lifecycle.start_instance(session, process_key="ebg", version=v1.version, actor=actors("li.sl"), data={"ref": "M-2"})
    due = session.scalar(select(EventWait.due_at).where(EventWait.instance_id == waiting.id, EventWait.kind == "timer"))
    frozen.advance(timedelta(hours=1))
    _edit(repo, "ebg", '<bpmn:endEvent id="end_late">', '<bpmn:endEvent id="end_late" name="超时未答复">')
    (v2,) = deploy(session, paths=[repo])
    assert [c.ok for c in _move(session, actors, factory, "ebg", v2.version, [waiting.id, answered.id])] == [True, True]
    assert sorted((w.kind, w.element_id, w.due_at) for w in session.scalars(
        select(EventWait).where(EventWait.instance_id == waiting.id))) == [("message", "got", None), ("timer", "late", due)]
    # The message still wins where it comes; the timer fires two hours after the start, not after the move.
    send_message(session, name="reply", correlation={"ref": "M-2"}, payload={"answer": "同意"}, actor=SYSTEM)
    frozen.advance(due - frozen.now() + timedelta(seconds=1))
    assert [f.instance_id for f in timers.fire_due(session)] == [waiting.id]
    session.expire_all()
    assert (session.get(Instance, waiting.id).status, session.get(Instance, waiting.id).end_event) == (
        InstanceStatus.COMPLETED, "end_late")
    assert session.get(Instance, answered.id).end_event == "end_reply"
