"""`python -m bench`: measure Pingan against the engine's own limit and print every goal beside its figure."""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
import traceback
from datetime import datetime

from .common import (
    DATABASES, ONE_TASK, REVIEW, RESULTS, Driver, Plan, Result, machine, multi_step_plan, open_bench_services,
    reset_database, result,
)

PARTS = ("ceiling", "throughput", "instructions", "long", "case_size", "http", "scale", "timers", "celery", "studio",
         "warnings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="fewer iterations: a smoke run, not a measurement")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    databases = DATABASES if args.database == "both" else (args.database,)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    started, load_before = time.monotonic(), os.getloadavg()
    print(f"Pingan bench on {machine()}; load average {load_before[0]:.2f}", flush=True)
    if load_before[0] > 1.0:
        print("  warning: the machine is busy; figures will be low and noisy", flush=True)
    results: list[Result] = []
    failures: list[str] = []

    def attempt(label: str, fn):
        t0 = time.monotonic()
        print(f"-- {label} ...", flush=True)
        try:
            got = fn() or []
            results.extend(got)
            print(f"   {len(got)} figures in {time.monotonic() - t0:.0f} s", flush=True)
        except Exception as exc:  # one broken part must not lose the others' figures
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            traceback.print_exc()

    from engine.org.calendar import WorkCalendar

    ceilings: dict[str, float] = {}
    plans = [ONE_TASK, choose_multi_step(databases[0], failures)]
    if parts & {"ceiling", "throughput"}:
        from . import ceiling

        def run_ceiling():
            got, found = ceiling.run(plans=plans, calendar=WorkCalendar(), quick=args.quick)
            ceilings.update(found)
            return got
        attempt("engine ceiling (in memory)", run_ceiling)

    for kind in databases:
        reset_database(kind)
        if "throughput" in parts and ceilings:
            from . import throughput
            attempt(f"persisted throughput on {kind}",
                    lambda: throughput.run(kind=kind, plans=plans, ceilings=ceilings, quick=args.quick))
        if "instructions" in parts:
            from . import instructions
            attempt(f"instructions per operation (callgrind) on {kind}",
                    lambda: instructions.run(kind=kind, plans=plans, quick=args.quick))
        if "long" in parts:
            from . import long_cases
            attempt(f"long cases on {kind}", lambda: long_cases.run(kind=kind, quick=args.quick))
        if "case_size" in parts:
            from . import case_size
            attempt(f"case size (N parallel tasks in one case) on {kind}",
                    lambda: case_size.run(kind=kind, quick=args.quick))
        if "http" in parts:
            from . import http
            attempt(f"HTTP API with gunicorn on {kind}", lambda: http.run(kind=kind, plan=ONE_TASK, quick=args.quick))
        if "timers" in parts and importlib.util.find_spec("bench.timers"):
            attempt(f"timers on {kind}", lambda: run_timers(kind, args.quick))
        if "studio" in parts:
            from . import studio
            attempt(f"studio validation round trip on {kind}", lambda: studio.run(kind=kind, quick=args.quick))
    if "scale" in parts and "postgresql" in databases:
        from . import scale
        attempt("at scale on PostgreSQL", lambda: scale.run(quick=args.quick))
    if "warnings" in parts and "postgresql" in databases:
        from . import warnings_scale
        attempt("warning evaluation at scale on PostgreSQL", lambda: warnings_scale.run(quick=args.quick))
    if "celery" in parts:
        from . import memory
        attempt("Celery worker memory", lambda: memory.run(databases=databases, quick=args.quick))

    elapsed = time.monotonic() - started
    results.append(result("bench.wall_seconds", elapsed, "s", "-", note=f"load average before {load_before[0]:.2f}, "
                          f"after {os.getloadavg()[0]:.2f}"))
    print_table(results)
    for failure in failures:
        print(f"FAILED {failure}")
    write(results, quick=args.quick)
    return 1 if failures else 0


def choose_multi_step(kind: str, failures: list[str]) -> Plan:
    """Use the mediation process when it plays through on this build; say why when it does not."""
    plan = multi_step_plan()
    if plan is REVIEW:
        return plan
    try:
        reset_database(kind)
        svc = open_bench_services(kind)
        try:
            from engine.store.models import Instance

            instance_id = Driver(svc).play(plan)
            with svc.session() as s:
                status = s.get(Instance, instance_id).status
            if status == "error":
                raise RuntimeError("the case went into error")
        finally:
            svc.dispose()
        return plan
    except Exception as exc:
        failures.append(f"{plan.process} does not play through ({type(exc).__name__}: {exc}); "
                        f"the multi-step figures use the fixture `review` instead")
        return REVIEW


def run_timers(kind: str, quick: bool) -> list[Result]:
    """Run the timers engineer's benchmark and adopt its records."""
    from . import timers
    from .common import database_url

    url, _schema = database_url(kind)
    out = []
    for rec in timers.run(database_url=url, quick=quick):
        out.append(Result(name=rec["name"], value=rec["value"], unit=rec.get("unit", ""),
                          database=rec.get("database", kind), goal=rec.get("goal"), met=rec.get("met"),
                          ratio=rec.get("ratio"), note=rec.get("note", "")))
    return out


def print_table(results: list[Result]) -> None:
    rows = [("name", "database", "value", "unit", "goal", "met", "×ceiling")]
    for r in results:
        met = "" if r.met is None else ("met" if r.met else "MISSED")
        rows.append((r.name, r.database, _fmt(r.value), r.unit, r.goal or "", met,
                     "" if r.ratio is None else f"{r.ratio:.3f}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    print()
    for i, row in enumerate(rows):
        print("  ".join(str(c).rjust(w) if j == 2 else str(c).ljust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    missed = [r for r in results if r.met is False]
    print(f"\n{sum(1 for r in results if r.met)} goals met, {len(missed)} missed")


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int):  # a count (statements), never "12.0"
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def write(results: list[Result], *, quick: bool) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    records = [r.as_dict() | {"quick": quick} for r in results]
    text = json.dumps(records, ensure_ascii=False, indent=1, allow_nan=True)
    (RESULTS / "latest.json").write_text(text, encoding="utf-8")
    (RESULTS / f"{datetime.now():%Y-%m-%d-%H%M%S}.json").write_text(text, encoding="utf-8")
    print(f"wrote {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    sys.exit(main())
