"""The lists staff read: to-do (with filters and light counts), done, CC'd, started by me, case search; scope."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.cases.queries import (
    CaseSearch, Light, TaskFilter, copied_to_me, done, light_of, search_cases, started_by_me, todo, todo_counts,
)
from engine.runtime import lifecycle, tasks
from engine.store.models import InstanceStatus
from tests.conftest import T0
from tests.factories import only_task

BEIJING = timezone(timedelta(hours=8))


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


# The approver is picked from the leaders near the case, as the form's person picker offers them.
LEADER_OF = {"li.sl": "lin.ld", "qian.sl": "xu.ld"}


def start_assign(session, actors, *, starter, township, parties, summary="纠纷"):
    """Start an `assign` case in the starter's township, register it; mediation waits in ``township``."""
    who = actors(starter)
    inst = lifecycle.start_instance(session, process_key="assign", actor=who, data={"parties": parties})
    lifecycle.complete_task(session, task_id=only_task(session, inst.id, "register").id, actor=who,
                          data={"summary": summary, "township": township, "approver": LEADER_OF[starter]})
    return inst


@pytest.fixture
def cases(session, actors, frozen):
    """Three `assign` cases at the mediation step, started on different days.

    a: started in 城关镇 on Monday 2 March, mediated in 河西乡 (due 9 March, warned from 5 March)
    b: started in 城关镇 on Tuesday 3 March, mediated in 城关镇 (due 10 March, warned from 6 March)
    e: started in 河西乡 on Tuesday 10 March, mediated in 河西乡
    The clock is left at Tuesday 10 March 10:00: a is red, b yellow, e green.
    """
    a = start_assign(session, actors, starter="li.sl", township="hexi", parties=[{"name": "王大"}, {"name": "李二"}])
    frozen.set(beijing(2026, 3, 3, 9, 0))
    b = start_assign(session, actors, starter="li.sl", township="chengguan", parties=[{"name": "张三"}])
    frozen.set(beijing(2026, 3, 10, 9, 0))
    e = start_assign(session, actors, starter="qian.sl", township="hexi", parties=[{"name": "王小明"}])
    frozen.set(beijing(2026, 3, 10, 10, 0))
    return {"a": a, "b": b, "e": e}


def mediation(session, inst):
    return only_task(session, inst.id, "mediate")


def ids(rows) -> list:
    return [r.id for r in rows]


def test_todo_holds_pool_tasks_within_scope_and_assigned_tasks(session, actors, cases):
    a, b, e = (mediation(session, cases[k]) for k in "abe")
    assert ids(todo(session, actor=actors("liu.tj"))) == [a.id, e.id]  # 河西乡 only, soonest deadline first
    assert ids(todo(session, actor=actors("chen.tj"))) == [b.id]       # 城关镇 only
    assert ids(todo(session, actor=actors("sun.tj"))) == [a.id, b.id, e.id]  # county: every township
    assert todo(session, actor=actors("wang.wg")) == []
    tasks.claim_task(session, task_id=a.id, actor=actors("sun.tj"))
    assert ids(todo(session, actor=actors("liu.tj"))) == [e.id]  # claimed by someone else: out of the pool
    assert ids(todo(session, actor=actors("sun.tj"))) == [a.id, b.id, e.id]  # assigned to sun now


def test_lights_filters_and_counts(session, actors, cases):
    a, b, e = (mediation(session, cases[k]) for k in "abe")
    assert [light_of(t) for t in (a, b, e)] == [Light.RED, Light.YELLOW, Light.GREEN]
    sun = actors("sun.tj")
    assert ids(todo(session, actor=sun, flt=TaskFilter(light=Light.RED))) == [a.id]
    assert ids(todo(session, actor=sun, flt=TaskFilter(light=Light.YELLOW))) == [b.id]
    assert ids(todo(session, actor=sun, flt=TaskFilter(light=Light.GREEN))) == [e.id]
    assert ids(todo(session, actor=sun, flt=TaskFilter(org_code="hexi"))) == [a.id, e.id]
    assert ids(todo(session, actor=sun, flt=TaskFilter(org_code="chengguan"))) == [b.id]
    assert todo_counts(session, actor=sun) == {"green": 1, "yellow": 1, "red": 1, "total": 3}
    assert todo_counts(session, actor=actors("liu.tj")) == {"green": 1, "yellow": 0, "red": 1, "total": 2}

    li = actors("li.sl")
    other = lifecycle.start_instance(session, process_key="returns", actor=li)
    lifecycle.complete_task(session, task_id=only_task(session, other.id).id, data={"content": "x"}, actor=li)
    check = only_task(session, other.id, "check")  # 城关镇's mediators, no deadline: green
    assert ids(todo(session, actor=sun)) == [a.id, b.id, e.id, check.id]
    assert ids(todo(session, actor=sun, flt=TaskFilter(process="assign"))) == [a.id, b.id, e.id]
    assert ids(todo(session, actor=sun, flt=TaskFilter(process="returns"))) == [check.id]
    assert todo_counts(session, actor=sun, flt=TaskFilter(process="returns")) == {
        "green": 1, "yellow": 0, "red": 0, "total": 1}
    assert ids(todo(session, actor=sun, flt=TaskFilter(limit=2, offset=1))) == [b.id, e.id]


def test_done_copied_and_started_lists(session, actors, cases, frozen):
    liu, li, zhou = actors("liu.tj"), actors("li.sl"), actors("zhou.ga")
    a = mediation(session, cases["a"])
    lifecycle.complete_task(session, task_id=a.id, data={"result": "已调解"}, actor=liu)
    assert ids(done(session, actor=liu)) == [a.id]
    assert mediation(session, cases["e"]).id in ids(todo(session, actor=liu))
    assert a.id not in ids(todo(session, actor=liu))

    tasks.cc_case(session, instance_id=cases["a"].id, actor=li, to=["zhou.ga"])
    frozen.advance(timedelta(minutes=5))
    tasks.cc_case(session, instance_id=cases["b"].id, actor=li, to=["zhou.ga"])
    assert [i.id for _, i in copied_to_me(session, actor=zhou)] == [cases["b"].id, cases["a"].id]
    assert [i.id for _, i in copied_to_me(session, actor=zhou, limit=1, offset=1)] == [cases["a"].id]
    assert [(cc.sent_by_id, cc.read_at) for cc, _ in copied_to_me(session, actor=zhou)] == [(li.id, None)] * 2

    assert ids(started_by_me(session, actor=li)) == [cases["b"].id, cases["a"].id]
    assert ids(started_by_me(session, actor=actors("qian.sl"))) == [cases["e"].id]
    assert started_by_me(session, actor=zhou) == []


def test_case_search_by_key_process_status_org_dates_and_fields(session, actors, cases):
    he = actors("he.ld")  # county leader: sees everything in the county
    a, b, e = cases["a"], cases["b"], cases["e"]

    def find(**criteria):
        found, total = search_cases(session, actor=he, search=CaseSearch(**({"started_from": T0} | criteria)))
        return ids(found), total

    assert find(business_key=a.business_key) == ([a.id], 1)
    assert find(process="assign") == ([e.id, b.id, a.id], 3)
    assert find(process="assign", limit=2) == ([e.id, b.id], 3)
    assert find(process="assign", limit=2, offset=2) == ([a.id], 3)
    assert find(org_code="hexi") == ([e.id], 1)
    assert find(org_code="chengguan") == ([b.id, a.id], 2)
    assert find(started_to=beijing(2026, 3, 3, 0, 0)) == ([a.id], 1)
    assert find(started_from=beijing(2026, 3, 3, 0, 0), started_to=beijing(2026, 3, 4, 0, 0)) == ([b.id], 1)
    assert find(fields=(("party", "王"),)) == ([e.id, a.id], 2)
    assert find(fields=(("party", "李二"),)) == ([a.id], 1)
    assert find(fields=(("party", "张三"), ("township", "chengguan"))) == ([b.id], 1)
    assert find(fields=(("party", "张三"), ("township", "hexi"))) == ([], 0)

    lifecycle.complete_task(session, task_id=mediation(session, b).id, data={"result": "ok"}, actor=actors("chen.tj"))
    lifecycle.complete_task(session, task_id=only_task(session, b.id, "approve").id, data={"approved": True},
                          actor=actors("lin.ld"))
    assert find(status=InstanceStatus.COMPLETED) == ([b.id], 1)
    assert find(status=InstanceStatus.RUNNING, process="assign") == ([e.id, a.id], 2)


@pytest.mark.parametrize("username, visible", [
    ("he.ld", "abe"),     # county leader: the whole county
    ("li.sl", "ab"),      # 城关镇 dispatcher: cases of 城关镇
    ("qian.sl", "e"),     # 河西乡 dispatcher: cases of 河西乡
    ("liu.tj", "ae"),     # 河西乡 mediator: its own township, and a's mediation waiting in its pool
    ("chen.tj", "ab"),    # 城关镇 mediator: its township's cases
    ("wang.wg", ""),      # grid worker below 城关镇: a case of the township above is not theirs
    ("zhou.ga", ""),      # a member unit with no task in these cases
])
def test_scope_decides_which_cases_a_user_finds(session, actors, cases, username, visible):
    found, total = search_cases(session, actor=actors(username), search=CaseSearch(started_from=T0))
    assert sorted(ids(found)) == sorted(cases[k].id for k in visible)
    assert total == len(visible)


def test_holding_a_task_or_a_cc_extends_scope(session, actors, cases):
    zhou, wang, liu = actors("zhou.ga"), actors("wang.wg"), actors("liu.tj")
    scope = CaseSearch(started_from=T0)
    tasks.cc_case(session, instance_id=cases["b"].id, actor=actors("li.sl"), to=["wang.wg"])
    assert ids(search_cases(session, actor=wang, search=scope)[0]) == [cases["b"].id]

    # A unit handler sees the case while its task waits in the unit's pool, and after doing it.
    li = actors("li.sl")
    cs = lifecycle.start_instance(session, process_key="countersign", actor=li)
    assert ids(search_cases(session, actor=zhou, search=scope)[0]) == []
    lifecycle.complete_task(session, task_id=only_task(session, cs.id, "dispatch").id, data={"units": ["police"]}, actor=li)
    assert ids(search_cases(session, actor=zhou, search=scope)[0]) == [cs.id]
    lifecycle.complete_task(session, task_id=only_task(session, cs.id, "assist").id, data={"feedback": "已协办"}, actor=zhou)
    assert only_task(session, cs.id).element_id == "summarize"
    assert ids(search_cases(session, actor=zhou, search=scope)[0]) == [cs.id]

    # 河西乡's mediator loses the pool view of a once mediation moves on, unless they did it.
    lifecycle.complete_task(session, task_id=mediation(session, cases["a"]).id, data={"result": "ok"},
                          actor=actors("sun.tj"))
    assert sorted(ids(search_cases(session, actor=liu, search=scope)[0])) == [cases["e"].id]
