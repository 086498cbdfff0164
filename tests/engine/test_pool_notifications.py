"""Issue 13, item 5: a task offered to a role in an org notifies its candidates once; a claim clears it for the rest."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.definitions.deployment import deploy
from engine.org.orgs import create_user
from engine.runtime import lifecycle, notifications, tasks
from engine.store.models import Notification
from tests.factories import only_task, open_tasks


def _notices(session, user_id: int, task_id: str) -> list[str]:
    return session.scalars(select(Notification.text).where(Notification.user_id == user_id,
                                                           Notification.task_id == task_id)).all()


def test_a_pool_task_notifies_the_nearest_holders_once_and_a_claim_clears_it_for_the_others(session, actors):
    create_user(session, username="xu.sl", name="许受理", org_code="chengguan", password="pingan-demo-2026",
                roles=[("dispatcher", "chengguan")])
    li, xu, zhang = actors("li.sl"), actors("xu.sl"), actors("zhang.dd")
    instance = lifecycle.start_instance(session, process_key="review", actor=li)
    register = only_task(session, instance.id, "register")
    assert (register.candidate_role, register.assignee_id) == ("dispatcher", None)
    for who in (li, xu):
        assert len(_notices(session, who.id, register.id)) == 1
        assert _notices(session, who.id, register.id)[0].startswith("新任务（待签收）：登记")
    # The county's dispatchers could act too, but the township has its own: they are not disturbed.
    assert _notices(session, zhang.id, register.id) == []
    before = notifications.unread_count(session, user_id=xu.id)

    tasks.claim_task(session, task_id=register.id, actor=li)
    assert notifications.unread_count(session, user_id=xu.id) == before - 1
    assert register.id not in [n.task_id for n in notifications.list_notifications(session, user_id=xu.id)]
    assert register.id in [n.task_id for n in notifications.list_notifications(session, user_id=li.id)]


def test_with_no_holder_at_the_task_org_the_offer_goes_up_one_level(session, actors):
    # A grid below chengguan has no dispatcher of its own, so chengguan's is told (and not the county's).
    li = actors("li.sl")
    instance = lifecycle.start_instance(session, process_key="review", actor=li, org_code="dongjie-1")
    register = only_task(session, instance.id, "register")
    assert register.candidate_org.code == "dongjie-1"
    assert len(_notices(session, li.id, register.id)) == 1
    assert _notices(session, actors("zhang.dd").id, register.id) == []


def test_a_pool_notice_is_stamped_like_any_other_notification(session, actors, frozen):
    li = actors("li.sl")
    instance = lifecycle.start_instance(session, process_key="review", actor=li)
    register = only_task(session, instance.id, "register")
    session.expire_all()
    notice = session.scalars(select(Notification).where(Notification.task_id == register.id,
                                                        Notification.user_id == li.id)).one()
    assert notice.created_at == frozen.now() and notice.created_at.tzinfo is not None


def _countersign(folder, key: str, people: int) -> None:
    """A process whose first step offers ``people`` tasks at once to the dispatchers (a parallel multi-instance task)."""
    xml = f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:laneSet><bpmn:lane id="L" name="调度员"><bpmn:flowNodeRef>s</bpmn:flowNodeRef><bpmn:flowNodeRef>x</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>u</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="x" name="名单"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>people = list(range({people}))</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="u" name="会签"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>people</bpmn:loopDataInputRef>
        <bpmn:inputDataItem id="person" name="person"/></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="x"/><bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="u"/>
    <bpmn:sequenceFlow id="f3" sourceRef="u" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>'''
    (folder / "processes").mkdir(parents=True, exist_ok=True)
    (folder / "processes" / f"{key}.bpmn").write_text(xml)
    (folder / "processes" / f"{key}.yaml").write_text(f"name: {key}\n")
    (folder / "forms" / key).mkdir(parents=True, exist_ok=True)
    (folder / "forms" / key / "u.yaml").write_text("title: 会签\nfields:\n  - {name: note, label: 说明, type: text}\n")


@pytest.mark.parametrize("people", [3, 10], ids=["inside_the_save", "more_than_the_save_carries"])
def test_each_task_a_step_offers_notifies_its_holders_once(session, actors, tmp_path, people):
    # On PostgreSQL up to eight tasks' notices go inside the save's one statement, more at once on
    # their own (rows.insert_now_or_later): both must reach the same people, once per task.
    create_user(session, username="xu.sl", name="许受理", org_code="chengguan", password="pingan-demo-2026",
                roles=[("dispatcher", "chengguan")])
    _countersign(tmp_path, f"countersign_{people}", people)
    deploy(session, paths=[tmp_path])
    li, xu, zhang = actors("li.sl"), actors("xu.sl"), actors("zhang.dd")
    instance = lifecycle.start_instance(session, process_key=f"countersign_{people}", actor=li)
    offered = open_tasks(session, instance.id)
    assert len(offered) == people and all(t.assignee_id is None for t in offered)
    for task in offered:
        for who in (li, xu):
            assert _notices(session, who.id, task.id) == [f"新任务（待签收）：会签（{instance.title}）"]
        assert _notices(session, zhang.id, task.id) == []
    assert session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.instance_id == instance.id)) == 2 * people
