"""Every value a script can leave in the data is saved, restored with its type, and shown as JSON."""
from __future__ import annotations

import json
import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.definitions.deployment import deploy
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import AuditEntry, CaseField, Instance, InstanceStatus
from tests.factories import only_task

VALUES = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "values"
_CST = timezone(timedelta(hours=8))

# kind -> (the value the script makes, its JSON form in the case data)
CASES = {
    "date": (date(2026, 3, 2), "2026-03-02"),
    "datetime": (datetime(2026, 3, 2, 9, 30, 15, 123456), "2026-03-02T09:30:15.123456"),
    "datetime_aware": (datetime(2026, 3, 2, 9, 30, tzinfo=_CST), "2026-03-02T09:30:00+08:00"),
    "datetime_utc": (datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc), "2026-03-02T01:30:00+00:00"),
    "time": (time(9, 30, 5), "09:30:05"),
    "timedelta": (timedelta(days=1, hours=2, microseconds=5), "P1DT2H0.000005S"),
    "decimal": (Decimal("1.10"), "1.10"),
    "decimal_sum": (Decimal("0.3"), "0.3"),
    "set": ({1, 2, 3}, [1, 2, 3]),
    "frozenset": (frozenset({"a", "b"}), ["a", "b"]),
    "tuple": ((1, "a", (2, 3)), [1, "a", [2, 3]]),
    "int_keys": ({1: "a", 2: "b"}, {"1": "a", "2": "b"}),
    "tagged_dict": ({"typename": "datetime", "value": "not a date"}, {"typename": "datetime", "value": "not a date"}),
    "nested": ({"when": [date(2026, 3, 2), {"amount": Decimal("9.99")}], "tags": {("a", 1)}},
               {"when": ["2026-03-02", {"amount": "9.99"}], "tags": [["a", 1]]}),
    "bytes": ("é".encode(), "w6k="),
    "nan": (math.nan, "nan"),
    "timezone": (_CST, "UTC+08:00"),
}


@pytest.fixture
def values_process(session):
    deploy(session, paths=[VALUES])


def _same(a, b) -> bool:
    """Equal, and of the same type all the way down (1 == 1.0 == True would not do)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b and (not isinstance(a, datetime) or a.utcoffset() == b.utcoffset())


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_script_value_survives_save_and_restore(session, values_process, kind):
    made, shown = CASES[kind]
    li = actor_for(session, username="li.sl")
    inst = lifecycle.start_instance(session, process_key="values", actor=li)
    inst = lifecycle.complete_task(session, task_id=only_task(session, inst.id, "choose").id,
                                 data={"kind": kind}, actor=li)
    assert (inst.status, inst.error) == (InstanceStatus.RUNNING, None)
    session.expire_all()

    # The stored row is JSON as the database gave it back, with the JSON-friendly form.
    stored = session.get(Instance, inst.id)
    assert json.loads(json.dumps(stored.data)) == stored.data
    assert stored.data["value"] == shown

    # Restored from the stored state, the next step sees exactly the value the script made.
    loaded = lifecycle.load(session, instance_id=inst.id)
    [ready] = loaded.runner.ready_user_tasks()
    assert _same(ready.data["value"], made), (ready.data["value"], made)

    # A script after the restore uses it; the finished case shows it too.
    session.expire_all()
    done = lifecycle.complete_task(session, task_id=only_task(session, inst.id, "check").id, data={"seen": True}, actor=li)
    assert done.status == InstanceStatus.COMPLETED
    assert done.data["echo"] == [shown] and done.data["value"] == shown


def test_scalar_values_are_searchable_in_their_json_form(session, values_process):
    li = actor_for(session, username="li.sl")
    for kind in ("date", "decimal", "datetime_aware"):
        inst = lifecycle.start_instance(session, process_key="values", actor=li)
        lifecycle.complete_task(session, task_id=only_task(session, inst.id, "choose").id, data={"kind": kind}, actor=li)
        assert session.scalars(select(CaseField.value).where(CaseField.instance_id == inst.id)).all() == [CASES[kind][1]]


def test_a_value_that_cannot_be_stored_fails_its_script_not_every_save(session, values_process):
    li = actor_for(session, username="li.sl")
    inst = lifecycle.start_instance(session, process_key="values", actor=li)
    inst = lifecycle.complete_task(session, task_id=only_task(session, inst.id, "choose").id,
                                 data={"kind": "pattern"}, actor=li)
    assert inst.status == InstanceStatus.ERROR
    assert inst.error["element_id"] == "make"
    # Refused where the script left it (values.check), or already where its result comes back
    # from the script worker (worker_protocol): either way the message says why.
    assert ("无法保存的值：data.value（类型 Pattern）" in inst.error["message"]
            or "不能保存为数据的值（re._compile）" in inst.error["message"])
    assert "value" not in inst.data  # the script's writes were rolled back
    kinds = list(session.scalars(select(AuditEntry.kind).where(AuditEntry.instance_id == inst.id).order_by(AuditEntry.seq)))
    assert kinds == ["started", "task_completed", "error"]
    # Corrected data lets the admin's retry go on.
    inst = lifecycle.retry_instance(session, instance_id=inst.id, actor=actor_for(session, username="admin"),
                                  data={"kind": "decimal"})
    assert (inst.status, inst.data["value"]) == (InstanceStatus.RUNNING, "1.10")


def test_a_message_correlated_on_script_values_is_awaited_and_caught(session):
    from engine.runtime import messages
    from engine.store.models import EventWait

    deploy(session, paths=[VALUES.parent / "values_msg"])
    li = actor_for(session, username="li.sl")
    inst = lifecycle.start_instance(session, process_key="values_msg", actor=li)
    wait = session.scalars(select(EventWait).where(EventWait.instance_id == inst.id, EventWait.kind == "message")).one()
    assert wait.correlation == {"amount": "12.50", "due": "2026-03-02"}
    delivery = messages.send_message(session, name="fee_paid", correlation={"amount": "12.50", "due": "2026-03-02"},
                                     actor=li)
    assert delivery.instance_ids == [inst.id]
    session.refresh(inst)
    assert (inst.status, inst.data["amount"], inst.data["due"]) == (InstanceStatus.COMPLETED, "12.50", "2026-03-02")
