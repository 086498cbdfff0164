"""Part 2, persisted throughput: cases played through engine.runtime.lifecycle, one commit per operation.

Single connection on both databases (what one request worker sees), then on PostgreSQL several
processes at once, since one connection there is bound by round trips and fsync latency.
"""
from __future__ import annotations

import multiprocessing
import time
from queue import Empty

from . import statements
from .common import (
    DURABILITY, ONE_TASK, Driver, Plan, Result, Stopwatch, at_least, open_bench_services, percentile, result,
)

PG_WORKERS = 2  # = cores: more processes lose throughput here (docs/performance.md)
SQLITE_GOAL = at_least(0.40)          # of the in-memory ceiling, one-task process
PG_COMPLETIONS_GOAL = at_least(500)   # task completions per second


def run(*, kind: str, plans: list[Plan], ceilings: dict[str, float], quick: bool) -> list[Result]:
    """Count a start's and a completion's statements; measure one connection per plan, then concurrency on PostgreSQL."""
    out = []
    svc = open_bench_services(kind)
    try:
        out += statements.engine_results(svc, kind, ONE_TASK)
        for plan in plans:
            out += _single(svc, kind, plan, ceilings[plan.label], quick=quick)
    finally:
        svc.dispose()
    if kind == "postgresql":
        for plan in plans:
            out += _concurrent(kind, plan, ceilings[plan.label], quick=quick)
        out += _completions_only(kind, quick=quick)
    return out


def _single(svc, kind: str, plan: Plan, ceiling: float, *, quick: bool) -> list[Result]:
    driver = Driver(svc)
    for _ in range(10 if quick else 25):
        driver.play(plan)
    count = max(20, (60 if quick else 300) // plan.tasks)
    starts, completes = Stopwatch(), Stopwatch()
    t0 = time.perf_counter()
    for _ in range(count):
        with starts:
            instance_id = driver.start(plan)
        for step in plan.steps:
            task_id = driver.open_task(instance_id, step.element_id, step.org)
            with completes:
                driver.complete(task_id, step)
    elapsed = time.perf_counter() - t0
    per_s = count / elapsed
    label = f"{kind}.single.{plan.label}"
    goal = SQLITE_GOAL if (kind == "sqlite" and plan is ONE_TASK) else None
    return [
        result(f"{label}.instances_per_s", per_s, "inst/s", kind, ratio=per_s / ceiling,
               note=f"{plan.process}, 1 connection; {DURABILITY[kind]}"),
        result(f"{label}.ratio_to_ceiling", per_s / ceiling, "×ceiling", kind, goal=goal, ratio=per_s / ceiling),
        result(f"{label}.completions_per_s", per_s * plan.tasks, "tasks/s", kind, ratio=per_s / ceiling),
        result(f"{label}.start_p50", percentile(starts.samples, 50), "ms", kind),
        result(f"{label}.complete_p50", percentile(completes.samples, 50), "ms", kind),
        result(f"{label}.complete_p95", percentile(completes.samples, 95), "ms", kind),
    ]


# -- several processes on PostgreSQL --------------------------------------------------------------

def _worker(kind: str, plan: Plan, count: int, mode: str, barrier, queue) -> None:
    """Play ``count`` cases (mode "cycle") or complete ``count`` pre-started tasks (mode "complete")."""
    svc = open_bench_services(kind)
    try:
        driver = Driver(svc)
        for username in {plan.starter, *(s.username for s in plan.steps)}:
            driver.actor(username)
        driver.play(plan)  # warm the caches: spec, calendar, statement cache, pool
        pending = []
        if mode == "complete":
            step = plan.steps[0]
            pending = [driver.open_task(driver.start(plan), step.element_id) for _ in range(count)]
        barrier.wait()
        t0 = time.monotonic()
        if mode == "complete":
            for task_id in pending:
                driver.complete(task_id, plan.steps[0])
        else:
            for _ in range(count):
                driver.play(plan)
        queue.put((t0, time.monotonic(), None))
    except BaseException as exc:  # report, never hang the parent on the barrier
        barrier.abort()
        queue.put((0.0, 0.0, repr(exc)))
    finally:
        svc.dispose()


def _spread(kind: str, plan: Plan, count: int, mode: str, workers: int) -> float:
    """Run ``workers`` processes at once; return the wall seconds from the common start to the last end."""
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(kind, plan, count, mode, barrier, queue)) for _ in range(workers)]
    for p in procs:
        p.start()
    spans = []
    while len(spans) < workers:
        try:
            spans.append(queue.get(timeout=2))
        except Empty:
            if not any(p.is_alive() for p in procs):
                raise RuntimeError("bench workers died without reporting") from None
    for p in procs:
        p.join(timeout=60)
    errors = [e for _, _, e in spans if e]
    if errors:
        raise RuntimeError(f"bench worker failed: {errors[0]}")
    return max(t1 for _, t1, _ in spans) - min(t0 for t0, _, _ in spans)


def _concurrent(kind: str, plan: Plan, ceiling: float, *, quick: bool) -> list[Result]:
    per_worker = max(10, (40 if quick else 100) // plan.tasks)
    elapsed = _spread(kind, plan, per_worker, "cycle", PG_WORKERS)
    per_s = PG_WORKERS * per_worker / elapsed
    label = f"{kind}.concurrent{PG_WORKERS}.{plan.label}"
    return [
        result(f"{label}.instances_per_s", per_s, "inst/s", kind, ratio=per_s / ceiling,
               note=f"{plan.process}, {PG_WORKERS} processes, start + all tasks, one commit each"),
        result(f"{label}.completions_per_s", per_s * plan.tasks, "tasks/s", kind, goal=PG_COMPLETIONS_GOAL,
               ratio=per_s / ceiling),
    ]


def _completions_only(kind: str, *, quick: bool) -> list[Result]:
    per_worker = 50 if quick else 120
    elapsed = _spread(kind, ONE_TASK, per_worker, "complete", PG_WORKERS)
    per_s = PG_WORKERS * per_worker / elapsed
    return [result(f"{kind}.concurrent{PG_WORKERS}.complete_only.completions_per_s", per_s, "tasks/s", kind,
                   goal=PG_COMPLETIONS_GOAL,
                   note=f"{PG_WORKERS} processes completing pre-started one-task cases, nothing else")]
