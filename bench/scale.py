"""Part 4, at scale: 1,000,000 finished cases and 100,000 open tasks in PostgreSQL.

The rows are generated inside PostgreSQL (INSERT ... SELECT over generate_series), shaped like
what the engine writes: a real serialized state, case data with parties, projected case fields,
completed and open human tasks, task actors. They live in their own schema, reused while its
loader version and Alembic revision match, so only the first run pays for the load.
Not loaded: audit entries, notifications and event waits, which none of the measured queries read.
A cached schema is brought to the newest migration before measuring, so new indexes and tables
(the case tallies, the board's tallies, seeded by their migrations) apply to the cached rows without
a reload; the board's tables are then vacuumed, as autovacuum would after such a seed.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import event, text

from .common import (
    CACHE, ONE_TASK, PG_URL, RESULTS, Driver, Result, Stopwatch, admin_engine, at_most, cached_schema_complete,
    percentile, prepare_schema, result,
)

SCHEMA = "pingan_bench_scale"
LOADER_VERSION = 2  # 2: a leader over every county (the board's and ledger's viewer)
FINISHED = 1_000_000
OPEN = 100_000
QUERY_GOAL = at_most(20.0)  # ms, p95
BUDGET_SECONDS, MIN_SAMPLES = 10.0, 10  # per query
TOWNSHIP_USER = "li.sl"     # dispatcher of 城关镇 in the demo county
ADMIN_USER = "admin"  # the demo county's administrator: sees every case
LEADER_USER = "bench.leader"  # a leader over every county: every open case is in scope
BOARD_GOAL = at_most(50.0)  # ms, p95: the board and the ledger at 1 M cases / 100 k open in the viewer's scope
EXTRA_COUNTIES, TOWNSHIPS_PER_COUNTY, VILLAGES_PER_TOWNSHIP = 29, 12, 8
PLANS_FILE = RESULTS / "scale-plans.txt"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红梅玉兰志明春燕海波晓东德福文斌淑珍雪峰"


def services():
    """Open services on the scale schema."""
    from engine.context import open_services
    from engine.settings import load_settings

    return open_services(load_settings(env={}, database_url=PG_URL, database_schema=SCHEMA,
                                       instance_path=CACHE, timer_mode="off"))


def run(*, quick: bool) -> list[Result]:
    """Load (or reuse) the big schema, then time the to-do list, case search and dashboard counts."""
    load_seconds = ensure_loaded()
    svc = services()
    try:
        out = [result("postgresql.scale.load_seconds", load_seconds, "s", "postgresql",
                      note="0 = reused the cached schema " + SCHEMA)]
        out += measure(svc, repeats=20 if quick else 100)
        return out
    finally:
        svc.dispose()


# -- loading ---------------------------------------------------------------------------------------

def ensure_loaded() -> float:
    """Return 0 when the cached schema is complete, else load it and return the seconds it took."""
    from engine.store.schema import upgrade

    complete = cached_schema_complete(SCHEMA, "bench_scale_meta", "version = :v AND instances = :n",
                                      {"v": LOADER_VERSION, "n": FINISHED + OPEN})
    if complete:
        svc = services()
        try:
            upgrade(svc.engine)  # a new migration (say, an index) applies to the cached rows too
            vacuum(svc, BOARD_TABLES)  # what autovacuum does to the tables a migration seeded
        finally:
            svc.dispose()
        return 0.0
    return load()


BOARD_TABLES = ("board_tallies", "board_tally_deltas", "board_open_cases")


def vacuum(svc, tables) -> None:
    with svc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.execute(text(f"VACUUM ANALYZE {table}"))


def load() -> float:
    from engine.board.aggregates import compact

    t0 = time.monotonic()
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    svc = services()
    try:
        prepare_schema(svc)
        finished_state, running_state = sample_states(svc)
        with svc.engine.begin() as conn:
            _load_orgs_and_users(conn)
            _load_cases(conn, finished_state, running_state)
        with svc.session() as s:
            compact(s)  # the board's deltas, folded as the timer sweep would
        with svc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("instances", "human_tasks", "case_fields", "task_actors", "orgs", "users",
                          "role_assignments", *BOARD_TABLES):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
            seconds = time.monotonic() - t0
            conn.execute(text("CREATE TABLE bench_scale_meta (version int, instances bigint, open_tasks bigint, "
                              "loaded_at timestamptz, seconds float)"))
            conn.execute(text("INSERT INTO bench_scale_meta VALUES (:v, :n, :o, now(), :s)"),
                         {"v": LOADER_VERSION, "n": FINISHED + OPEN, "o": OPEN, "s": seconds})
        return seconds
    finally:
        svc.dispose()


def sample_states(svc) -> tuple[str, str]:
    """Play one real one-task case; return its stored state when finished and while waiting."""
    from engine.store import case_state
    from engine.store.models import Instance

    driver = Driver(svc)
    waiting = driver.start(ONE_TASK)
    finished = driver.play(ONE_TASK)
    with svc.session() as s:
        # Whole states, tasks included: the copies below are stored in the single-document form,
        # which a case's next step rewrites as rows (engine/store/case_state.py).
        states = {i: case_state.read(s.connection(), i, s.get(Instance, i).state)[0] for i in (waiting, finished)}
        for table in ("audit_entries", "case_fields", "task_actors", "notifications", "event_waits", "case_task_states",
                      "human_tasks", "instances"):
            s.execute(text(f"DELETE FROM {table}"))
    return json.dumps(states[finished], ensure_ascii=False), json.dumps(states[waiting], ensure_ascii=False)


def _load_orgs_and_users(conn) -> None:
    """Grow the demo county into 30 counties of 12 townships of 8 villages; a dispatcher and a mediator each."""
    conn.execute(text("""
        INSERT INTO orgs (code, name, kind, parent_id, path)
        SELECT 'c' || c, '第' || c || '县', 'county', NULL, '' FROM generate_series(1, :n) c"""),
                 {"n": EXTRA_COUNTIES})
    conn.execute(text("UPDATE orgs SET path = '/' || id || '/' WHERE kind = 'county' AND path = ''"))
    conn.execute(text("""
        INSERT INTO orgs (code, name, kind, parent_id, path)
        SELECT p.code || '-t' || t, p.name || '第' || t || '镇', 'township', p.id, ''
        FROM orgs p, generate_series(1, :n) t WHERE p.kind = 'county' AND p.code LIKE 'c%'"""),
                 {"n": TOWNSHIPS_PER_COUNTY})
    conn.execute(text("""
        INSERT INTO orgs (code, name, kind, parent_id, path)
        SELECT p.code || '-v' || v, p.name || '第' || v || '村', 'village', p.id, ''
        FROM orgs p, generate_series(1, :n) v WHERE p.kind = 'township' AND p.path = ''"""),
                 {"n": VILLAGES_PER_TOWNSHIP})
    for _ in range(2):  # townships, then villages
        conn.execute(text("""
            UPDATE orgs o SET path = p.path || o.id || '/' FROM orgs p
            WHERE o.parent_id = p.id AND o.path = '' AND p.path <> ''"""))
    conn.execute(text("""
        INSERT INTO users (username, name, password_hash, active, org_id, failed_logins)
        SELECT o.code || '.' || r, o.name || r, '', true, o.id, 0
        FROM orgs o, unnest(ARRAY['dispatcher', 'mediator']) r WHERE o.kind = 'township' AND o.code LIKE 'c%'"""))
    conn.execute(text("""
        INSERT INTO role_assignments (user_id, role, org_id)
        SELECT u.id, split_part(u.username, '.', 2), u.org_id FROM users u WHERE u.username LIKE 'c%.%'"""))
    conn.execute(text("""
        INSERT INTO users (username, name, password_hash, active, org_id, failed_logins)
        SELECT :u, '市级领导', '', true, id, 0 FROM orgs WHERE code = 'county'"""), {"u": LEADER_USER})
    conn.execute(text("""
        INSERT INTO role_assignments (user_id, role, org_id)
        SELECT u.id, 'leader', o.id FROM users u, orgs o WHERE u.username = :u AND o.kind = 'county'"""),
                 {"u": LEADER_USER})


def _load_cases(conn, finished_state: str, running_state: str) -> None:
    """Cases spread over every township and village, three years old to today, ids in time order."""
    conn.execute(text("""
        CREATE TEMP TABLE case_orgs AS
        SELECT row_number() OVER (ORDER BY id) AS n, id, path FROM orgs WHERE kind IN ('township', 'village')"""))
    conn.execute(text("""
        CREATE TEMP TABLE staff AS
        SELECT row_number() OVER (ORDER BY id) AS n, id FROM users"""))
    from engine.spiff.workflow import SERIALIZER_VERSION

    params = {"finished": FINISHED, "total": FINISHED + OPEN, "fstate": finished_state, "rstate": running_state,
              "surnames": list(SURNAMES), "given": list(GIVEN), "version": SERIALIZER_VERSION,
              "ns": len(SURNAMES), "ng": len(GIVEN)}
    conn.execute(text("""
        INSERT INTO instances (id, definition_id, process_key, business_key, title, status, org_id, started_by_id,
                               started_at, updated_at, ended_at, end_event, state, serializer_version, data,
                               audit_head, audit_seq, lock_version)
        SELECT g, d.id, d.key, 'B1-' || to_char(s.at, 'YYYYMMDD') || '-' || lpad(g::text, 7, '0'),
               '受理：' || s.subject, CASE WHEN g <= :finished THEN 'completed' ELSE 'running' END,
               o.id, u.id, s.at, s.at + interval '2 days',
               CASE WHEN g <= :finished THEN s.at + interval '2 days' END,
               CASE WHEN g <= :finished THEN 'end' END,
               CASE WHEN g <= :finished THEN CAST(:fstate AS jsonb) ELSE CAST(:rstate AS jsonb) END,
               :version, jsonb_build_object('subject', s.subject, 'parties', jsonb_build_array(
                   jsonb_build_object('name', s.p1, 'role', '申请人'), jsonb_build_object('name', s.p2, 'role', '被申请人'))),
               md5(g::text) || md5((g + 1)::text), 3, 3
        FROM generate_series(1, :total) g
        CROSS JOIN LATERAL (SELECT
            now() - (:total - g) * interval '94 seconds' AS at,
            (ARRAY['邻里噪音纠纷', '宅基地边界纠纷', '物业停车费纠纷', '劳务报酬纠纷', '婚姻家庭纠纷'])[1 + g % 5] AS subject,
            (CAST(:surnames AS text[]))[1 + (g * 7) % :ns] || (CAST(:given AS text[]))[1 + (g * 13) % :ng]
                || (CAST(:given AS text[]))[1 + (g * 31) % (:ng - 1)] AS p1,
            (CAST(:surnames AS text[]))[1 + (g * 11) % :ns] || (CAST(:given AS text[]))[1 + (g * 17) % :ng]
                || (CAST(:given AS text[]))[1 + (g * 37) % (:ng - 1)] AS p2,
            1 + (g::bigint * 2654435761) % (SELECT count(*) FROM case_orgs) AS org_n,
            1 + (g::bigint * 40503) % (SELECT count(*) FROM staff) AS user_n) s
        JOIN case_orgs o ON o.n = s.org_n
        JOIN staff u ON u.n = s.user_n
        CROSS JOIN (SELECT id, key FROM process_definitions WHERE key = 'bench_one' ORDER BY version DESC LIMIT 1) d
        """), params)
    conn.execute(text("SELECT setval(pg_get_serial_sequence('instances', 'id'), (SELECT max(id) FROM instances))"))
    # Every case: one finished registration task; finished cases a finished decision too; open ones an open task.
    conn.execute(text("""
        INSERT INTO human_tasks (id, instance_id, element_id, title, process_key, candidate_role, candidate_org_id,
                                 assignee_id, owner_id, status, form_key, due_at, warn_at, created_at, completed_at,
                                 completed_by_id, multi_index)
        SELECT gen_random_uuid()::text, i.id, 'register', '登记', i.process_key, 'dispatcher', i.org_id, NULL, NULL,
               'completed', 'bench_one/register', NULL, NULL, i.started_at, i.started_at + interval '1 hour',
               i.started_by_id, NULL
        FROM instances i"""))
    conn.execute(text("""
        INSERT INTO human_tasks (id, instance_id, element_id, title, process_key, candidate_role, candidate_org_id,
                                 assignee_id, owner_id, status, form_key, due_at, warn_at, created_at, completed_at,
                                 completed_by_id, multi_index)
        SELECT gen_random_uuid()::text, i.id, 'decide', '受理', i.process_key,
               (ARRAY['dispatcher', 'dispatcher', 'mediator', 'mediator', 'leader', 'handler', 'grid_worker'])[1 + i.id % 7],
               CASE WHEN i.id % 3 = 0 THEN o.parent_id ELSE i.org_id END,
               CASE WHEN i.id % 5 = 0 THEN i.started_by_id END, NULL,
               CASE WHEN i.status = 'completed' THEN 'completed' ELSE 'open' END, 'bench_one/decide',
               i.started_at + (3 + i.id % 15) * interval '1 day', i.started_at + (2 + i.id % 15) * interval '1 day',
               i.started_at + interval '1 hour',
               CASE WHEN i.status = 'completed' THEN i.ended_at END,
               CASE WHEN i.status = 'completed' THEN i.started_by_id END, NULL
        FROM instances i JOIN orgs o ON o.id = i.org_id"""))
    conn.execute(text("""
        INSERT INTO case_fields (instance_id, name, value)
        SELECT i.id, 'party', p ->> 'name' FROM instances i, jsonb_array_elements(i.data -> 'parties') p"""))
    conn.execute(text("""
        INSERT INTO task_actors (instance_id, user_id)
        SELECT DISTINCT instance_id, completed_by_id FROM human_tasks WHERE completed_by_id IS NOT NULL"""))


# -- measuring -------------------------------------------------------------------------------------

def measure(svc, *, repeats: int) -> list[Result]:
    from sqlalchemy import select

    from engine.board.figures import board
    from engine.board.ledger import LedgerFilter, ledger
    from engine.cases import queries
    from engine.org.orgs import actor_for
    from engine.store.models import CaseField, Instance

    with svc.session() as s:
        actor = actor_for(s, username=TOWNSHIP_USER)
        leader = actor_for(s, username=LEADER_USER)
        admin = actor_for(s, username=ADMIN_USER)
        open_for_leader = s.scalar(text("SELECT count(*) FROM instances WHERE status = 'running'"))
        open_in_scope = s.scalar(text(
            "SELECT count(*) FROM human_tasks t JOIN orgs o ON o.id = t.candidate_org_id "
            "WHERE t.status = 'open' AND o.path LIKE :p"), {"p": actor.org_path + "%"})
        names = [n for (n,) in s.execute(
            select(CaseField.value).join(Instance, Instance.id == CaseField.instance_id)
            .where(CaseField.name == "party", Instance.org_id == actor.org_id)
            .order_by(CaseField.id.desc()).limit(10))]

    def status_counts(s):
        return queries.case_counts(s, actor=actor)

    searches = iter(range(10**9))
    checks = {
        "todo": lambda s: queries.todo(s, actor=actor),
        "search_party": lambda s: queries.search_cases(
            s, actor=actor, search=queries.CaseSearch(fields=(("party", names[next(searches) % len(names)]),))),
        "todo_counts": lambda s: queries.todo_counts(s, actor=actor),
        "browse_all": lambda s: queries.search_cases(s, actor=admin, search=queries.CaseSearch()),
        "browse_scope": lambda s: queries.search_cases(s, actor=actor, search=queries.CaseSearch()),
        "status_counts": status_counts,
        "board": lambda s: board(s, actor=leader),
        "ledger": lambda s: ledger(s, actor=leader, flt=LedgerFilter()),
    }
    try:
        from engine.runtime.admin import instance_counts
        checks["admin_instance_counts"] = lambda s: instance_counts(s)
    except ImportError:
        pass

    out, plans = [], []
    notes = {
        "todo": f"engine.cases.queries.todo for {TOWNSHIP_USER} (城关镇 dispatcher); {open_in_scope} open tasks in the township",
        "search_party": "engine.cases.queries.search_cases by projected field party = a full name (page + total)",
        "todo_counts": "engine.cases.queries.todo_counts (by light) for the township user",
        "browse_all": f"engine.cases.queries.search_cases, no filter, for {ADMIN_USER} (every case, newest first; page + total)",
        "browse_scope": "engine.cases.queries.search_cases, no filter, for the township user (page + total)",
        "status_counts": "engine.cases.queries.case_counts: cases by status in the township user's scope",
        "admin_instance_counts": "engine.runtime.admin.instance_counts: all cases by definition and status (tallies)",
        "board": f"engine.board.figures.board for {LEADER_USER} (leader over every county, {open_for_leader} open cases "
                 "in scope): counts, rows, 6-month series, cards, trends and rates",
        "ledger": f"engine.board.ledger.ledger (first page) for {LEADER_USER}",
    }
    goals = {"board": BOARD_GOAL, "ledger": BOARD_GOAL}
    for name, fn in checks.items():
        watch = Stopwatch()
        statements = []
        with svc.session() as s:
            for _ in range(3):
                fn(s)
            # Bounded: a query that takes seconds gets at least MIN_SAMPLES runs, not `repeats`.
            deadline = time.monotonic() + BUDGET_SECONDS
            for i in range(repeats):
                with watch:
                    fn(s)
                if i + 1 >= MIN_SAMPLES and time.monotonic() > deadline:
                    break
            conn = s.connection()
            listener = lambda *a: statements.append((a[2], a[3]))  # noqa: E731
            event.listen(conn, "before_cursor_execute", listener)
            fn(s)
            event.remove(conn, "before_cursor_execute", listener)
            for statement, params in statements:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params))
                plans.append((name, statement, params, plan))
        lines = [line for query, _, _, plan in plans if query == name for line in plan.splitlines()]
        seq = sorted({line.split("Seq Scan on ")[1].split()[0] for line in lines if "Seq Scan on " in line})
        used = sorted({_index_of(line) for line in lines if _index_of(line)})
        note = notes[name] + (f"; sequential scans: {', '.join(seq)}" if seq else "; index scans only")
        note += f"; indexes: {', '.join(used) or 'none'}"
        goal = goals.get(name, QUERY_GOAL)
        p95 = percentile(watch.samples, 95)
        print(f"   {name}: p50 {percentile(watch.samples, 50):.1f} ms, p95 {p95:.1f} ms (goal: {goal}; "
              f"{'met' if goal.met(p95) else 'NOT met'}); "
              f"{'sequential scans: ' + ', '.join(seq) if seq else 'index scans only'}", flush=True)
        for line in dict.fromkeys(line.strip().removeprefix("->  ").split("  (cost=")[0] for line in lines
                                  if _index_of(line) or "Seq Scan on " in line):
            print(f"      {line}", flush=True)
        out.append(result(f"postgresql.scale.{name}.p95", p95, "ms", "postgresql",
                          goal=goal, note=f"{note}; {len(watch.samples)} runs"))
        out.append(result(f"postgresql.scale.{name}.p50", percentile(watch.samples, 50), "ms", "postgresql"))
    write_plans(plans)
    return out


def _index_of(plan_line: str) -> str | None:
    """The index a plan line reads, if any ("Index Only Scan using ix_x on t", "Bitmap Index Scan on ix_x")."""
    for marker in ("Index Only Scan using ", "Index Scan Backward using ", "Index Scan using ", "Bitmap Index Scan on "):
        if marker in plan_line:
            return plan_line.split(marker)[1].split()[0]
    return None


def write_plans(plans: list) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with PLANS_FILE.open("w", encoding="utf-8") as f:
        for name, statement, params, plan in plans:
            f.write(f"== {name}\n{statement}\n-- params: {params}\n{plan}\n\n")
    print(f"   plans written to {PLANS_FILE}", flush=True)
