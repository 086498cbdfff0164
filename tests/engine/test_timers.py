"""Timers: every kind fires once, survives a restart, races, working days, broken instances, deadlines."""
from __future__ import annotations

import shutil
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.cases.queries import Light, light_of
from engine.context import open_services
from engine.definitions.deployment import deploy
from engine.org.orgs import actor_for
from engine.runtime import lifecycle, tasks, timers
from engine.runtime.timer_loop import start_timer_loop
from engine.store import audit
from engine.store.models import (
    AuditEntry, EventWait, Instance, InstanceStatus, Notification, TaskStatus, TimerSchedule,
)
from tests.conftest import T0
from tests.factories import only_task, open_tasks

SCHEDULE_REPO = Path(__file__).parent.parent / "fixtures" / "timers_schedule"
BEIJING = timezone(timedelta(hours=8))


def waits(session, instance_id: int) -> dict[str, datetime]:
    """Return the instance's timer rows as {element id: due}."""
    rows = session.scalars(select(EventWait).where(EventWait.instance_id == instance_id, EventWait.kind == "timer"))
    return {r.element_id: r.due_at for r in rows}


def fired_elements(session, instance_id: int) -> list[str]:
    return [e.element_id for e in audit.history(session, instance_id=instance_id) if e.kind == "timer_fired"]


def start_date_case(session, actor, *, fire_at: datetime, divisor: int = 4) -> Instance:
    return lifecycle.start_instance(session, process_key="timers_date", actor=actor,
                                  data={"fire_at": fire_at.isoformat(), "divisor": divisor})


# -- every kind fires exactly once ---------------------------------------------------------------

def test_duration_then_date_catch_events_fire_once_each(session, actors, frozen):
    inst = lifecycle.start_instance(session, process_key="timers_catch", actor=actors("li.sl"),
                                  data={"fire_at": "2026-03-02T12:00:00+08:00", "divisor": 4})
    assert waits(session, inst.id) == {"wait_hour": T0 + timedelta(hours=1)}
    frozen.advance(timedelta(minutes=59))
    assert timers.fire_due(session) == []
    frozen.advance(timedelta(minutes=1))  # due exactly now: fires, not one sweep later
    [fired] = timers.fire_due(session)
    assert (fired.instance_id, fired.element_id, fired.due_at, fired.ok) == (inst.id, "wait_hour", T0 + timedelta(hours=1), True)
    assert waits(session, inst.id) == {"wait_until": datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)}
    frozen.advance(timedelta(days=1))
    assert [f.element_id for f in timers.fire_due(session)] == ["wait_until"]
    assert timers.fire_due(session) == []
    session.refresh(inst)
    assert (inst.status, inst.data["ratio"]) == (InstanceStatus.COMPLETED, 25)
    assert fired_elements(session, inst.id) == ["wait_hour", "wait_until"]
    entry = [e for e in audit.history(session, instance_id=inst.id) if e.kind == "timer_fired"][1]
    assert (entry.actor, entry.payload["due_at"], entry.payload["fired_at"]) == (
        "system", "2026-03-02T04:00:00+00:00", "2026-03-03T02:00:00+00:00")


def test_boundary_cycle_nudges_three_times_then_interrupting_timer_takes_the_task(session, actors, frozen):
    inst = lifecycle.start_instance(session, process_key="timers_boundary", actor=actors("li.sl"))
    task = only_task(session, inst.id, "handle")
    assert waits(session, inst.id) == {"nudge": T0 + timedelta(hours=1), "expire": T0 + timedelta(days=3)}
    frozen.advance(timedelta(hours=1))
    assert [f.element_id for f in timers.fire_due(session)] == ["nudge"]
    assert only_task(session, inst.id).id == task.id  # non-interrupting: the same task stays open
    frozen.advance(timedelta(hours=10))  # two cycles behind: both fire in one call, then no more
    assert [f.element_id for f in timers.fire_due(session)] == ["nudge", "nudge"]
    assert waits(session, inst.id) == {"expire": T0 + timedelta(days=3)}
    frozen.advance(timedelta(days=3))
    assert [f.element_id for f in timers.fire_due(session)] == ["expire"]
    session.refresh(inst)
    session.refresh(task)
    assert (inst.status, inst.data["expired"], inst.data["nudged"]) == (InstanceStatus.COMPLETED, True, True)
    assert task.status == TaskStatus.CANCELLED
    assert Counter(fired_elements(session, inst.id)) == {"nudge": 3, "expire": 1}
    assert waits(session, inst.id) == {}


def test_completing_the_task_cancels_its_boundary_timers(session, actors, frozen):
    inst = lifecycle.start_instance(session, process_key="timers_boundary", actor=actors("li.sl"))
    lifecycle.complete_task(session, task_id=only_task(session, inst.id).id, data={"result": "已处理"},
                          actor=actors("zhou.ga"))
    assert waits(session, inst.id) == {}
    frozen.advance(timedelta(days=5))
    assert timers.fire_due(session) == []
    assert session.get(Instance, inst.id).end_event == "end_done"


def test_timer_start_event_starts_a_new_case_per_occurrence(session, frozen):
    deploy(session, paths=[SCHEDULE_REPO])
    assert timers.fire_due(session) == []
    schedule = session.scalar(select(TimerSchedule).where(TimerSchedule.process_key == "timers_schedule"))
    assert (schedule.element_id, schedule.due_at, schedule.remaining) == ("hourly", T0 + timedelta(hours=1), 3)
    frozen.advance(timedelta(hours=1))
    [first] = timers.fire_due(session)
    case = session.get(Instance, first.instance_id)
    assert (case.process_key, case.status, case.data["patrolled"], case.org.code) == (
        "timers_schedule", InstanceStatus.COMPLETED, True, "county")
    assert [e.kind for e in audit.history(session, instance_id=case.id)] == ["started", "timer_fired", "finished"]
    frozen.advance(timedelta(hours=5))  # three occurrences missed: one case, and R3 is used up
    [second] = timers.fire_due(session)
    assert second.instance_id != first.instance_id
    session.refresh(schedule)
    assert (schedule.fired_count, schedule.due_at, schedule.last_instance_id) == (2, None, second.instance_id)
    frozen.advance(timedelta(days=1))
    assert timers.fire_due(session) == []


def test_a_daily_schedule_that_began_in_the_past_starts_with_its_next_occurrence(session, frozen, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(SCHEDULE_REPO, repo)
    bpmn = repo / "processes" / "timers_schedule.bpmn"
    bpmn.write_text(bpmn.read_text().replace("'R3/PT1H'", "'R/2026-03-01T10:00:00+08:00/P1D'"))
    deploy(session, paths=[repo])
    assert timers.fire_due(session) == []
    schedule = session.scalar(select(TimerSchedule).where(TimerSchedule.process_key == "timers_schedule"))
    assert (schedule.due_at, schedule.remaining) == (datetime(2026, 3, 2, 10, 0, tzinfo=BEIJING), -1)
    frozen.advance(timedelta(hours=1))
    assert len(timers.fire_due(session)) == 1
    session.refresh(schedule)
    assert schedule.due_at == datetime(2026, 3, 3, 10, 0, tzinfo=BEIJING)


def test_a_case_fired_by_a_users_step_still_gets_its_history_entry(session, actors, frozen):
    inst = start_date_case(session, actors("li.sl"), fire_at=T0 + timedelta(hours=1))
    frozen.advance(timedelta(hours=2))
    timers.run_instance_steps(session, instance_id=inst.id)  # not a sweep: SpiffWorkflow fires it
    assert session.get(Instance, inst.id).status == InstanceStatus.COMPLETED
    assert fired_elements(session, inst.id) == ["wait_until"]
    assert timers.fire_due(session) == []


# -- working days --------------------------------------------------------------------------------

def test_workdays_across_national_day_and_an_adjusted_saturday(session, actors, frozen):
    # Tuesday 30 Sep 2025 10:00. 1–8 Oct are off; Saturday 11 Oct is worked (调休). Five working
    # days: 9, 10, 11 (Sat), 13, 14 Oct; the timer is due at the end of work on Tuesday 14 Oct.
    frozen.set(datetime(2025, 9, 30, 10, 0, tzinfo=BEIJING))
    inst = lifecycle.start_instance(session, process_key="timers_workdays", actor=actors("li.sl"))
    assert waits(session, inst.id) == {
        "publicity_ends": datetime(2025, 10, 14, 17, 30, tzinfo=BEIJING),
        "urgent_limit": datetime(2025, 9, 30, 13, 0, tzinfo=BEIJING)}
    frozen.set(datetime(2025, 10, 14, 17, 29, tzinfo=BEIJING))
    assert [f.element_id for f in timers.fire_due(session)] == ["urgent_limit"]
    frozen.set(datetime(2025, 10, 14, 17, 30, tzinfo=BEIJING))
    assert [f.element_id for f in timers.fire_due(session)] == ["publicity_ends"]
    assert session.get(Instance, inst.id).status == InstanceStatus.COMPLETED


# -- broken instances ----------------------------------------------------------------------------

def test_a_failing_script_after_a_timer_stops_only_its_own_case(session, actors, frozen):
    li = actors("li.sl")
    good = [start_date_case(session, li, fire_at=T0 + timedelta(hours=1)) for _ in range(2)]
    broken = start_date_case(session, li, fire_at=T0 + timedelta(hours=1), divisor=0)
    good.append(start_date_case(session, li, fire_at=T0 + timedelta(hours=1)))
    frozen.advance(timedelta(hours=1))
    fired = {f.instance_id: f for f in timers.fire_due(session)}
    assert [fired[i.id].ok for i in good] == [True, True, True]
    assert (fired[broken.id].ok, "division by zero" in fired[broken.id].error) == (False, True)
    session.refresh(broken)
    assert (broken.status, broken.error["element_id"]) == (InstanceStatus.ERROR, "compute")
    assert [e.kind for e in audit.history(session, instance_id=broken.id)] == ["started", "timer_fired", "error"]
    assert all(session.get(Instance, i.id).status == InstanceStatus.COMPLETED for i in good)
    fixed = lifecycle.retry_instance(session, instance_id=broken.id, actor=actor_for(session, username="admin"),
                                   data={"divisor": 5})
    assert (fixed.status, fixed.data["ratio"], fired_elements(session, broken.id)) == (
        InstanceStatus.COMPLETED, 20, ["wait_until"])


def _break_divisor_seven(monkeypatch) -> None:
    """Make firing a timer raise for the cases started with divisor 7 (their state "cannot be read")."""
    original = timers.fire_due_timers

    def flaky(runner, at):
        if runner.data().get("divisor") == 7:
            raise RuntimeError("state cannot be read")
        return original(runner, at)

    monkeypatch.setattr(timers, "fire_due_timers", flaky)


def test_a_firing_that_raises_is_retried_with_backoff_then_put_in_error(session, actors, frozen, monkeypatch):
    li = actors("li.sl")
    broken = start_date_case(session, li, fire_at=T0 + timedelta(hours=1), divisor=7)
    other = start_date_case(session, li, fire_at=T0 + timedelta(hours=1))
    _break_divisor_seven(monkeypatch)
    frozen.advance(timedelta(hours=1))
    result = {f.instance_id: f for f in timers.fire_due(session)}
    assert (result[other.id].ok, result[broken.id].ok, result[broken.id].error) == (True, False, "state cannot be read")
    row = session.scalar(select(EventWait).where(EventWait.instance_id == broken.id))
    assert (row.attempts, row.next_attempt_at, row.last_error) == (1, frozen.now() + timedelta(seconds=5), "state cannot be read")
    assert timers.fire_due(session) == []  # backing off: not before 5 s
    for attempt, wait in ((2, 5), (3, 10), (4, 20), (5, 40)):
        frozen.advance(timedelta(seconds=wait))
        [failed] = timers.fire_due(session)
        session.refresh(row)
        assert (failed.ok, row.attempts) == (False, attempt)
    session.refresh(broken)
    assert broken.status == InstanceStatus.ERROR and broken.error["source"] == "timer"
    assert broken.error["element_id"] == "wait_until" and "5" in broken.error["message"]
    assert audit.history(session, instance_id=broken.id)[-1].kind == "error"
    frozen.advance(timedelta(hours=2))
    assert timers.fire_due(session) == []  # an admin's turn now


# -- deadlines, reminders and escalation ---------------------------------------------------------

def deadline_texts(session, username: str) -> list[str]:
    user_id = actor_for(session, username=username).id
    # The notice that the task was offered to the unit's handlers is not a deadline notice.
    return list(session.scalars(select(Notification.kind + ":" + Notification.text)
                                .where(Notification.user_id == user_id, Notification.kind != "task")
                                .order_by(Notification.id)))


def test_reminder_escalation_and_deadline_notices_each_come_once(session, actors, frozen):
    inst = lifecycle.start_instance(session, process_key="timers_escalation", actor=actors("li.sl"))
    task = only_task(session, inst.id, "handle")
    # Monday 09:00: due Thursday 17:30 (3 working days), yellow from Wednesday 17:30.
    assert (task.candidate_role, task.candidate_org.code) == ("handler", "police")
    assert (task.due_at, task.warn_at) == (datetime(2026, 3, 5, 17, 30, tzinfo=BEIJING),
                                           datetime(2026, 3, 4, 17, 30, tzinfo=BEIJING))
    assert light_of(task) == Light.GREEN
    frozen.set(datetime(2026, 3, 3, 17, 30, tzinfo=BEIJING))  # one working day: the reminder
    assert [f.element_id for f in timers.fire_due(session)] == ["remind"]
    assert deadline_texts(session, "zhou.ga") == ["urge:催办：请尽快办理“承办”（督办：催办与升级 DB-20260302-%06d）——已超过1个工作日未办理，请尽快办理" % inst.id]
    assert [e.kind for e in audit.history(session, instance_id=inst.id)][-2:] == ["timer_fired", "urged"]
    frozen.set(datetime(2026, 3, 4, 17, 30, tzinfo=BEIJING))
    assert timers.fire_due(session) == []
    assert light_of(task) == Light.YELLOW
    assert deadline_texts(session, "zhou.ga")[1].startswith("deadline:临近期限：“承办”将于 03月05日 17:30 到期")
    timers.fire_due(session)
    assert len(deadline_texts(session, "zhou.ga")) == 2  # not again
    frozen.set(datetime(2026, 3, 5, 17, 30, tzinfo=BEIJING))
    assert [f.element_id for f in timers.fire_due(session)] == ["escalate"]
    assert light_of(task) == Light.RED
    assert deadline_texts(session, "zhou.ga")[2].startswith("deadline:已超期：“承办”的办理期限 03月05日 17:30 已过")
    timers.fire_due(session)
    assert len(deadline_texts(session, "zhou.ga")) == 3
    assert sorted(t.element_id for t in open_tasks(session, inst.id)) == ["handle", "supervise"]
    [supervise] = [t for t in open_tasks(session, inst.id) if t.element_id == "supervise"]
    assert supervise.candidate_role == "leader"
    lifecycle.complete_task(session, task_id=task.id, data={"result": "已处理"}, actor=actors("zhou.ga"))
    lifecycle.complete_task(session, task_id=supervise.id, data={"instruction": "加快办理"}, actor=actors("he.ld"))
    done = lifecycle.complete_task(session, task_id=only_task(session, inst.id, "check").id, data={"passed": True},
                                 actor=actors("zheng.dc"))
    assert done.status == InstanceStatus.COMPLETED
    assert Counter(fired_elements(session, inst.id)) == {"remind": 1, "escalate": 1}


def test_returning_a_task_sets_its_working_day_timers_again(session, actors, frozen):
    inst = lifecycle.start_instance(session, process_key="timers_escalation", actor=actors("li.sl"))
    lifecycle.complete_task(session, task_id=only_task(session, inst.id, "handle").id, data={"result": "已处理"},
                          actor=actors("zhou.ga"))
    assert waits(session, inst.id) == {}
    frozen.set(datetime(2026, 3, 6, 10, 0, tzinfo=BEIJING))  # Friday: sent back for rework
    tasks.return_task(session, task_id=only_task(session, inst.id, "check").id, to_element="handle",
                      actor=actors("zheng.dc"), opinion="材料不全")
    # The reset re-arms the boundary timers under the calendar: Monday and Wednesday 17:30.
    assert waits(session, inst.id) == {"remind": datetime(2026, 3, 9, 17, 30, tzinfo=BEIJING),
                                       "escalate": datetime(2026, 3, 11, 17, 30, tzinfo=BEIJING)}
    frozen.set(datetime(2026, 3, 9, 17, 30, tzinfo=BEIJING))
    assert [f.element_id for f in timers.fire_due(session)] == ["remind"]


def test_a_task_found_already_overdue_gets_the_red_notice_only(session, actors, frozen):
    inst = lifecycle.start_instance(session, process_key="timers_escalation", actor=actors("li.sl"))
    frozen.advance(timedelta(days=10))
    timers.fire_due(session)
    texts = [t for t in deadline_texts(session, "zhou.ga") if t.startswith("deadline:")]
    assert len(texts) == 1 and texts[0].startswith("deadline:已超期")
    assert inst.id in {n.instance_id for n in session.scalars(select(Notification))}


# -- durability and races (real commits) ---------------------------------------------------------

def count_fired(svc, ids: list[int]) -> Counter:
    with svc.session() as s:
        rows = s.execute(select(AuditEntry.instance_id, func.count()).where(
            AuditEntry.kind == "timer_fired", AuditEntry.instance_id.in_(ids)).group_by(AuditEntry.instance_id))
        return Counter(dict(rows.all()))


def test_a_restart_between_scheduling_and_due_time_loses_nothing(committed, frozen):
    with committed.session() as s:
        li = actor_for(s, username="li.sl")
        ids = [start_date_case(s, li, fire_at=T0 + timedelta(hours=1)).id for _ in range(3)]
    committed.dispose()  # every connection gone, as after a crash of every process
    restarted = open_services(committed.settings)
    try:
        frozen.advance(timedelta(hours=1))
        report = timers.sweep(restarted)
        assert sorted(f.instance_id for f in report.fired) == ids and report.failed_instances == []
        assert count_fired(restarted, ids) == Counter({i: 1 for i in ids})
        assert timers.sweep(restarted).fired == []
    finally:
        restarted.dispose()


@pytest.mark.slow
def test_two_sweeps_racing_on_a_thousand_due_timers_fire_each_once(committed, frozen):
    with committed.session() as s:
        li = actor_for(s, username="li.sl")
        ids = [start_date_case(s, li, fire_at=T0 + timedelta(minutes=5)).id for _ in range(1000)]
    frozen.advance(timedelta(minutes=5))
    barrier, reports, errors = threading.Barrier(2), [], []

    def sweeper():
        barrier.wait()
        try:
            while True:
                report = timers.sweep(committed, limit=50)
                reports.append(report)
                if not report.more and not report.fired:
                    break
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(len(r.fired) for r in reports) == 1000 and all(f.ok for r in reports for f in r.fired)
    assert count_fired(committed, ids) == Counter({i: 1 for i in ids})
    with committed.session() as s:
        statuses = Counter(s.scalars(select(Instance.status).where(Instance.id.in_(ids))))
    assert statuses == {InstanceStatus.COMPLETED: 1000}


def test_sweep_carries_on_past_a_broken_case_and_reports_it(committed, frozen):
    with committed.session() as s:
        li = actor_for(s, username="li.sl")
        broken = start_date_case(s, li, fire_at=T0, divisor=0).id
        fine = start_date_case(s, li, fire_at=T0).id
    frozen.advance(timedelta(seconds=1))
    report = timers.sweep(committed)
    assert {f.instance_id: f.ok for f in report.fired} == {broken: False, fine: True}
    with committed.session() as s:
        assert s.get(Instance, broken).status == InstanceStatus.ERROR
        assert s.get(Instance, fine).status == InstanceStatus.COMPLETED


def test_a_firing_that_raises_undoes_its_batch_and_the_others_fire_one_by_one(committed, frozen, monkeypatch):
    with committed.session() as s:
        li = actor_for(s, username="li.sl")
        fine = [start_date_case(s, li, fire_at=T0 + timedelta(minutes=1)).id for _ in range(3)]
        broken = start_date_case(s, li, fire_at=T0 + timedelta(minutes=1), divisor=7).id
    _break_divisor_seven(monkeypatch)
    frozen.advance(timedelta(minutes=1))
    report = timers.sweep(committed)
    assert {f.instance_id: f.ok for f in report.fired} == {**{i: True for i in fine}, broken: False}
    assert report.failed_instances == [broken]
    assert count_fired(committed, fine + [broken]) == Counter({i: 1 for i in fine})
    with committed.session() as s:
        row = s.scalar(select(EventWait).where(EventWait.instance_id == broken))
        assert (row.attempts, row.last_error) == (1, "state cannot be read")
        assert Counter(s.scalars(select(Instance.status).where(Instance.id.in_(fine)))) == {InstanceStatus.COMPLETED: 3}


def test_the_embedded_loop_fires_when_woken(committed, frozen):
    with committed.session() as s:
        inst = start_date_case(s, actor_for(s, username="li.sl"), fire_at=T0 + timedelta(hours=1))
    loop = start_timer_loop(committed)
    try:
        frozen.advance(timedelta(hours=1))
        assert loop.sweep_now(timeout=30)
        with committed.session() as s:
            assert s.get(Instance, inst.id).status == InstanceStatus.COMPLETED
        assert count_fired(committed, [inst.id]) == Counter({inst.id: 1})
    finally:
        loop.stop()
    assert not loop.is_alive()


def test_sweep_starts_scheduled_cases_one_transaction_each(tmp_path, frozen):
    # A database of its own: a committed timer start event would start cases in every other test.
    from engine.org.demo import load_demo_org
    from engine.settings import load_settings
    from engine.store.schema import upgrade
    from engine.store.tables import metadata

    svc = open_services(load_settings(env={}, database_url=f"sqlite:///{tmp_path / 'schedule.db'}",
                                      instance_path=tmp_path))
    try:
        upgrade(svc.engine)
        metadata.create_all(svc.engine)
        with svc.session() as s:
            load_demo_org(s)
            deploy(s, paths=[SCHEDULE_REPO])
        assert timers.sweep(svc).fired == []
        frozen.advance(timedelta(hours=1))
        [fired] = timers.sweep(svc).fired
        assert timers.sweep(svc).fired == []
        with svc.session() as s:
            assert s.get(Instance, fired.instance_id).status == InstanceStatus.COMPLETED
            schedule = s.scalar(select(TimerSchedule))
            assert (schedule.fired_count, schedule.due_at, schedule.remaining) == (1, T0 + timedelta(hours=2), 2)
    finally:
        svc.dispose()
