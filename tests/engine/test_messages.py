"""Messages from outside: correlation, payload, kept or refused, message start, boundary, receive task."""
from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import delete, func, select

from engine.cases.queries import todo
from engine.errors import MessageNotDelivered
from engine.org.orgs import SYSTEM, actor_for
from engine.runtime import lifecycle
from engine.runtime.messages import pending_messages, send_message
from engine.store import audit
from engine.store.models import EventWait, HumanTask, Instance, InstanceStatus, PendingMessage, TaskStatus
from tests.factories import audit_count, only_task, open_tasks


def start_supervise(session, actors, item_no: str, *, handled: bool = True):
    """Start a `supervise` item for the police; with ``handled`` it then waits for progress reports."""
    inst = lifecycle.start_instance(session, process_key="supervise", actor=actors("zheng.dc"),
                                  data={"item_no": item_no, "unit": "police"})
    if handled:
        lifecycle.complete_task(session, task_id=only_task(session, inst.id, "handle").id,
                              data={"measures": "已部署整改"}, actor=actors("zhou.ga"))
    return inst


def waits(session, instance_id: int) -> list[tuple[str, str, dict]]:
    return [(w.element_id, w.name, w.correlation) for w in session.scalars(
        select(EventWait).where(EventWait.instance_id == instance_id).order_by(EventWait.id))]


def messages_of(session, instance_id: int) -> list:
    return [e for e in audit.history(session, instance_id=instance_id) if e.kind == "message_received"]


def pending_count(session) -> int:
    return session.scalar(select(func.count()).select_from(PendingMessage)) or 0


def test_message_advances_only_the_case_whose_correlation_matches(session, actors):
    first = start_supervise(session, actors, "DB-001")
    second = start_supervise(session, actors, "DB-002")
    assert waits(session, first.id) == [("wait_feedback", "unit_feedback", {"item_no": "DB-001"})]
    before_first = audit_count(session, first.id)

    delivery = send_message(session, name="unit_feedback", correlation={"item_no": "DB-002"},
                            payload={"progress": "已完成一半", "final": False}, actor=SYSTEM)
    assert (delivery.instance_ids, delivery.started, delivery.kept_id) == ([second.id], [], None)
    session.refresh(second)
    assert second.data["progress"] == "已完成一半"  # the payload lands in the case data
    [entry] = messages_of(session, second.id)
    assert (entry.element_id, entry.payload["name"], entry.payload["correlation"]) == (
        "wait_feedback", "unit_feedback", {"item_no": "DB-002"})
    # Not final: the receive task waits for the next report.
    assert waits(session, second.id) == [("wait_feedback", "unit_feedback", {"item_no": "DB-002"})]
    assert audit_count(session, first.id) == before_first
    assert "progress" not in session.get(Instance, first.id).data

    send_message(session, name="unit_feedback", correlation={"item_no": "DB-002"},
                 payload={"progress": "全部完成", "final": True}, actor=SYSTEM)
    review = only_task(session, second.id, "review")
    assert (review.candidate_role, review.candidate_org.code) == ("inspector", "county")
    assert waits(session, second.id) == []
    assert session.get(Instance, second.id).data["progress"] == "全部完成"
    assert len(messages_of(session, second.id)) == 2


def test_message_without_receiver_is_refused_when_nothing_keeps_it(session, actors):
    inst = start_supervise(session, actors, "DB-010")
    before = (pending_count(session), audit_count(session, inst.id))
    with pytest.raises(MessageNotDelivered) as info:
        send_message(session, name="unit_feedback", correlation={"item_no": "DB-999"}, payload={"final": True},
                     actor=SYSTEM)
    assert "DB-999" in info.value.message and "未被接收" in info.value.message
    with pytest.raises(MessageNotDelivered):
        send_message(session, name="no_such_message", payload={}, actor=SYSTEM)
    assert (pending_count(session), audit_count(session, inst.id)) == before


def test_kept_message_is_delivered_when_a_matching_case_waits(session, actors):
    case_no = f"(2026)调确{uuid.uuid4().hex[:6]}号"
    delivery = send_message(session, name="judicial_confirmation", correlation={"case_no": case_no},
                            payload={"confirmed": True, "court": "平安县人民法院"}, actor=SYSTEM)
    assert delivery.instance_ids == [] and delivery.kept_id is not None
    assert [m.id for m in pending_messages(session, name="judicial_confirmation")][-1] == delivery.kept_id

    mediator = actors("chen.tj")
    other = lifecycle.start_instance(session, process_key="await_msg", actor=mediator)
    other = lifecycle.complete_task(session, task_id=only_task(session, other.id).id,
                                  data={"case_no": case_no + "-其他"}, actor=mediator)
    assert other.status == InstanceStatus.RUNNING  # a different case number does not take it
    assert session.get(PendingMessage, delivery.kept_id).consumed_at is None

    inst = lifecycle.start_instance(session, process_key="await_msg", actor=mediator)
    inst = lifecycle.complete_task(session, task_id=only_task(session, inst.id).id, data={"case_no": case_no},
                                 actor=mediator)
    assert (inst.status, inst.end_event) == (InstanceStatus.COMPLETED, "end")
    assert inst.data["court"] == "平安县人民法院" and inst.data["confirmed"] is True
    kept = session.get(PendingMessage, delivery.kept_id)
    assert kept.consumed_by_instance_id == inst.id and kept.consumed_at is not None
    [entry] = messages_of(session, inst.id)
    assert entry.payload["correlation"] == {"case_no": case_no} and "kept_since" in entry.payload
    assert [e.kind for e in audit.history(session, instance_id=inst.id)][-2:] == ["message_received", "finished"]


def test_same_message_twice_advances_the_wait_once(session, actors):
    mediator = actors("chen.tj")
    inst = lifecycle.start_instance(session, process_key="await_msg", actor=mediator)
    lifecycle.complete_task(session, task_id=only_task(session, inst.id).id, data={"case_no": "DUP-1"}, actor=mediator)
    first = send_message(session, name="judicial_confirmation", correlation={"case_no": "DUP-1"},
                         payload={"confirmed": True}, actor=SYSTEM)
    assert first.instance_ids == [inst.id]
    history = audit_count(session, inst.id)
    again = send_message(session, name="judicial_confirmation", correlation={"case_no": "DUP-1"},
                         payload={"confirmed": True}, actor=SYSTEM)
    assert again.instance_ids == [] and again.kept_id is not None  # nothing waits: kept, as configured
    assert audit_count(session, inst.id) == history
    assert len(messages_of(session, inst.id)) == 1


def test_concurrent_copies_of_a_message_advance_the_wait_once(committed):
    svc = committed
    case_no = f"RACE-{uuid.uuid4().hex[:8]}"
    with svc.session() as s:
        mediator = actor_for(s, username="chen.tj")
        inst = lifecycle.start_instance(s, process_key="await_msg", actor=mediator)
        lifecycle.complete_task(s, task_id=only_task(s, inst.id).id, data={"case_no": case_no}, actor=mediator)
    outcomes, barrier = [], threading.Barrier(3)

    def sender():
        barrier.wait()
        with svc.session() as s:
            delivery = send_message(s, name="judicial_confirmation", correlation={"case_no": case_no},
                                    payload={"confirmed": True}, actor=SYSTEM)
        outcomes.append("delivered" if delivery.instance_ids else "kept")

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(outcomes) == ["delivered", "kept", "kept"]
        with svc.session() as s:
            kinds = [e.kind for e in audit.history(s, instance_id=inst.id)]
            assert kinds.count("message_received") == 1 and kinds.count("finished") == 1
            assert s.get(Instance, inst.id).status == InstanceStatus.COMPLETED
    finally:
        with svc.session() as s:
            s.execute(delete(PendingMessage).where(PendingMessage.correlation["case_no"].as_string() == case_no))


def test_boundary_message_interrupts_the_task(session, actors):
    inst = start_supervise(session, actors, "DB-020", handled=False)
    handle = only_task(session, inst.id, "handle")
    assert {(w[0], w[1]) for w in waits(session, inst.id)} == {("revoked", "item_revoked")}
    send_message(session, name="item_revoked", correlation={"item_no": "DB-020"}, payload={"reason": "已由上级督办"},
                 actor=SYSTEM)
    session.refresh(inst)
    session.refresh(handle)
    assert (inst.status, inst.end_event, inst.data["reason"]) == (InstanceStatus.COMPLETED, "end_revoked", "已由上级督办")
    assert handle.status == TaskStatus.CANCELLED
    assert handle.id not in [t.id for t in todo(session, actor=actors("zhou.ga"))]
    assert waits(session, inst.id) == []


def test_boundary_message_after_the_task_is_done_is_refused(session, actors):
    inst = start_supervise(session, actors, "DB-021")  # handled: the boundary event is gone
    with pytest.raises(MessageNotDelivered):
        send_message(session, name="item_revoked", correlation={"item_no": "DB-021"}, actor=SYSTEM)
    assert session.get(Instance, inst.id).status == InstanceStatus.RUNNING


def test_message_start_event_starts_a_case(session, actors):
    ticket = {"ticket_no": "12345-0001", "content": "小区噪音扰民", "caller": "刘女士"}
    delivery = send_message(session, name="hotline_ticket", payload=ticket, actor=SYSTEM, org_code="chengguan")
    assert delivery.instance_ids == [] and len(delivery.started) == 1
    inst = session.get(Instance, delivery.started[0])
    assert (inst.process_key, inst.org.code, inst.status) == ("hotline", "chengguan", InstanceStatus.RUNNING)
    assert inst.title == "热线：小区噪音扰民"
    assert {k: inst.data[k] for k in ticket} == ticket
    accept = only_task(session, inst.id, "accept")
    assert (accept.candidate_role, accept.candidate_org.code) == ("dispatcher", "chengguan")
    assert accept.id in [t.id for t in todo(session, actor=actors("li.sl"))]
    assert [e.kind for e in audit.history(session, instance_id=inst.id)] == ["started", "message_received"]

    again = send_message(session, name="hotline_ticket", payload={**ticket, "ticket_no": "12345-0002"}, actor=SYSTEM,
                         org_code="hexi")
    second = session.get(Instance, again.started[0])
    assert (second.org.code, second.data["ticket_no"]) == ("hexi", "12345-0002")
    assert len(open_tasks(session, second.id)) == 1


def test_message_reaches_every_matching_case_once(session, actors):
    # Two cases share an item number: the message is for both, and each takes it at one wait.
    one = start_supervise(session, actors, "DB-030")
    two = start_supervise(session, actors, "DB-030")
    delivery = send_message(session, name="unit_feedback", correlation={"item_no": "DB-030"},
                            payload={"final": True}, actor=SYSTEM)
    assert delivery.instance_ids == [one.id, two.id]
    for inst in (one, two):
        assert len(messages_of(session, inst.id)) == 1
        assert only_task(session, inst.id).element_id == "review"
    assert session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id.in_([one.id, two.id]), HumanTask.element_id == "review")) == 2
