"""Starting, completing, cancelling and retrying cases; locks, scopes and history."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, text

from engine.definitions.deployment import deploy, get_definition
from engine.errors import FormInvalid, NotAllowed, TaskNotOpen
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store import audit
from engine.store.models import CaseField, Instance, InstanceStatus, TaskStatus
from tests.factories import audit_count, copy_repo, only_task, open_tasks, start_review


def test_start_opens_first_task_in_the_starters_org(session, actors):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    assert inst.status == InstanceStatus.RUNNING
    assert inst.business_key.startswith("RV-")
    task = only_task(session, inst.id, "register")
    assert (task.candidate_role, task.candidate_org.code, task.assignee_id) == ("dispatcher", "chengguan", None)
    assert task.form_key == "review/register" and task.title == "登记"


def test_normal_amount_ends_directly_with_projected_fields(session, actors):
    inst = start_review(session, actors("li.sl"), subject="修缮围墙", amount=100)
    assert inst.status == InstanceStatus.COMPLETED
    assert inst.end_event == "end_normal"
    assert inst.data["level"] == "normal"
    assert inst.title == "审批：修缮围墙"
    assert session.scalars(select(CaseField.value).where(CaseField.instance_id == inst.id)).all() == ["修缮围墙"]


def test_high_amount_goes_to_leader_with_working_day_deadline(session, actors, frozen):
    inst = start_review(session, actors("li.sl"), amount=50000)
    task = only_task(session, inst.id, "approve")
    assert task.candidate_role == "leader"
    # Monday 2 March 2026 + 3 working days -> Thursday 5 March 17:30 Beijing time.
    assert task.due_at == datetime(2026, 3, 5, 9, 30, tzinfo=timezone.utc)
    assert task.warn_at == datetime(2026, 3, 4, 9, 30, tzinfo=timezone.utc)
    done = lifecycle.complete_task(session, task_id=task.id, data={"approved": True}, actor=actors("lin.ld"), opinion="同意")
    assert (done.status, done.end_event) == (InstanceStatus.COMPLETED, "end_approved")
    entry = audit.history(session, instance_id=inst.id)[-2]
    assert (entry.kind, entry.actor, entry.opinion, entry.payload["data"]) == ("task_completed", "lin.ld", "同意", {"approved": True})


def test_invalid_form_data_changes_nothing(session, actors):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    task = only_task(session, inst.id)
    before = (audit_count(session, inst.id), inst.lock_version)
    with pytest.raises(FormInvalid) as err:
        lifecycle.complete_task(session, task_id=task.id, data={"subject": "", "amount": -5}, actor=li)
    fields = {d.field for d in err.value.details}
    assert fields == {"subject", "amount"}
    session.refresh(task)
    session.refresh(inst)
    assert task.status == TaskStatus.OPEN
    assert (audit_count(session, inst.id), inst.lock_version) == before


def test_org_scope_decides_who_may_act(session, actors):
    inst = start_review(session, actors("li.sl"), amount=50000)
    task = only_task(session, inst.id, "approve")
    with pytest.raises(NotAllowed):
        lifecycle.complete_task(session, task_id=task.id, data={"approved": True}, actor=actors("xu.ld"))  # other township
    with pytest.raises(NotAllowed):
        lifecycle.complete_task(session, task_id=task.id, data={"approved": True}, actor=actors("chen.tj"))  # wrong role
    done = lifecycle.complete_task(session, task_id=task.id, data={"approved": False}, actor=actors("he.ld"))  # county leader
    assert done.end_event == "end_rejected"


def test_completing_twice_says_task_not_open(session, actors):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=li)
    task = only_task(session, inst.id)
    lifecycle.complete_task(session, task_id=task.id, data={"subject": "a", "amount": 1}, actor=li)
    count = audit_count(session, inst.id)
    with pytest.raises(TaskNotOpen):
        lifecycle.complete_task(session, task_id=task.id, data={"subject": "b", "amount": 2}, actor=li)
    assert audit_count(session, inst.id) == count
    assert session.get(Instance, inst.id).data["subject"] == "a"


def test_concurrent_completion_exactly_one_wins(committed):
    svc = committed
    with svc.session() as s:
        li = actor_for(s, username="li.sl")
        inst = lifecycle.start_instance(s, process_key="review", actor=li)
        task_id = only_task(s, inst.id).id
    outcomes, barrier = [], threading.Barrier(4)

    def worker(n):
        barrier.wait()
        try:
            with svc.session() as s:
                lifecycle.complete_task(s, task_id=task_id, data={"subject": f"t{n}", "amount": n}, actor=li)
            outcomes.append("ok")
        except TaskNotOpen:
            outcomes.append("not_open")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["not_open", "not_open", "not_open", "ok"]
    with svc.session() as s:
        completions = [e for e in audit.history(s, instance_id=inst.id) if e.kind == "task_completed"]
        assert len(completions) == 1
        assert s.get(Instance, inst.id).status == InstanceStatus.COMPLETED


def test_cancel_by_initiator_only(session, actors):
    inst = lifecycle.start_instance(session, process_key="review", actor=actors("li.sl"))
    with pytest.raises(NotAllowed):
        lifecycle.cancel_instance(session, instance_id=inst.id, actor=actors("qian.sl"))
    done = lifecycle.cancel_instance(session, instance_id=inst.id, actor=actors("li.sl"), reason="重复登记")
    assert done.status == InstanceStatus.CANCELLED
    assert open_tasks(session, inst.id) == []
    assert audit.history(session, instance_id=inst.id)[-1].opinion == "重复登记"
    with pytest.raises(TaskNotOpen):
        lifecycle.cancel_instance(session, instance_id=inst.id, actor=actors("li.sl"))


def test_failing_script_marks_error_and_retry_recovers(session, actors):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="fragile", actor=li)
    task = only_task(session, inst.id, "enter")
    inst = lifecycle.complete_task(session, task_id=task.id, data={"divisor": 0}, actor=li)
    assert inst.status == InstanceStatus.ERROR
    assert inst.error["element_id"] == "compute"
    assert "division by zero" in inst.error["message"]
    assert "partial" not in inst.data  # the failed script's own writes were rolled back
    assert open_tasks(session, inst.id) == []
    with pytest.raises(NotAllowed):
        lifecycle.retry_instance(session, instance_id=inst.id, actor=li)
    inst = lifecycle.retry_instance(session, instance_id=inst.id, actor=actors("admin"), data={"divisor": 4})
    assert inst.status == InstanceStatus.RUNNING and inst.error is None
    assert inst.data["ratio"] == 25
    assert only_task(session, inst.id, "check")
    kinds = [e.kind for e in audit.history(session, instance_id=inst.id)]
    assert kinds == ["started", "task_completed", "error", "retried"]


def test_audit_chain_detects_an_edited_row(session, actors):
    inst = start_review(session, actors("li.sl"))
    checked, breaks = audit.verify(session, instance_id=inst.id)
    assert checked == 3 and breaks == []
    session.execute(text("UPDATE audit_entries SET opinion = 'forged' WHERE instance_id = :i AND seq = 2"), {"i": inst.id})
    session.expire_all()
    _, breaks = audit.verify(session, instance_id=inst.id)
    assert [(b.seq, "改动" in b.reason) for b in breaks] == [(2, True)]


def test_audit_chain_detects_a_deleted_last_row(session, actors):
    inst = start_review(session, actors("li.sl"))
    session.execute(text("DELETE FROM audit_entries WHERE instance_id = :i AND seq = 3"), {"i": inst.id})
    session.expire_all()
    _, breaks = audit.verify(session, instance_id=inst.id)
    assert len(breaks) == 1 and breaks[0].seq is None


def test_running_case_keeps_its_version_after_redeploy(session, actors, tmp_path):
    li = actors("li.sl")
    old = lifecycle.start_instance(session, process_key="review", actor=li)
    v1 = old.definition.version
    repo = copy_repo(tmp_path)
    bpmn = repo / "processes" / "review.bpmn"
    bpmn.write_text(bpmn.read_text().replace("amount &gt; 10000", "amount &gt; 10"))
    deploy(session, paths=[repo])
    assert get_definition(session, key="review").version == v1 + 1
    old = lifecycle.complete_task(session, task_id=only_task(session, old.id).id, data={"subject": "x", "amount": 500}, actor=li)
    assert (old.definition.version, old.end_event) == (v1, "end_normal")
    new = start_review(session, li, amount=500)
    assert new.definition.version == v1 + 1
    assert only_task(session, new.id).element_id == "approve"
