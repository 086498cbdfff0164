"""A case's workflow state as stored: the workflow's own fields in ``instances.state``, each task in a row.

The serializer makes one document of a workflow: its own fields, its tasks, and each
subprocess with its tasks (engine/spiff/workflow.py, ``Runner.dump``). Stored whole, a step in a
case of a thousand parallel tasks rewrote 0.56 MB to change a few tasks. Here the document is
split once it is large: ``instances.state`` keeps everything but the tasks (with ``"task_rows": true``),
and each task is a row of ``case_task_states`` written only when its stored form changed. A task gone
from the workflow has its row's body set to NULL in the same statement (one statement per step,
not a DELETE besides); the sweep deletes those rows (``purge``).

Which forms changed is known without comparing them: a dump hands back the very dict it handed
back last time for a task it did not convert again, so a form that ``is`` the one last written
is in the database already. What was last written is kept with the workflow (``Runner.stored_tasks``),
which the per-process cache keeps between requests; after a restore it is the rows just read.
A case stored as one document has none (``None``); when it grows past ``INLINE_TASKS`` every row
is written afresh.

Small cases are not split (``INLINE_TASKS``): their whole document stays in ``instances.state``,
one UPDATE per step as before, as does any state written before migration 0008. The whole case
is restored from ``instances.state`` and, for a split one, one read of its rows (``read``).
"""
from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..spiff.workflow import SERIALIZER_VERSION, Runner
from .models import CaseTaskState
from .rows import put

ROWS_KEY = "task_rows"  # in instances.state: its tasks are rows of case_task_states
# A case of at most this many tasks is stored as one document, as before: rewriting a few
# kilobytes costs less than reading and upserting rows (a timer firing in a small case changes
# five of its eight tasks). One that grows past it moves to rows and stays there.
INLINE_TASKS = 64

_R = CaseTaskState.__table__
_SELECT = select(_R.c.task_id, _R.c.workflow, _R.c.body).where(_R.c.instance_id == bindparam("instance_id"),
                                                                _R.c.body.isnot(None))
_SELECT_MANY = select(_R.c.instance_id, _R.c.task_id, _R.c.workflow, _R.c.body).where(
    _R.c.instance_id.in_(bindparam("ids", expanding=True)), _R.c.body.isnot(None))
_DELETE_AFRESH = delete(_R).where(_R.c.instance_id.in_(bindparam("ids", expanding=True)))
_PURGE = delete(_R).where(_R.c.body.is_(None))


def _upsert(dialect_insert):
    stmt = dialect_insert(_R)
    return stmt.on_conflict_do_update(index_elements=[_R.c.instance_id, _R.c.task_id],
                                      set_={"workflow": stmt.excluded.workflow, "body": stmt.excluded.body})


_UPSERT = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


def in_rows(state: dict | None) -> bool:
    """Whether a stored state keeps its tasks in rows (else it holds them: a small case, or one written before 0008)."""
    return bool(state) and bool(state.get(ROWS_KEY))


def tasks_of(state: dict) -> dict[str, tuple[str, dict]]:
    """Each task of a whole state: id -> (its workflow: "" or the subprocess id, its stored form)."""
    out = {task_id: ("", form) for task_id, form in state.get("tasks", {}).items()}
    for sub_id, sub in state.get("subprocesses", {}).items():
        out.update((task_id, (sub_id, form)) for task_id, form in sub.get("tasks", {}).items())
    return out


def skeleton(state: dict) -> dict:
    """What ``instances.state`` keeps of a whole state: all but the tasks."""
    out = {k: v for k, v in state.items() if k not in ("tasks", "subprocesses")}
    out["tasks"] = {}
    out["subprocesses"] = {sub_id: {**{k: v for k, v in sub.items() if k != "tasks"}, "tasks": {}}
                           for sub_id, sub in state.get("subprocesses", {}).items()}
    out[ROWS_KEY] = True
    return out


def read(conn: Connection, instance_id: int, stored: dict | None,
         rows: list | None = None) -> tuple[dict, dict[str, dict] | None]:
    """The whole state of a case from its ``instances.state``, and what its rows hold (task id -> form).

    The second is None for a case stored as one document (small, or written before 0008), which has no rows.
    The forms in the state are the very dicts of the second, so a dump that keeps them unchanged
    is seen to need no write. ``rows``: the case's rows as ``read_many`` read them, else read here.
    """
    if not in_rows(stored):
        return stored or {}, None
    state = {k: v for k, v in stored.items() if k != ROWS_KEY}
    tasks: dict = {}
    subs = {sub_id: {**sub, "tasks": {}} for sub_id, sub in state.get("subprocesses", {}).items()}
    state["tasks"], state["subprocesses"] = tasks, subs
    held: dict[str, dict] = {}
    if rows is None:
        rows = conn.execute(_SELECT, {"instance_id": instance_id})
    for task_id, workflow, body in rows:
        (subs[workflow]["tasks"] if workflow else tasks)[task_id] = body
        held[task_id] = body
    return state, held


def read_many(conn: Connection, instance_ids: list[int]) -> dict[int, list]:
    """The task rows of several cases in one statement, for ``read``'s ``rows``."""
    out: dict[int, list] = {instance_id: [] for instance_id in instance_ids}
    if instance_ids:
        for instance_id, task_id, workflow, body in conn.execute(_SELECT_MANY, {"ids": instance_ids}):
            out[instance_id].append((task_id, workflow, body))
    return out


def write_many(conn: Connection, cases: list[tuple[int, dict, dict | None]]) -> list[tuple[dict, dict | None]]:
    """Write the task rows of whole states; return, per case, what ``instances.state`` keeps and what its rows hold.

    Each case is (id, whole state, what its rows held before: ``read``'s second value or the
    last write's). None for a case stored as one document: it stays one while it has at most
    ``INLINE_TASKS`` tasks (what its rows hold is then None too), else its rows are all written
    afresh. At most one DELETE (cases moving to rows) and one upsert for all the cases.
    """
    afresh, changed, out = [], [], []
    for instance_id, state, written in cases:
        current = tasks_of(state)
        if written is None:
            if len(current) <= INLINE_TASKS:
                out.append((state, None))  # small: the whole document in instances.state, no row
                continue
            afresh.append(instance_id)  # grown: its rows from now on (any left by an earlier form go)
            written = {}
        # The changed tasks, and the gone ones with no body.
        changed += [{"instance_id": instance_id, "task_id": task_id, "workflow": workflow, "body": form}
                    for task_id, (workflow, form) in current.items() if written.get(task_id) is not form]
        changed += [{"instance_id": instance_id, "task_id": task_id, "workflow": "", "body": None}
                    for task_id in written if task_id not in current]
        out.append((skeleton(state), {task_id: form for task_id, (_workflow, form) in current.items()}))
    if afresh:
        conn.execute(_DELETE_AFRESH, {"ids": afresh})
    if changed:
        conn.execute(_UPSERT[conn.dialect.name], changed if len(changed) > 1 else changed[0])
    return out


def store(conn: Connection, instance_id: int, runner: Runner) -> dict:
    """Dump a runner's workflow and write its changed task rows; return what ``instances.state`` keeps."""
    return store_many(conn, [(instance_id, runner)])[instance_id]


def store_many(conn: Connection, cases: list[tuple[int, Runner]]) -> dict[int, dict]:
    """``store`` for several cases, in the statements of one ``write_many``."""
    written = write_many(conn, [(instance_id, runner.dump(), runner.stored_tasks) for instance_id, runner in cases])
    out = {}
    for (instance_id, runner), (kept, held) in zip(cases, written):
        runner.stored_tasks, out[instance_id] = held, kept
    return out


def put_state(conn: Connection, instance, runner: Runner, *, kept: dict | None = None, **values) -> None:
    """Write the workflow's changed task rows; set its state and data on the case as written (the case row's UPDATE writes them).

    ``kept``: what ``store_many`` returned for the case, its rows written already.
    """
    if kept is None:
        kept = store(conn, instance.id, runner)
    put(instance, state=kept, serializer_version=SERIALIZER_VERSION, data=runner.data(), **values)


def restore(conn: Connection, instance, spec, subprocess_specs: dict, script_engine, rows: list | None = None) -> Runner:
    """Rebuild a case's workflow from what is stored: its state and its task rows (``rows``, or read here)."""
    state, held = read(conn, instance.id, instance.state, rows)
    runner = Runner.restore(state, spec, subprocess_specs, script_engine)
    runner.stored_tasks = held
    return runner


def purge(conn: Connection) -> int:
    """Delete the rows of tasks gone from their workflows (the sweep calls it); return how many."""
    return conn.execute(_PURGE).rowcount
