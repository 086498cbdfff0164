"""BPMN coverage (issue 15): small processes run through the engine, each step persisted and restored
(every call below loads the case from the database and saves it again), on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine import runtime
from engine.definitions import deploy
from engine.models import HumanTask, Instance, InstanceStatus, TaskStatus

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "coverage"


@pytest.fixture
def run(session, actors):
    deploy(session, paths=[FIXTURE])
    li = actors("li.sl")

    class Case:
        def __init__(self, key: str):
            self.id = runtime.start_instance(session, process_key=key, actor=li).id

        def tasks(self) -> dict[str, str]:
            session.expire_all()
            return {t.element_id: str(t.status) for t in session.scalars(
                select(HumanTask).where(HumanTask.instance_id == self.id))}

        def complete(self, element_id: str, **data) -> Instance:
            task = session.scalars(select(HumanTask).where(HumanTask.instance_id == self.id, HumanTask.element_id == element_id,
                                                           HumanTask.status == TaskStatus.OPEN)).one()
            return runtime.complete_task(session, task_id=task.id, data=data, actor=li)

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
