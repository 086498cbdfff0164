"""How many SQL statements each measured operation sends: start and complete, in the engine and over HTTP.

A count does not move with the machine's load the way a timing does, so it shows what a change
to the write path did even on a busy machine. The HTTP figures are counted in this process on
the same Flask app gunicorn serves (its test client, the bench database, a bearer token): every
statement of the request, authentication included; gunicorn itself sends none.
`python -m bench.statements sqlite|postgresql` prints the statements themselves.

What each operation takes (2026-12-07, `bench_one`; SQLite counts its `BEGIN IMMEDIATE`; the
completions on a workflow this process kept, as the bench's are). On PostgreSQL a step's task
UPDATE, new task actor, new task and case field rows, the pool's notices, audit entries and case
UPDATE are one statement (``lifecycle.write_step``):

* ``engine_start`` 9 / 3 on PostgreSQL: definition, INSERT case; then the task rows, the pool's
  notices (an INSERT … SELECT of the role's holders), case fields, task actor, audit entry and
  the case's UPDATE (six statements on SQLite, one on PostgreSQL).
* ``engine_complete`` 5 / 2: the task locked with its case, definition, candidate org, pending
  after-signers and known actor (one read); the task's UPDATE, the audit entries (one INSERT)
  and the case's UPDATE (one statement on PostgreSQL). A restored workflow reads its waits, task
  rows and case fields back (one read more).
* ``http_start`` 14 / 8: the token check, the engine's start, then the answer's reads
  (usernames and org codes in one).
* ``http_complete`` 7 / 4: the token check, the engine's completion, usernames and org codes (one read).
* ``http_complete_brief`` 6 / 3: the token check and the engine's completion.
"""
from __future__ import annotations

import dataclasses
import sys

from sqlalchemy import event

from .common import BENCH_AUDIT_KEY, BENCH_SECRET_KEY, Driver, Plan, Result, open_bench_services, result, settings_for

WARM = 3  # the first operations fill the per-process caches (spec, calendar, statement cache)


class Statements:
    """Collect the SQL statements an engine sends while the block runs."""

    def __init__(self, engine):
        self.engine, self.sql = engine, []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, *args) -> None:
        self.sql.append(statement)

    @property
    def count(self) -> int:
        return len(self.sql)


def engine_counts(svc, plan: Plan) -> dict[str, Statements]:
    """Count one start and the completion of its first task through engine.runtime.lifecycle, one commit each."""
    driver = Driver(svc)
    for _ in range(WARM):
        driver.play(plan)
    with Statements(svc.engine) as started:
        instance_id = driver.start(plan)
    step = plan.steps[0]
    task_id = driver.open_task(instance_id, step.element_id, step.org)
    with Statements(svc.engine) as completed:
        driver.complete(task_id, step)
    return {"engine_start": started, "engine_complete": completed}


def http_counts(kind: str, plan: Plan) -> dict[str, Statements]:
    """Count one POST /instances and one POST /tasks/{id}/complete (full, then ?view=brief) on the app gunicorn serves."""
    from engine.context import open_services
    from engine.org.auth import issue_token
    from web.app import create_app

    svc = open_services(dataclasses.replace(settings_for(kind), secret_key=BENCH_SECRET_KEY,
                                                    audit_key=BENCH_AUDIT_KEY))
    try:
        client = create_app(services=svc).test_client()
        with svc.session() as s:
            token = issue_token(s, username=plan.starter, label="bench")
        headers = {"Authorization": f"Bearer {token}"}

        def start() -> str:
            response = client.post("/api/v1/instances", json={"process": plan.process, "data": plan.start_data},
                                   headers=headers)
            if response.status_code != 201 and response.status_code != 200:
                raise RuntimeError(f"start answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
            return response.get_json()["open_tasks"][0]["id"]

        def complete(task_id: str, query: str = "") -> None:
            response = client.post(f"/api/v1/tasks/{task_id}/complete{query}", json={"data": plan.steps[0].data},
                                   headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"complete answered {response.status_code}: {response.get_data(as_text=True)[:300]}")

        for _ in range(WARM):
            complete(start())
        with Statements(svc.engine) as started:
            task_id = start()
        with Statements(svc.engine) as completed:
            complete(task_id)
        task_id = start()
        with Statements(svc.engine) as brief:
            complete(task_id, "?view=brief")
        return {"http_start": started, "http_complete": completed, "http_complete_brief": brief}
    finally:
        svc.dispose()


# SQLite's BEGIN IMMEDIATE is a statement (engine/store/db.py); COMMIT is a driver call on both.
_TRANSACTION = "SQLite's BEGIN counted, COMMIT is not a statement"


def as_results(kind: str, counts: dict[str, Statements], note: str) -> list[Result]:
    return [result(f"{kind}.statements.{operation}", s.count, "statements", kind, note=note)
            for operation, s in counts.items()]


def engine_results(svc, kind: str, plan: Plan) -> list[Result]:
    return as_results(kind, engine_counts(svc, plan), f"{plan.process}, engine.runtime.lifecycle; {_TRANSACTION}")


def http_results(kind: str, plan: Plan) -> list[Result]:
    return as_results(kind, http_counts(kind, plan), f"{plan.process}, one request in-process (Flask test client), "
                                                     f"token check included; {_TRANSACTION}")


def main(argv: list[str]) -> int:
    from .common import ONE_TASK, reset_database

    kind = argv[0] if argv else "sqlite"
    reset_database(kind)
    svc = open_bench_services(kind)
    try:
        counts = engine_counts(svc, ONE_TASK)
    finally:
        svc.dispose()
    counts |= http_counts(kind, ONE_TASK)
    for operation, s in counts.items():
        print(f"== {kind}.statements.{operation}: {s.count}")
        for sql in s.sql:
            print("   ", " ".join(sql.split())[:160])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
