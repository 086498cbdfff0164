"""Helpers shared by the tests: start cases, find open tasks, copy the fixture repository."""
from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import event, func, select

from engine.runtime import lifecycle
from engine.store.models import AuditEntry, HumanTask, TaskStatus

REPO = Path(__file__).parent / "fixtures" / "repo"


def open_tasks(session, instance_id: int) -> list[HumanTask]:
    """Return the open tasks of a case, oldest first."""
    return list(session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.created_at, HumanTask.element_id)))


def only_task(session, instance_id: int, element_id: str | None = None) -> HumanTask:
    tasks = open_tasks(session, instance_id)
    assert len(tasks) == 1, [t.element_id for t in tasks]
    if element_id is not None:
        assert tasks[0].element_id == element_id
    return tasks[0]


def audit_count(session, instance_id: int) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.instance_id == instance_id))


def start_review(session, actor, *, subject="修缮围墙", amount=100):
    """Start a `review` case and complete its registration."""
    inst = lifecycle.start_instance(session, process_key="review", actor=actor)
    task = only_task(session, inst.id, "register")
    return lifecycle.complete_task(session, task_id=task.id, data={"subject": subject, "amount": amount}, actor=actor)


def copy_repo(tmp_path: Path) -> Path:
    """Copy the fixture repository so a test can break it."""
    target = tmp_path / "repo"
    shutil.copytree(REPO, target)
    return target


class Statements:
    """Collect the SQL statements a session sends while the block runs (savepoints and pings left out).

    Each statement is kept on one line, whitespace folded, so a test can look for a fragment.
    """

    def __init__(self, session):
        self.engine, self.sql = session.get_bind().engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "SELECT 1")):
            self.sql.append(" ".join(statement.split()))

    def count(self, fragment: str) -> int:
        return sum(fragment in s for s in self.sql)
