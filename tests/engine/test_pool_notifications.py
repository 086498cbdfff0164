"""Issue 13, item 5: a task offered to a role in an org notifies its candidates once; a claim clears it for the rest."""
from __future__ import annotations

from sqlalchemy import select

from engine.org.orgs import create_user
from engine.runtime import lifecycle, notifications, tasks
from engine.store.models import Notification
from tests.factories import only_task


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
