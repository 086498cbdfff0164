"""Moving running mediation cases to a new version: dry run, the job, what moved and what was left alone."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import EngineError, NotAllowed, NotFound
from engine.runtime import lifecycle
from engine.store.audit import EntryKind, verify
from engine.store.db import make_session_factory
from engine.store.models import AuditEntry, CaseField, EventWait, HumanTask, Instance, InstanceStatus, Notification, ProcessDefinition
from engine.studio.migration import dry_run, get_job, run_migration_job, start_migration
from engine.studio.migration_models import JobStatus
from tests.factories import only_task, open_tasks

from .mediation_versions import (
    add_review_step, copy_mediation, deploy_version, remove_follow_up_wait, remove_leader_step, start_at,
)


@pytest.fixture
def factory(services, session):
    """Sessions on the test's connection: each job transaction is a savepoint, rolled back with the test."""
    return make_session_factory(session.bind, join_transaction_mode="create_savepoint",
                                info={"pingan": services.context})


@pytest.fixture
def versions(session, tmp_path):
    """Deploy mediation as shipped (v1) and return a function deploying an edited copy."""
    repo = copy_mediation(tmp_path / "repo")
    first = deploy_version(session, repo)

    def next_version(*edits) -> int:
        for edit in edits:
            edit(repo)
        return deploy_version(session, repo)
    return first, next_version


def snapshot(session, instance_id: int) -> dict:
    """Every stored row of a case: the instance, its tasks, waits, fields, history and notices."""
    conn = session.connection()
    out = {"instance": conn.execute(select(Instance.__table__).where(Instance.id == instance_id)).all()}
    for model in (HumanTask, EventWait, CaseField, AuditEntry, Notification):
        table = model.__table__
        out[table.name] = conn.execute(select(table).where(table.c.instance_id == instance_id).order_by(table.c.id)).all()
    return out


def version_of(session, instance_id: int) -> int:
    session.expire_all()
    return session.get(Instance, instance_id).definition.version


def test_dry_run_then_job_moves_what_can_move_and_leaves_the_rest(session, actors, frozen, versions, factory):
    v1, next_version = versions
    cases = {step: start_at(session, actors, step, version=v1)
             for step in ("accept", "assign", "session", "alerts", "after_alerts")}
    ids = {step: case.id for step, case in cases.items()}
    v2 = next_version(add_review_step, remove_leader_step)
    designer = actors("designer")

    checked = {c.id: c for c in dry_run(session, actor=designer, process_key="mediation", to_version=v2, from_version=v1)}
    assert set(checked) >= set(ids.values())
    ok = {step for step, i in ids.items() if checked[i].ok}
    assert ok == {"accept", "assign", "session", "after_alerts"}
    refused = checked[ids["alerts"]]
    assert "当前步骤“领导阅批”" in refused.reason and f"v{v2} 中已删除" in refused.reason
    assert "alert_leader" in refused.reason_en
    assert "负责人审核" not in checked[ids["assign"]].reason  # the new step comes after the open one
    assert checked[ids["assign"]].reason == f"可以迁移到 v{v2}，迁移后待办：指派调解员"
    assert all(version_of(session, i) == v1 for i in ids.values()), "a dry run changes nothing"

    before = {step: snapshot(session, i) for step, i in ids.items()}
    open_before = {step: {t.id: (t.element_id, t.assignee_id, t.due_at) for t in open_tasks(session, i)} for step, i in ids.items()}
    timer_before = {w.element_id: w.due_at for w in session.scalars(select(EventWait).where(EventWait.instance_id == ids["session"]))}
    job = start_migration(session, actor=designer, process_key="mediation", to_version=v2, from_version=v1,
                          instance_ids=list(ids.values()))
    assert (job.status, job.total, job.done) == (JobStatus.PENDING, 5, 0)
    seen = []
    status = run_migration_job(factory, job.id, progress=lambda done, total, outcome: seen.append((done, total, outcome.ok)))
    assert status == JobStatus.DONE
    assert [(d, t) for d, t, _ in seen] == [(n, 5) for n in range(1, 6)]
    session.expire_all()
    view = get_job(session, job_id=job.id, actor=designer)
    assert (view.job.status, view.job.done, view.job.total, view.job.moved) == (JobStatus.DONE, 5, 5, 4)
    outcome = {c.id: c for c in view.cases}
    assert not outcome[ids["alerts"]].ok and "领导阅批" in outcome[ids["alerts"]].reason
    assert outcome[ids["session"]].reason == f"已迁移到 v{v2}，当前待办：调解并制作笔录"

    # The refused case is exactly as it was: row, tasks, waits, fields, history, notices.
    assert snapshot(session, ids["alerts"]) == before["alerts"]
    for step in ("accept", "assign", "session", "after_alerts"):
        assert version_of(session, ids[step]) == v2
        # Same open tasks: ids, steps, assignees and deadlines kept.
        assert {t.id: (t.element_id, t.assignee_id, t.due_at) for t in open_tasks(session, ids[step])} == open_before[step]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.instance_id == ids[step])
                                .order_by(AuditEntry.seq.desc())).first()
        assert entry.kind == EntryKind.MIGRATED and entry.actor == "designer"
        assert (entry.payload["from_version"], entry.payload["to_version"]) == (v1, v2)
    assert verify(session)[1] == []  # the history chains still verify
    # The mediation timer keeps its due time (not restarted from the moment of the move).
    assert {w.element_id: w.due_at for w in session.scalars(
        select(EventWait).where(EventWait.instance_id == ids["session"]))} == timer_before

    # The moved cases go on in the new version: the review step is reached after assigning.
    for step, dispatcher, mediator in (("assign", "li.sl", "chen.tj"), ("after_alerts", "zhang.dd", "sun.tj")):
        lifecycle.complete_task(session, task_id=only_task(session, ids[step], "assign").id, actor=actors(dispatcher),
                              data={"lead_mediator": mediator, "selection": "调解委员会指定"})
        review = only_task(session, ids[step], "review")
        assert review.title == "负责人审核" and review.form_key == "mediation/review"
        lifecycle.complete_task(session, task_id=review.id, actor=actors("li.sl"), data={"review_opinion": "同意指派"})
        only_task(session, ids[step], "session")
    lifecycle.complete_task(session, task_id=only_task(session, ids["accept"], "accept").id, data={"accepted": True},
                          actor=actors("li.sl"))
    only_task(session, ids["accept"], "assign")
    lifecycle.complete_task(session, task_id=only_task(session, ids["session"], "session").id, actor=actors("chen.tj"),
                          data={"session_date": "2026-03-03", "session_place": "东街社区调解室", "attendees": "双方",
                                "record": "双方不同意调解。", "outcome": "调解不成"})
    assert session.get(Instance, ids["session"]).status in (InstanceStatus.RUNNING, InstanceStatus.COMPLETED)


def test_a_moved_case_survives_a_reload_and_a_timer(session, actors, frozen, versions, factory):
    """The moved state restores from the database and its boundary timer still fires on time."""
    from datetime import timedelta

    from engine.runtime.timers import fire_due

    v1, next_version = versions
    case = start_at(session, actors, "session", version=v1)
    v2 = next_version(add_review_step)
    job = start_migration(session, actor=actors("admin"), process_key="mediation", to_version=v2, instance_ids=[case.id])
    assert run_migration_job(factory, job.id) == JobStatus.DONE
    session.expire_all()
    (wait,) = session.scalars(select(EventWait).where(EventWait.instance_id == case.id, EventWait.kind == "timer"))
    frozen.advance(wait.due_at - frozen.now() + timedelta(seconds=1))
    fired = fire_due(session)
    assert [f.element_id for f in fired if f.instance_id == case.id] == ["limit_timer"]
    only_task(session, case.id, "limit_reached")


def test_refusals_name_the_reason(session, actors, versions, factory):
    v1, next_version = versions
    running = start_at(session, actors, "assign", version=v1)
    cancelled = start_at(session, actors, "accept", version=v1)
    lifecycle.cancel_instance(session, instance_id=cancelled.id, actor=actors("admin"))
    other = lifecycle.start_instance(session, process_key="review", actor=actors("li.sl"))
    v2 = next_version(add_review_step)
    results = {c.id: c for c in dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2,
                                        instance_ids=[running.id, cancelled.id, other.id, 999_999])}
    assert results[running.id].ok
    assert results[cancelled.id].reason == "案件已撤销，只有办理中的案件可以迁移"
    assert "另一个流程“简单审批”" in results[other.id].reason
    assert results[999_999].reason == "案件 999999 不存在"
    # After the move the case is at v2: asking again says so.
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2, instance_ids=[running.id])
    run_migration_job(factory, job.id)
    session.expire_all()
    (again,) = dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2, instance_ids=[running.id])
    assert (again.ok, again.reason) == (False, f"案件已在 v{v2}")
    (back,) = dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v1, instance_ids=[running.id])
    assert back.ok, back.reason  # moving back to v1 is the same operation


def test_a_removed_form_of_an_open_task_refuses(session, actors, versions):
    v1, next_version = versions
    case = start_at(session, actors, "assign", version=v1)

    def other_form(repo):
        bpmn = repo / "processes" / "mediation.bpmn"
        bpmn.write_text(bpmn.read_text(encoding="utf-8").replace(
            '<spiffworkflow:property name="dueDate" value="workdays(1)" />',
            '<spiffworkflow:property name="dueDate" value="workdays(1)" />\n'
            '          <spiffworkflow:property name="formKey" value="assign_mediator" />', 1), encoding="utf-8")
        (repo / "forms" / "mediation" / "assign.yaml").rename(repo / "forms" / "mediation" / "assign_mediator.yaml")
    v2 = next_version(other_form)
    (result,) = dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2, instance_ids=[case.id])
    assert not result.ok
    assert result.reason == f"待办“指派调解员”使用的表单 forms/mediation/assign.yaml 在 v{v2} 中已删除"


def test_choose_by_current_step(session, actors, versions):
    v1, next_version = versions
    at_accept = start_at(session, actors, "accept", version=v1)
    at_assign = start_at(session, actors, "assign", version=v1)
    v2 = next_version(add_review_step)
    chosen = [c.id for c in dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2,
                                    from_version=v1, step="assign")]
    assert at_assign.id in chosen and at_accept.id not in chosen
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2, step="accept")
    assert at_accept.id in job.instance_ids and at_assign.id not in job.instance_ids
    # A limited dry run checks the first cases and still counts them all.
    limited = dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2,
                      instance_ids=[at_accept.id, at_assign.id], limit=1)
    assert ([c.id for c in limited], limited.total) == ([at_accept.id], 2)


def test_only_designers_and_admins(session, actors, versions):
    v1, next_version = versions
    v2 = next_version(add_review_step)
    for user in ("li.sl", "he.ld", "zheng.dc"):
        with pytest.raises(NotAllowed):
            dry_run(session, actor=actors(user), process_key="mediation", to_version=v2)
        with pytest.raises(NotAllowed):
            start_migration(session, actor=actors(user), process_key="mediation", to_version=v2)
    with pytest.raises(NotFound):
        dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2 + 5)
    with pytest.raises(EngineError, match="相同"):
        dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2, from_version=v2)


def test_a_job_taken_by_a_live_runner_is_left_alone(session, actors, versions, factory):
    v1, next_version = versions
    case = start_at(session, actors, "accept", version=v1)
    v2 = next_version(add_review_step)
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2, instance_ids=[case.id])
    assert run_migration_job(factory, job.id) == JobStatus.DONE
    # A second delivery of the same job (Celery redelivers after a lost worker) moves nothing twice.
    assert run_migration_job(factory, job.id) == JobStatus.DONE
    session.expire_all()
    view = get_job(session, job_id=job.id, actor=actors("designer"))
    assert (view.job.done, len(view.cases)) == (1, 1)
    assert session.scalar(select(ProcessDefinition.version).where(
        ProcessDefinition.id == session.get(Instance, case.id).definition_id)) == v2


def test_a_stopped_job_goes_on_where_it_stopped_and_a_live_one_is_left_alone(session, actors, frozen, versions, factory):
    from datetime import timedelta

    from engine.studio.migration import LEASE

    v1, next_version = versions
    first, second = (start_at(session, actors, "accept", version=v1) for _ in range(2))
    v2 = next_version(add_review_step)
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2,
                          instance_ids=[first.id, second.id])

    def lose_the_database(done, total, outcome):
        raise RuntimeError("connection lost")
    # The runner stops after the first case: the job says so, the moved case stays moved.
    assert run_migration_job(factory, job.id, progress=lose_the_database) == JobStatus.FAILED
    session.expire_all()
    view = get_job(session, job_id=job.id, actor=actors("designer"))
    assert (view.job.status, view.job.done, view.job.error) == (JobStatus.FAILED, 1, "connection lost")
    assert (version_of(session, first.id), version_of(session, second.id)) == (v2, v1)
    # A runner that is alive (its heartbeat is fresh) keeps the job to itself.
    view.job.status, view.job.heartbeat_at = JobStatus.RUNNING, frozen.now()
    session.flush()
    assert run_migration_job(factory, job.id) == JobStatus.RUNNING
    assert version_of(session, second.id) == v1
    # Once its lease has run out, the job is taken over and finished, each case moved once.
    frozen.advance(LEASE + timedelta(seconds=1))
    assert run_migration_job(factory, job.id) == JobStatus.DONE
    session.expire_all()
    view = get_job(session, job_id=job.id, actor=actors("designer"))
    assert (view.job.done, view.job.moved, [c.id for c in view.cases]) == (2, 2, [first.id, second.id])
    assert version_of(session, second.id) == v2
    assert [e.kind for e in session.scalars(select(AuditEntry).where(AuditEntry.instance_id == first.id))].count(
        EntryKind.MIGRATED) == 1


def _waits(session, instance_id: int) -> dict:
    return {(w.element_id, w.kind): w.due_at for w in session.scalars(select(EventWait).where(EventWait.instance_id == instance_id))}


def test_a_waiting_join_and_a_running_subprocess_move(session, actors, frozen, versions, factory):
    """A parallel join half done, and the aftercare subprocess waiting for the court and two timers."""
    from datetime import timedelta

    from engine.runtime.messages import send_message
    from engine.runtime.timers import fire_due

    v1, next_version = versions
    leader = start_at(session, actors, "leader", version=v1)
    aftercare = start_at(session, actors, "aftercare", version=v1)
    waits_before = _waits(session, aftercare.id)
    assert {e for e, _ in waits_before} == {"await_court", "court_timeout", "follow_up_wait"}
    frozen.advance(timedelta(days=3))  # timers counted from now would now differ
    v2 = next_version(add_review_step)
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2,
                          instance_ids=[leader.id, aftercare.id])
    assert run_migration_job(factory, job.id) == JobStatus.DONE
    session.expire_all()
    assert [c.ok for c in get_job(session, job_id=job.id, actor=actors("designer")).cases] == [True, True]
    assert _waits(session, aftercare.id) == waits_before

    # The join still waits for the leader; once the leader has read it, the case reaches assign, then review.
    lifecycle.complete_task(session, task_id=only_task(session, leader.id, "alert_leader").id, actor=actors("he.ld"),
                          data={"leader_instruction": "由县调委会牵头调处。"})
    lifecycle.complete_task(session, task_id=only_task(session, leader.id, "assign").id, actor=actors("zhang.dd"),
                          data={"lead_mediator": "sun.tj", "selection": "调解委员会指定"})
    only_task(session, leader.id, "review")

    # The subprocess still hears the court and its follow-up timer fires when it was due before the move.
    send_message(session, name="judicial_confirmation", correlation={"court_case_no": "(2026)平0101民特12号"},
                      payload={"confirmed": True, "ruling_no": "(2026)平0101民特12号之一", "court": "平安县人民法院"},
                      actor=actors("admin"))
    assert {e for e, _ in _waits(session, aftercare.id)} == {"follow_up_wait"}
    frozen.advance(waits_before[("follow_up_wait", "timer")] - frozen.now() + timedelta(seconds=1))
    fire_due(session)
    only_task(session, aftercare.id, "follow_up")


def test_a_removed_wait_inside_a_running_subprocess_refuses(session, actors, versions):
    v1, next_version = versions
    aftercare = start_at(session, actors, "aftercare", version=v1)
    at_accept = start_at(session, actors, "accept", version=v1)
    v2 = next_version(remove_follow_up_wait)
    results = {c.id: c for c in dry_run(session, actor=actors("designer"), process_key="mediation", to_version=v2,
                                        instance_ids=[aftercare.id, at_accept.id])}
    assert results[aftercare.id].reason == f"子流程“司法确认与回访”中正在等待的事件“回访时点”在 v{v2} 中已删除"
    assert results[at_accept.id].ok


def test_a_job_nobody_took_shows_as_stalled(session, actors, frozen, versions):
    from datetime import timedelta

    from engine.studio.migration import LEASE, resume_job

    v1, next_version = versions
    case = start_at(session, actors, "accept", version=v1)
    v2 = next_version(add_review_step)
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2, instance_ids=[case.id])
    assert not get_job(session, job_id=job.id, actor=actors("designer")).stalled  # just queued
    frozen.advance(LEASE + timedelta(seconds=1))  # the broker lost it, or the thread never started
    assert get_job(session, job_id=job.id, actor=actors("designer")).stalled
    assert resume_job(session, job_id=job.id, actor=actors("designer")).job.id == job.id
    with pytest.raises(NotAllowed):
        resume_job(session, job_id=job.id, actor=actors("li.sl"))


def test_the_sweep_takes_up_a_job_whose_runner_died_once_per_lease(session, actors, frozen, versions, factory):
    from datetime import timedelta

    from engine.studio.migration import LEASE, take_up_stalled_jobs

    v1, next_version = versions
    case = start_at(session, actors, "accept", version=v1)
    v2 = next_version(add_review_step)
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2, instance_ids=[case.id])
    job.status, job.heartbeat_at = JobStatus.RUNNING, frozen.now()   # a runner took it, then its process died
    session.flush()
    handed: list[int] = []
    assert take_up_stalled_jobs(factory, run=handed.append) == [] and handed == []   # its lease is still fresh
    frozen.advance(LEASE + timedelta(seconds=1))
    assert take_up_stalled_jobs(factory, run=handed.append) == [job.id] and handed == [job.id]
    # The next sweeps within the lease leave it to the runner just handed it.
    assert take_up_stalled_jobs(factory, run=handed.append) == [] and handed == [job.id]
    assert run_migration_job(factory, handed[0]) == JobStatus.DONE
    assert version_of(session, case.id) == v2
    frozen.advance(LEASE * 3)
    assert take_up_stalled_jobs(factory, run=handed.append) == []                    # done: nothing to take up


def test_a_failed_job_is_left_for_the_designer(session, actors, frozen, versions, factory):
    from datetime import timedelta

    from engine.studio.migration import LEASE, take_up_stalled_jobs

    v1, next_version = versions
    case = start_at(session, actors, "accept", version=v1)
    v2 = next_version(add_review_step)
    job = start_migration(session, actor=actors("designer"), process_key="mediation", to_version=v2, instance_ids=[case.id])
    job.status, job.heartbeat_at, job.error = JobStatus.FAILED, frozen.now(), "connection lost"
    session.flush()
    frozen.advance(LEASE * 2)
    assert take_up_stalled_jobs(factory, run=lambda job_id: None) == []
    assert version_of(session, case.id) == v1
