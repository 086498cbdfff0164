"""Event-based gateways run: the first of a message or a timer wins, the other is withdrawn (issue 15)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.definitions.deployment import deploy
from engine.errors import MessageNotDelivered
from engine.org.orgs import SYSTEM
from engine.runtime import lifecycle, timers
from engine.runtime.messages import send_message
from engine.store.models import EventWait, Instance, InstanceStatus

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "event_gateway"


@pytest.fixture
def case(session, actors):
    deploy(session, paths=[FIXTURE])

    def start(ref: str) -> Instance:
        return lifecycle.start_instance(session, process_key="ebg", actor=actors("li.sl"), data={"ref": ref})
    return start


def _waits(session, instance_id: int) -> list[tuple[str, str]]:
    return sorted((w.kind, w.element_id) for w in session.scalars(select(EventWait).where(
        EventWait.instance_id == instance_id)))


def test_the_gateway_waits_for_both_and_the_message_wins(session, case, frozen):
    first = case("A-1")
    assert _waits(session, first.id) == [("message", "got"), ("timer", "late")]
    delivered = send_message(session, name="reply", correlation={"ref": "A-1"}, payload={"answer": "同意"}, actor=SYSTEM)
    assert delivered.instance_ids == [first.id]
    session.expire_all()
    done = session.get(Instance, first.id)
    assert (done.status, done.end_event, done.data["reply"]) == (InstanceStatus.COMPLETED, "end_reply", {"ref": "A-1", "answer": "同意"})
    assert _waits(session, first.id) == []  # the timer was withdrawn with its branch
    frozen.advance(timedelta(hours=3))
    assert [f.instance_id for f in timers.fire_due(session)] == []


def test_the_timer_wins_when_no_message_comes_and_a_late_message_finds_nobody(session, case, frozen):
    second = case("B-1")
    frozen.advance(timedelta(hours=1, minutes=59))
    assert timers.fire_due(session) == []
    frozen.advance(timedelta(minutes=2))
    assert [f.instance_id for f in timers.fire_due(session)] == [second.id]
    session.expire_all()
    done = session.get(Instance, second.id)
    assert (done.status, done.end_event) == (InstanceStatus.COMPLETED, "end_late") and "reply" not in done.data
    assert _waits(session, second.id) == []
    with pytest.raises(MessageNotDelivered):
        send_message(session, name="reply", correlation={"ref": "B-1"}, payload={"answer": "迟到"}, actor=SYSTEM)


def test_a_message_for_another_case_leaves_this_one_waiting(session, case):
    mine, other = case("C-1"), case("C-2")
    send_message(session, name="reply", correlation={"ref": "C-2"}, payload={"answer": "好"}, actor=SYSTEM)
    session.expire_all()
    assert session.get(Instance, mine.id).status == InstanceStatus.RUNNING
    assert _waits(session, mine.id) == [("message", "got"), ("timer", "late")]
    assert session.get(Instance, other.id).end_event == "end_reply"
