"""The living demo: `seed_history` fills the demo county with a plausible history made by the engine.

One seeded history (30 cases over 3 months up to a fixed moment) is shared by the module's tests
and rolled back at the end.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.cases import queries
from engine.definitions import deployment
from engine.org.orgs import actor_for
from engine.seed import MIN_CASES, seed_history
from engine.seed.history import HOT_PARTY, PATHS, plan_history
from engine.store import audit
from engine.store.audit import EntryKind
from engine.store.models import AuditEntry, HumanTask, Instance, InstanceStatus, TaskStatus

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Beijing
SHIPPED = {"mediation", "grid_event", "supervision", "inspection", "assessment", "report_review"}
WORKING_USERS = ["li.sl", "wang.wg", "chen.tj", "zhou.ga", "wu.zj", "zheng.dc", "he.ld", "lin.ld", "feng.kh"]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def seeded(services):
    conn = services.engine.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False,
                info={"pingan": services.context})
    assert s.scalar(select(func.count()).select_from(Instance)) == 0, "a test left cases in the database"
    deployment.deploy(s, paths=[ROOT], actor="test")  # the shipped processes, as `pingan init` deploys them
    report = seed_history(s, cases=30, months=3, seed=7, now=NOW)
    try:
        yield s, report
    finally:
        s.close()
        trans.rollback()
        conn.close()


def _cases(s: Session) -> list[Instance]:
    return list(s.scalars(select(Instance).order_by(Instance.id)))


def test_every_shipped_process_has_finished_and_running_cases_and_none_in_error(seeded):
    s, report = seeded
    cases = _cases(s)
    assert report.skipped is False and report.cases == len(cases) == 30
    by_process = defaultdict(lambda: defaultdict(int))
    for case in cases:
        by_process[case.process_key][case.status] += 1
    assert set(by_process) == SHIPPED
    for key, statuses in by_process.items():
        assert statuses[InstanceStatus.COMPLETED] >= 1, key
        assert statuses[InstanceStatus.RUNNING] >= 1, key
    assert sum(st[InstanceStatus.CANCELLED] for st in by_process.values()) >= 2
    assert [c.business_key for c in cases if c.status == InstanceStatus.ERROR] == []


def test_each_end_of_each_process_is_reached(seeded):
    s, _ = seeded
    ends = set(s.execute(select(Instance.process_key, Instance.end_event)
                         .where(Instance.status == InstanceStatus.COMPLETED)).all())
    wanted = {("mediation", "end_not_accepted"), ("mediation", "end_closed"), ("mediation", "end_terminated"),
              ("grid_event", "end_rejected"), ("grid_event", "end_closed"), ("inspection", "end_passed"),
              ("inspection", "end_closed"), ("supervision", "end_not_approved"), ("supervision", "end_closed"),
              ("assessment", "end_archived"), ("report_review", "end_accepted")}
    assert wanted <= ends, sorted(wanted - ends)


def test_open_work_is_partly_overdue_and_partly_on_time(seeded):
    s, _ = seeded
    due = [_aware(d) for d in s.scalars(select(HumanTask.due_at).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.due_at.is_not(None)))]
    assert any(d < NOW for d in due), "no overdue open task"
    assert any(d >= NOW for d in due), "no open task still on time"
    # Timers fired on the way: reminders (催办) and supervision cards happened, by the system.
    fired = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.kind == EntryKind.TIMER))
    urged = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.kind == EntryKind.URGED))
    assert fired > 0 and urged > 0


def test_supervision_items_left_alone_were_carded_yellow_and_red_by_their_timers(seeded):
    s, _ = seeded
    running = [c.id for c in _cases(s) if c.process_key == "supervision" and c.status == InstanceStatus.RUNNING]
    fired = set(s.scalars(select(AuditEntry.element_id).where(
        AuditEntry.instance_id.in_(running), AuditEntry.kind == EntryKind.TIMER, AuditEntry.actor == "system")))
    assert {"overdue_yellow", "overdue_red"} <= fired, fired
    # The red card opened the leader's 约谈 (summon) on a case still waiting for its report.
    summons = s.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id.in_(running), HumanTask.element_id == "summon", HumanTask.status == TaskStatus.OPEN))
    assert summons >= 1


def test_every_working_demo_user_has_something_to_do_or_done(seeded):
    s, _ = seeded
    empty = []
    for username in WORKING_USERS:
        actor = actor_for(s, username=username)
        if not queries.todo(s, actor=actor) and not queries.done(s, actor=actor):
            empty.append(username)
    assert empty == []


def test_a_repeat_dispute_hot_spot_exists(seeded):
    s, _ = seeded
    starts_by_party = defaultdict(list)
    for case in _cases(s):
        if case.process_key == "mediation":
            for party in (case.data or {}).get("parties") or []:
                starts_by_party[party["name"]].append(_aware(case.started_at))
    hot = sorted(starts_by_party[HOT_PARTY])
    assert len(hot) >= 3 and hot[2] - hot[0] <= timedelta(days=30), hot
    # Nobody else repeats: the warning the demo shows points at one party.
    assert [name for name, starts in starts_by_party.items() if len(starts) >= 3 and name != HOT_PARTY] == []


def test_the_history_is_the_engines_own_and_lies_in_the_past(seeded):
    s, _ = seeded
    cases = _cases(s)
    earliest = NOW - timedelta(days=3 * 31)
    for case in cases:
        assert earliest <= _aware(case.started_at) <= NOW, case.business_key
        if case.ended_at is not None:
            assert _aware(case.started_at) <= _aware(case.ended_at) <= NOW
    entries = list(s.scalars(select(AuditEntry)))
    assert max(_aware(e.at) for e in entries) <= NOW
    started = {e.instance_id for e in entries if e.kind == EntryKind.STARTED}
    assert started == {c.id for c in cases}
    checked, breaks = audit.verify(s)
    assert checked == len(entries) and breaks == []


def test_a_second_run_does_nothing(seeded):
    s, _ = seeded
    before = s.scalar(select(func.count()).select_from(Instance))
    again = seed_history(s, cases=24, months=3, seed=7, now=NOW)
    assert again.skipped is True
    assert s.scalar(select(func.count()).select_from(Instance)) == before


def test_the_same_seed_plans_the_same_history_and_every_path_is_known():
    one = plan_history(Random(3), cases=40, months=2, now=NOW)
    two = plan_history(Random(3), cases=40, months=2, now=NOW)
    assert [(p.process, p.path["name"], p.start_at, p.cut, p.start_data) for p in one] == \
           [(p.process, p.path["name"], p.start_at, p.cut, p.start_data) for p in two]
    assert len(one) == 40 and MIN_CASES <= 40
    assert all(p.start_at <= NOW for p in one)
    assert set(PATHS) == SHIPPED


def test_a_path_moved_to_another_township_names_only_its_people_and_places():
    from engine.seed.places import TOWNSHIPS, movable, relocate

    moved = [relocate(p, "hexi") for p in PATHS["mediation"] + PATHS["grid_event"] if movable(p)]
    assert len(moved) >= 10
    text = repr(moved)
    for word in TOWNSHIPS["chengguan"]["users"] + ["'chengguan'", "'dongjie'", "'dongjie-1'", "城关镇", "东街"]:
        assert word not in text, word
    assert "qian.sl" in text and "'liushu'" in text and "柳树村" in text
    # County people stay: the housing bureau still handles a burst pipe in 河西乡.
    assert "wu.zj" in text and "zhang.dd" in text
