"""Who sees which case: the union of id sets the lists use decides exactly as the rule it replaced.

The oracle below is the former ``scope_clause``, an ``OR`` of correlated ``EXISTS`` (correct,
but it reads every case at scale). Each way into a case is set up on its own, and for every demo
user the case search, ``can_see`` and the oracle must agree.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import and_, exists, false, func, or_, select, update
from sqlalchemy.orm import aliased

from engine import clock
from engine.cases.queries import CaseSearch, case_counts, search_cases
from engine.org.demo import USERS
from engine.org.visibility import can_see, scope_clause
from engine.runtime import lifecycle
from engine.store.models import CarbonCopy, HumanTask, Instance, Org, TaskActor, TaskStatus, User
from tests.factories import only_task, start_review

USERNAMES = [u[0] for u in USERS]


def oracle(actor):
    """The rule as it was written before the union: one correlated EXISTS per way in."""
    if actor.is_admin:
        return Instance.id.is_not(None)
    org_paths = sorted({path for _, path in actor.grants})
    case_org = aliased(Org)
    in_subtree = (exists().where(case_org.id == Instance.org_id, or_(*[case_org.path.startswith(p) for p in org_paths]))
                  if org_paths else false())
    held = exists().where(TaskActor.instance_id == Instance.id, TaskActor.user_id == actor.id)
    copied = exists().where(CarbonCopy.instance_id == Instance.id, CarbonCopy.user_id == actor.id)
    task, task_org = aliased(HumanTask), aliased(Org)
    assigned = exists().where(task.instance_id == Instance.id, task.status == TaskStatus.OPEN,
                              or_(task.assignee_id == actor.id, task.owner_id == actor.id))
    in_pool = (exists().where(task.instance_id == Instance.id, task.status == TaskStatus.OPEN,
                              task_org.id == task.candidate_org_id, task.assignee_id.is_(None),
                              or_(*[and_(task.candidate_role == role, task_org.path.startswith(path))
                                    for role, path in actor.grants]))
               if actor.grants else false())
    return or_(in_subtree, held, copied, assigned, in_pool, Instance.started_by_id == actor.id)


def user_id(session, username):
    return session.scalar(select(User.id).where(User.username == username))


def assert_agree(session, actors, case_ids):
    """For every demo user: search, can_see and the oracle pick the same cases; return who sees what."""
    seen = {}
    for username in USERNAMES:
        actor = actors(username)
        expected = set(session.scalars(select(Instance.id).where(Instance.id.in_(case_ids), oracle(actor))))
        found, _ = search_cases(session, actor=actor, search=CaseSearch(limit=1000))
        listed = {i.id for i in found} & set(case_ids)
        _, total = search_cases(session, actor=actor, search=CaseSearch(limit=1))  # counted apart from the page
        assert total == session.scalar(select(func.count()).select_from(Instance).where(oracle(actor))), username
        checked = {i for i in case_ids if can_see(session, instance=session.get(Instance, i), actor=actor)}
        in_scope = set(session.scalars(select(Instance.id).where(Instance.id.in_(case_ids), scope_clause(actor))))
        # A case number narrows the search: visibility is then checked case by case.
        by_key = {i for i in case_ids if i in {c.id for c in search_cases(
            session, actor=actor, search=CaseSearch(business_key=session.get(Instance, i).business_key))[0]}}
        assert listed == checked == in_scope == by_key == expected, username
        by_status = dict(session.execute(select(Instance.status, func.count()).where(oracle(actor))
                                         .group_by(Instance.status)).all())
        assert case_counts(session, actor=actor) == {str(k): v for k, v in by_status.items()}, username
        seen[username] = expected
    return seen


@pytest.fixture
def case(session, actors):
    """A `review` case of 新庄镇 waiting for its leader: nobody outside 新庄镇 and the county sees it yet."""
    gao = actors("gao.sl")
    inst = lifecycle.start_instance(session, process_key="review", actor=gao)
    lifecycle.complete_task(session, task_id=only_task(session, inst.id, "register").id,
                          data={"subject": "修缮围墙", "amount": 50000}, actor=gao)
    return inst


def test_org_scope_and_pools_decide_by_default(session, actors, case):
    seen = assert_agree(session, actors, [case.id])
    assert {u for u, ids in seen.items() if ids} == {"admin", "gao.sl", "guo.tj", "cao.ld", "zhang.dd", "sun.tj",
                                                      "zheng.dc", "feng.kh", "he.ld", "designer"}


@pytest.mark.parametrize("way_in", ["cc", "task_actor", "assignee", "owner", "starter"])
def test_each_way_in_on_its_own_makes_a_case_visible(session, actors, case, way_in):
    """王网格 (a grid worker in 城关镇) sees the 新庄镇 case through exactly one way in."""
    wang = user_id(session, "wang.wg")
    task = only_task(session, case.id, "approve")
    assert case.id not in assert_agree(session, actors, [case.id]).get("wang.wg", set())
    if way_in == "cc":
        session.add(CarbonCopy(instance_id=case.id, user_id=wang, sent_at=clock.now()))
    elif way_in == "task_actor":
        session.add(TaskActor(instance_id=case.id, user_id=wang))
    elif way_in == "assignee":
        task.assignee_id = wang
    elif way_in == "owner":
        task.assignee_id, task.owner_id = user_id(session, "cao.ld"), wang
    else:
        case.started_by_id = wang
    session.flush()
    assert assert_agree(session, actors, [case.id])["wang.wg"] == {case.id}

    if way_in in ("assignee", "owner"):  # only while the task is open
        task.status = TaskStatus.COMPLETED
        session.flush()
        assert assert_agree(session, actors, [case.id])["wang.wg"] == set()


def test_a_pool_shows_the_case_only_while_its_task_is_open_and_unclaimed(session, actors, case):
    """林镇长 (leader of 城关镇) sees the case while its task waits in the leaders' pool of a 城关镇 village."""
    task = only_task(session, case.id, "approve")
    village = session.scalar(select(Org.id).where(Org.code == "dongjie"))
    task.candidate_org_id = village
    session.flush()
    assert case.id in assert_agree(session, actors, [case.id])["lin.ld"]
    assert case.id not in assert_agree(session, actors, [case.id])["li.sl"]  # a dispatcher: not their role

    task.assignee_id = user_id(session, "he.ld")
    session.flush()
    assert case.id not in assert_agree(session, actors, [case.id])["lin.ld"]

    task.assignee_id, task.candidate_org_id = None, None  # no candidate org: no pool
    session.flush()
    assert case.id not in assert_agree(session, actors, [case.id])["lin.ld"]


def test_lists_and_single_cases_agree_over_finished_and_open_cases(session, actors, frozen):
    """A mix of cases in several townships, one finished, one with a CC: every user, every case."""
    li, qian = actors("li.sl"), actors("qian.sl")
    ids = [start_review(session, li, amount=100).id, start_review(session, li, amount=50000).id,
           start_review(session, qian, amount=50000).id, lifecycle.start_instance(session, process_key="review",
                                                                                 actor=actors("gao.sl")).id]
    frozen.advance(timedelta(days=1))
    session.add(CarbonCopy(instance_id=ids[2], user_id=user_id(session, "zhou.ga"), sent_at=clock.now()))
    session.execute(update(HumanTask).where(HumanTask.instance_id == ids[1], HumanTask.status == TaskStatus.OPEN)
                    .values(owner_id=user_id(session, "ma.sf"), assignee_id=user_id(session, "lin.ld")))
    seen = assert_agree(session, actors, ids)
    assert seen["zhou.ga"] == {ids[2]} and seen["ma.sf"] == {ids[1]}
    assert seen["li.sl"] == {ids[0], ids[1]}


def test_the_unfiltered_list_pages_newest_first_with_its_total(session, actors, frozen):
    """Every user's case list with no filter, page by page: the oracle's cases newest first, ties by
    id, the same total on every page, and past the last page nothing but the total."""
    li, qian = actors("li.sl"), actors("qian.sl")
    made = [start_review(session, li, amount=100).id, start_review(session, qian, amount=50000).id]
    frozen.advance(timedelta(hours=1))
    # Started at the same instant: the later id first.
    made += [start_review(session, li, amount=50000).id,
             lifecycle.start_instance(session, process_key="review", actor=actors("gao.sl")).id,
             start_review(session, qian, amount=100).id]
    session.add(CarbonCopy(instance_id=made[1], user_id=user_id(session, "wang.wg"), sent_at=clock.now()))
    session.flush()
    for username in USERNAMES:
        actor = actors(username)
        expected = list(session.scalars(select(Instance.id).where(oracle(actor))
                                        .order_by(Instance.started_at.desc(), Instance.id.desc())))
        listed = []
        for offset in range(0, len(expected) + 2, 2):
            page, total = search_cases(session, actor=actor, search=CaseSearch(limit=2, offset=offset))
            assert total == len(expected), username
            listed += [c.id for c in page]
        assert listed == expected, username
        assert search_cases(session, actor=actor, search=CaseSearch(limit=2, offset=len(expected) + 3)) == (
            [], len(expected)), username
    assert made[1] in {c.id for c in search_cases(session, actor=actors("wang.wg"), search=CaseSearch())[0]}
