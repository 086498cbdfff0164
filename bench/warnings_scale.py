"""Part "warnings": evaluating every warning rule (预警) over 1,000,000 disputes in PostgreSQL, goal ≤ 10 s.

The rows are generated inside PostgreSQL (INSERT ... SELECT over generate_series) as bench/scale.py
does, but shaped like the mediation process's cases, since the rules read disputes: parties (also
projected as ``party`` case fields, 2,000,000 rows), township and village, a violence mark on one case in fifty,
three years of registrations up to today (one every 94 seconds), the newest 100,000 still running,
a completed police visit on half of the marked running ones; plus 2,000 issued supervision items,
some far past their deadline (red cards). 30 counties of 12 townships of 8 villages, like the
scale part. The schema is kept and reused while its loader version matches.

Measured: the first evaluation (raises every warning: writes them, their history and notices)
and a second one (nothing new: the steady state of a sweep every 15 minutes).
"""
from __future__ import annotations

import time

from sqlalchemy import text

from .common import CACHE, PG_URL, Result, admin_engine, at_most, cached_schema_complete, prepare_schema, result

SCHEMA = "pingan_bench_warnings"
LOADER_VERSION = 1
DISPUTES = 1_000_000
RUNNING = 100_000
SUPERVISION_ITEMS = 2_000
GOAL = at_most(10.0)  # seconds per evaluation
COUNTIES, TOWNSHIPS_PER_COUNTY, VILLAGES_PER_TOWNSHIP = 29, 12, 8
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红梅玉兰志明春燕海波晓东德福文斌淑珍雪峰"


def services():
    from engine.context import open_services
    from engine.settings import load_settings

    return open_services(load_settings(env={}, database_url=PG_URL, database_schema=SCHEMA, instance_path=CACHE,
                                       timer_mode="off", development=True))


def run(*, quick: bool) -> list[Result]:
    """Load (or reuse) the schema, then time two evaluations of every warning rule."""
    load_seconds = ensure_loaded()
    svc = services()
    try:
        out = [result("postgresql.warnings.load_seconds", load_seconds, "s", "postgresql",
                      note="0 = reused the cached schema " + SCHEMA)]
        return out + measure(svc)
    finally:
        svc.dispose()


def ensure_loaded() -> float:
    from engine.store.db import Base
    from engine.store.schema import upgrade

    complete = cached_schema_complete(SCHEMA, "bench_warnings_meta", "version = :v", {"v": LOADER_VERSION})
    if complete:
        svc = services()
        try:
            upgrade(svc.engine)
            Base.metadata.create_all(svc.engine)
            _create_indexes(svc)
        finally:
            svc.dispose()
        return 0.0
    return load()


def load() -> float:
    t0 = time.monotonic()
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        conn.commit()
    admin.dispose()
    svc = services()
    try:
        prepare_schema(svc)
        # One transaction per step, each table analysed after its load: a foreign-key check planned
        # against the statistics of an empty table would scan it once per inserted row.
        with svc.engine.begin() as conn:
            _load_orgs(conn)
            conn.execute(text("ANALYZE orgs"))
        with svc.engine.begin() as conn:
            _load_disputes(conn)
        with svc.engine.begin() as conn:
            conn.execute(text("ANALYZE instances"))
            _load_projections(conn)
            _load_supervision(conn)
        _create_indexes(svc)
        with svc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("instances", "human_tasks", "case_fields", "orgs"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
            seconds = time.monotonic() - t0
            conn.execute(text("CREATE TABLE bench_warnings_meta (version int, loaded_at timestamptz, seconds float)"))
            conn.execute(text("INSERT INTO bench_warnings_meta VALUES (:v, now(), :s)"),
                         {"v": LOADER_VERSION, "s": seconds})
        return seconds
    finally:
        svc.dispose()


def _create_indexes(svc) -> None:
    """Create the indexes the models declare on tables that already exist, as their migration will.

    ``create_all`` makes missing tables with their indexes but adds none to an existing table
    (``ix_instances_process_started``, declared by engine/board/models.py for the warning rules).
    """
    from engine.store.db import Base

    with svc.engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)


def _load_orgs(conn) -> None:
    conn.execute(text("""
        INSERT INTO orgs (code, name, kind, parent_id, path)
        SELECT 'c' || c, '第' || c || '县', 'county', NULL, '' FROM generate_series(1, :n) c"""), {"n": COUNTIES})
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
    for _ in range(2):
        conn.execute(text("""
            UPDATE orgs o SET path = p.path || o.id || '/' FROM orgs p
            WHERE o.parent_id = p.id AND o.path = '' AND p.path <> ''"""))


def _load_disputes(conn) -> None:
    conn.execute(text("""
        CREATE TEMP TABLE villages AS
        SELECT row_number() OVER (ORDER BY v.id) AS n, v.id, v.code, t.code AS township
        FROM orgs v JOIN orgs t ON t.id = v.parent_id WHERE v.kind = 'village'"""))
    from engine.spiff.workflow import SERIALIZER_VERSION

    conn.execute(text("""
        INSERT INTO instances (definition_id, process_key, business_key, title, status, org_id, started_by_id,
                               started_at, updated_at, ended_at, end_event, state, serializer_version, data,
                               audit_head, audit_seq, lock_version)
        SELECT d.id, 'mediation', 'TJ-' || to_char(s.at, 'YYYYMMDD') || '-' || lpad(g::text, 7, '0'),
               '调解：' || s.p1 || '与' || s.p2 || '纠纷', CASE WHEN g <= :finished THEN 'completed' ELSE 'running' END,
               v.id, NULL, s.at, s.at, CASE WHEN g <= :finished THEN s.at + interval '20 days' END,
               CASE WHEN g <= :finished THEN 'end_closed' END, '{}'::jsonb, :version,
               jsonb_build_object('dispute_type', '邻里纠纷', 'township', v.township, 'village', v.code,
                                  'violence_risk', g % 50 = 0, 'parties', jsonb_build_array(
                                      jsonb_build_object('name', s.p1, 'role', '申请人'),
                                      jsonb_build_object('name', s.p2, 'role', '被申请人'))),
               md5(g::text), 1, 1
        FROM generate_series(1, :total) g
        CROSS JOIN LATERAL (SELECT
            now() - (:total - g) * interval '94 seconds' AS at,
            (CAST(:surnames AS text[]))[1 + (g * 7) % :ns] || (CAST(:given AS text[]))[1 + (g * 13) % :ng]
                || (CAST(:given AS text[]))[1 + (g * 31) % (:ng - 1)] AS p1,
            (CAST(:surnames AS text[]))[1 + (g * 11) % :ns] || (CAST(:given AS text[]))[1 + (g * 17) % :ng]
                || (CAST(:given AS text[]))[1 + (g * 37) % (:ng - 1)] AS p2,
            1 + (g::bigint * 2654435761) % (SELECT count(*) FROM villages) AS village_n) s
        JOIN villages v ON v.n = s.village_n
        CROSS JOIN (SELECT id FROM process_definitions WHERE key = 'mediation' ORDER BY version DESC LIMIT 1) d
        """), {"finished": DISPUTES - RUNNING, "total": DISPUTES, "version": SERIALIZER_VERSION,
               "surnames": list(SURNAMES), "given": list(GIVEN), "ns": len(SURNAMES), "ng": len(GIVEN)})


def _load_projections(conn) -> None:
    """The parties as the mediation process projects them (``party`` case fields), and the police visits."""
    conn.execute(text("""
        INSERT INTO case_fields (instance_id, name, value)
        SELECT i.id, 'party', p ->> 'name' FROM instances i, jsonb_array_elements(i.data -> 'parties') p
        WHERE i.process_key = 'mediation'"""))
    conn.execute(text("""
        INSERT INTO human_tasks (id, instance_id, element_id, title, process_key, candidate_role, candidate_org_id,
                                 status, form_key, created_at, completed_at)
        SELECT gen_random_uuid()::text, i.id, 'alert_police', '公安稳控处置', 'mediation', 'handler', i.org_id,
               'completed', 'mediation/alert_police', i.started_at, i.started_at + interval '1 hour'
        FROM instances i WHERE i.status = 'running' AND i.process_key = 'mediation' AND i.id % 100 = 0"""))


def _load_supervision(conn) -> None:
    conn.execute(text("""
        INSERT INTO instances (definition_id, process_key, business_key, title, status, org_id, started_by_id,
                               started_at, updated_at, state, serializer_version, data, audit_head, audit_seq,
                               lock_version)
        SELECT d.id, 'supervision', 'DB-' || lpad(g::text, 7, '0'), '督办：事项' || g, 'running',
               (SELECT id FROM orgs WHERE code = 'county'), NULL, s.at, s.at, '{}'::jsonb, '1',
               jsonb_build_object('item_title', '事项' || g, 'source', '领导批示', 'lead_unit', 'housing',
                                  'issued_at', to_char(s.at, 'YYYY-MM-DD"T"HH24:MI:SS+00:00'),
                                  'deadline_at', to_char(s.at + interval '14 days', 'YYYY-MM-DD"T"HH24:MI:SS+00:00'),
                                  'assisting', '[]'::jsonb),
               md5(g::text), 1, 1
        FROM generate_series(1, :n) g
        CROSS JOIN LATERAL (SELECT now() - (g % 60) * interval '1 day' AS at) s
        CROSS JOIN (SELECT id FROM process_definitions WHERE key = 'supervision' ORDER BY version DESC LIMIT 1) d
        """), {"n": SUPERVISION_ITEMS})


def measure(svc) -> list[Result]:
    from engine.board.warnings import evaluate_warnings

    with svc.session() as s:   # each run starts from no warnings, as a new deployment would
        s.execute(text("DELETE FROM warning_events"))
        s.execute(text("DELETE FROM warnings"))
        s.execute(text("DELETE FROM notifications WHERE kind = 'warning'"))
        cases = s.execute(text("SELECT count(*) FROM instances")).scalar()
    out = []
    for label, note in (("first", "raises every warning: rows, history and notices written"),
                        ("again", "nothing new: the steady state of a scheduled evaluation")):
        t0 = time.perf_counter()
        with svc.session() as s:
            report = evaluate_warnings(s)
        seconds = time.perf_counter() - t0
        summary = report.summary()
        print(f"   {label}: {seconds:.2f} s; {summary}", flush=True)
        out.append(result(f"postgresql.warnings.evaluate_{label}_seconds", seconds, "s", "postgresql", goal=GOAL,
                          note=f"{cases} cases; {note}; raised {summary['raised']}, updated {summary['updated']}, "
                               f"candidates {summary['candidates']}, DMN decisions {summary['decisions']}"))
    return out
