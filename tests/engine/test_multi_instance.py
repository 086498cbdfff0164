"""Multi-instance user tasks: countersign (会签, all), vote by ratio (票签), or-sign (或签)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.cases.queries import todo
from engine.errors import Conflict, NotAllowed, TaskNotOpen
from engine.runtime import lifecycle, tasks
from engine.store import audit
from engine.store.models import HumanTask, InstanceStatus, TaskStatus
from tests.factories import audit_count, only_task, open_tasks

UNITS = ["police", "housing", "justice"]
HANDLERS = {"police": "zhou.ga", "housing": "wu.zj", "justice": "ma.sf"}
LEADERS = ["he.ld", "lin.ld", "xu.ld"]


def dispatch(session, actors, units=UNITS):
    li = actors("li.sl")
    inst = lifecycle.start_instance(session, process_key="countersign", actor=li)
    return lifecycle.complete_task(session, task_id=only_task(session, inst.id, "dispatch").id,
                                 data={"units": list(units)}, actor=li)


def by_unit(session, instance_id: int) -> dict[str, HumanTask]:
    return {t.candidate_org.code: t for t in open_tasks(session, instance_id) if t.element_id == "assist"}


def by_assignee(session, instance_id: int) -> dict[str, HumanTask]:
    return {t.assignee.username: t for t in open_tasks(session, instance_id)}


def statuses(session, instance_id: int, element_id: str) -> list[str]:
    return sorted(str(s) for s in session.scalars(select(HumanTask.status).where(
        HumanTask.instance_id == instance_id, HumanTask.element_id == element_id)))


def test_countersign_gives_each_unit_a_task_and_waits_for_all(session, actors):
    inst = dispatch(session, actors)
    tasks_by_unit = by_unit(session, inst.id)
    assert sorted(tasks_by_unit) == sorted(UNITS)
    assert sorted(t.multi_index for t in tasks_by_unit.values()) == [0, 1, 2]
    assert {t.candidate_role for t in tasks_by_unit.values()} == {"handler"}
    for unit, username in HANDLERS.items():
        assert [t.id for t in todo(session, actor=actors(username))] == [tasks_by_unit[unit].id]
    with pytest.raises(NotAllowed):  # the police may not answer for the housing bureau
        lifecycle.complete_task(session, task_id=tasks_by_unit["housing"].id, data={"feedback": "x"},
                              actor=actors("zhou.ga"))

    for unit in ("police", "justice"):
        inst = lifecycle.complete_task(session, task_id=tasks_by_unit[unit].id, data={"feedback": f"{unit} 已协办"},
                                     actor=actors(HANDLERS[unit]))
        assert {t.element_id for t in open_tasks(session, inst.id)} == {"assist"}  # not yet: all must sign
    inst = lifecycle.complete_task(session, task_id=tasks_by_unit["housing"].id, data={"feedback": "housing 已协办"},
                                 actor=actors("wu.zj"))
    summarize = only_task(session, inst.id, "summarize")
    assert summarize.candidate_org.code == "chengguan"
    assert inst.data["feedbacks"] == ["police 已协办", "justice 已协办", "housing 已协办"]
    assert "unit" not in inst.data and "feedback" not in inst.data
    assert not any(k.startswith("nrOf") for k in inst.data)
    completed = [e for e in audit.history(session, instance_id=inst.id) if e.element_id == "assist"]
    assert sorted(e.actor for e in completed) == sorted(HANDLERS.values())


def test_vote_is_decided_by_two_thirds_and_the_rest_is_cancelled(session, actors):
    inst = lifecycle.start_instance(session, process_key="vote", actor=actors("he.ld"), data={"voters": LEADERS})
    ballots = by_assignee(session, inst.id)
    assert sorted(ballots) == sorted(LEADERS)
    inst = lifecycle.complete_task(session, task_id=ballots["he.ld"].id, data={"agree": True}, actor=actors("he.ld"))
    assert inst.status == InstanceStatus.RUNNING and len(open_tasks(session, inst.id)) == 2
    inst = lifecycle.complete_task(session, task_id=ballots["lin.ld"].id, data={"agree": True}, actor=actors("lin.ld"))
    assert (inst.status, inst.end_event) == (InstanceStatus.COMPLETED, "end_passed")
    assert (inst.data["ballots"], inst.data["passed"]) == ([True, True], True)
    assert statuses(session, inst.id, "ballot") == ["cancelled", "completed", "completed"]
    assert todo(session, actor=actors("xu.ld")) == []
    session.refresh(ballots["xu.ld"])
    assert ballots["xu.ld"].status == TaskStatus.CANCELLED


@pytest.mark.parametrize("votes, end, decided_after", [
    ([False, False], "end_failed", 2),        # two against: two thirds can no longer agree
    ([True, False, True], "end_passed", 3),   # one each, then the third decides
    ([False, True, False], "end_failed", 3),
])
def test_vote_outcomes(session, actors, votes, end, decided_after):
    inst = lifecycle.start_instance(session, process_key="vote", actor=actors("he.ld"), data={"voters": LEADERS})
    ballots = by_assignee(session, inst.id)
    for voter, agree in zip(LEADERS, votes):
        inst = lifecycle.complete_task(session, task_id=ballots[voter].id, data={"agree": agree}, actor=actors(voter))
    assert (inst.status, inst.end_event) == (InstanceStatus.COMPLETED, end)
    assert inst.data["ballots"] == votes[:decided_after]
    assert statuses(session, inst.id, "ballot").count("completed") == decided_after


def test_or_sign_first_signature_decides_and_the_others_disappear(session, actors):
    inst = lifecycle.start_instance(session, process_key="orsign", actor=actors("he.ld"), data={"approvers": LEADERS})
    signs = by_assignee(session, inst.id)
    for leader in LEADERS:
        assert [t.id for t in todo(session, actor=actors(leader))] == [signs[leader].id]
    inst = lifecycle.complete_task(session, task_id=signs["lin.ld"].id, data={"remark": "同意"}, actor=actors("lin.ld"),
                                 opinion="同意办理")
    assert (inst.status, inst.end_event, inst.data["remarks"]) == (InstanceStatus.COMPLETED, "end", ["同意"])
    assert statuses(session, inst.id, "sign") == ["cancelled", "cancelled", "completed"]
    for leader in ("he.ld", "xu.ld"):
        assert todo(session, actor=actors(leader)) == []
    count = audit_count(session, inst.id)
    with pytest.raises(TaskNotOpen):  # the cancelled copy cannot be completed afterwards
        lifecycle.complete_task(session, task_id=signs["he.ld"].id, data={"remark": "晚了"}, actor=actors("he.ld"))
    assert audit_count(session, inst.id) == count


def test_return_to_a_countersign_step_starts_every_instance_again(session, actors):
    inst = dispatch(session, actors, units=["police", "housing"])
    first_round = by_unit(session, inst.id)
    for unit, task in first_round.items():
        lifecycle.complete_task(session, task_id=task.id, data={"feedback": f"{unit} 初次"}, actor=actors(HANDLERS[unit]))
    summarize = only_task(session, inst.id, "summarize")
    inst = tasks.return_task(session, task_id=summarize.id, actor=actors("li.sl"), to_element="assist",
                             opinion="协办意见不具体")
    second_round = by_unit(session, inst.id)
    assert sorted(second_round) == ["housing", "police"]
    assert not {t.id for t in second_round.values()} & {t.id for t in first_round.values()}
    session.refresh(summarize)
    assert summarize.status == TaskStatus.CANCELLED
    for unit, task in second_round.items():
        inst = lifecycle.complete_task(session, task_id=task.id, data={"feedback": f"{unit} 补充"},
                                     actor=actors(HANDLERS[unit]))
    assert sorted(inst.data["feedbacks"]) == ["housing 补充", "police 补充"]
    assert only_task(session, inst.id).element_id == "summarize"


def test_one_countersigner_returns_the_case_to_dispatch(session, actors):
    inst = dispatch(session, actors, units=["police", "housing"])
    police = by_unit(session, inst.id)["police"]
    inst = tasks.return_task(session, task_id=police.id, actor=actors("zhou.ga"), to_element="dispatch",
                             opinion="不属于公安职责")
    reopened = only_task(session, inst.id, "dispatch")
    assert reopened.assignee.username == "li.sl"
    assert statuses(session, inst.id, "assist") == ["cancelled", "cancelled"]


def test_a_countersign_share_cannot_be_withdrawn(session, actors):
    inst = dispatch(session, actors, units=["police", "housing"])
    police = by_unit(session, inst.id)["police"]
    lifecycle.complete_task(session, task_id=police.id, data={"feedback": "已协办"}, actor=actors("zhou.ga"))
    count = audit_count(session, inst.id)
    with pytest.raises(Conflict) as info:
        tasks.withdraw_task(session, task_id=police.id, actor=actors("zhou.ga"))
    assert "会签" in info.value.message
    assert audit_count(session, inst.id) == count
    assert [t.candidate_org.code for t in open_tasks(session, inst.id)] == ["housing"]
