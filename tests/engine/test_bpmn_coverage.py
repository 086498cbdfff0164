"""BPMN coverage (issue 15): small processes run through the engine, each step persisted and restored
(every call below loads the case from the database and saves it again), on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.definitions.deployment import deploy
from engine.runtime import lifecycle
from engine.store.models import AuditEntry, HumanTask, Instance, InstanceStatus, TaskStatus

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "coverage"


@pytest.fixture
def run(session, actors):
    deploy(session, paths=[FIXTURE])
    li = actors("li.sl")

    class Case:
        def __init__(self, key: str):
            self.id = lifecycle.start_instance(session, process_key=key, actor=li).id

        def tasks(self) -> dict[str, str]:
            session.expire_all()
            return {t.element_id: str(t.status) for t in session.scalars(
                select(HumanTask).where(HumanTask.instance_id == self.id))}

        def complete(self, element_id: str, **data) -> Instance:
            task = session.scalars(select(HumanTask).where(HumanTask.instance_id == self.id, HumanTask.element_id == element_id,
                                                           HumanTask.status == TaskStatus.OPEN)).one()
            return lifecycle.complete_task(session, task_id=task.id, data=data, actor=li)

        @property
        def row(self) -> Instance:
            session.expire_all()
            return session.get(Instance, self.id)
    return Case


def test_subprocess_data_is_part_of_the_case_while_it_runs(run):
    case = run("cov_sub")
    # The subprocess's script ran and its task waits: what it set is the case's data now.
    assert case.tasks() == {"check": "open"}
    assert (case.row.data["outer"], case.row.data["inner"]) == (2, "核实中")
    case.complete("check", note_check="已到现场")
    assert case.row.data["note_check"] == "已到现场" and case.row.data["inner"] == "核实中"
    done = case.complete("after")
    assert (done.status, done.end_event) == (InstanceStatus.COMPLETED, "end")


def test_terminate_inside_a_subprocess_ends_the_subprocess_not_the_case(run):
    case = run("cov_term")
    assert case.tasks() == {"slow": "open", "quick": "open"}
    after = case.complete("quick", note_quick="已核实")
    assert after.status == InstanceStatus.RUNNING
    assert case.tasks() == {"slow": "cancelled", "quick": "completed", "after": "open"}
    done = case.complete("after")
    assert (done.status, done.end_event) == (InstanceStatus.COMPLETED, "end_ok")


def test_without_terminate_the_subprocess_waits_for_both_branches(run):
    case = run("cov_term")
    case.complete("slow")
    assert case.tasks() == {"slow": "completed", "quick": "open"}
    case.complete("quick")
    assert case.tasks()["after"] == "open"


def test_the_end_event_reached_last_is_recorded(run):
    case = run("cov_ends")  # one parallel path ends at once at end_fast; the other waits for work
    assert case.row.status == InstanceStatus.RUNNING and case.row.end_event is None
    done = case.complete("work")
    assert (done.status, done.end_event) == (InstanceStatus.COMPLETED, "end_slow")


def _fired(session, instance_id: int) -> list[tuple[str, str]]:
    """(element, local time it was due) of every timer firing in the case history."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from engine.store import audit

    zone = ZoneInfo("Asia/Shanghai")
    return [(e.element_id, datetime.fromisoformat(e.payload["due_at"]).astimezone(zone).strftime("%a %m-%d %H:%M"))
            for e in audit.history(session, instance_id=instance_id) if e.kind == "timer_fired"]


def test_a_timer_cycle_counted_in_working_days(session, run, frozen):
    from datetime import timedelta

    from engine.runtime import timers
    from engine.store.models import EventWait

    case = run("cov_daily")  # Monday 2 March 2026, 09:00 in Beijing: today's 09:00 has passed
    waits = {w.element_id: w.due_at for w in session.scalars(select(EventWait).where(EventWait.instance_id == case.id))}
    assert set(waits) == {"daily", "twice"}

    def sweep_at(days: float) -> None:
        frozen.advance(timedelta(days=days))
        timers.fire_due(session)

    sweep_at(1)          # Tuesday 09:00
    sweep_at(3)          # Friday 09:00: Wednesday's, Thursday's and Friday's reminders, each once
    sweep_at(2)          # Sunday: nothing on a weekend
    sweep_at(1)          # Monday 9 March 09:00
    fired = _fired(session, case.id)
    assert [at for element, at in fired if element == "daily"] == [
        "Tue 03-03 09:00", "Wed 03-04 09:00", "Thu 03-05 09:00", "Fri 03-06 09:00", "Mon 03-09 09:00"]
    # The first 14:30 after Monday 09:00 is Monday's; then every second working day, twice in all.
    assert [at for element, at in fired if element == "twice"] == ["Mon 03-02 14:30", "Wed 03-04 14:30"]
    urged = session.scalars(select(AuditEntry.opinion).where(AuditEntry.instance_id == case.id,
                                                             AuditEntry.kind == "urged")).all()
    # One reminder per sweep: firings that fall due together do not flood the handler (URGE_INTERVAL).
    assert urged == ["请报送今日进展"] * 3 or sorted(urged) == sorted(["第二次提醒", "请报送今日进展", "请报送今日进展"]), urged
    done = case.complete("report", progress="已报送")
    assert done.status == InstanceStatus.COMPLETED


def test_a_working_day_cycle_on_a_start_event_is_refused_by_name(tmp_path):
    import shutil

    from engine.definitions.deployment import collect_sources, validate
    from engine.errors import DefinitionInvalid

    shutil.copytree(FIXTURE, tmp_path / "c")
    bpmn = tmp_path / "c" / "processes" / "cov_daily.bpmn"
    bpmn.write_text(bpmn.read_text().replace(
        '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>',
        '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeCycle>'
        "workday_cycle('09:00')</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>"))
    with pytest.raises(DefinitionInvalid) as info:
        validate(collect_sources([tmp_path / "c"]))
    problems = [p for p in info.value.details if p.element_id == "start"]
    assert problems and "边界定时器或中间定时器" in problems[0].message and problems[0].file == "cov_daily.bpmn"
