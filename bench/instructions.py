"""Part "instructions": the client's CPU instructions per start and per completion, counted by callgrind.

Timings on a shared 2-core VM swing by a third from one minute to the next; instruction counts do
not (the same run twice agrees to 0.1 %), so a change of a few per cent shows here when no timed
figure can show it. The plans are played in a child process under ``valgrind --tool=callgrind``
with counting off; the child switches it on (``callgrind_control -i on``) around the operations
measured only, in batches: a plan's starts, then each step's completions of all its cases (the
task lookups between steps are not counted). The in-memory cases (SpiffWorkflow alone, as the
ceiling part plays them) are counted the same way, so the ratio of the two is this run's own.

Python's start under valgrind takes about ten seconds, so one child plays every plan on a
database, and the in-memory child (the same on every database, run once) runs beside the first
database's: it touches no database, so neither disturbs what the other counts.

What is counted is the Python process only: the database server's CPU (PostgreSQL) and waiting
are not in it. SQLite runs in the process, so its figures include SQLite's own work.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .common import ONE_TASK, ROOT, Plan, Result, result

# Counts repeat to 0.1 %, so a few cases suffice; valgrind runs Python some 50 times slower.
CASES = {"one_task": 10, "multi_step": 3}
QUICK_CASES = {"one_task": 4, "multi_step": 2}
# Cases played first: psycopg prepares a statement at its fifth execution, and a mediation case
# runs most of its statements more than once.
WARM_UP = {"one_task": 6, "multi_step": 5}
_MEMORY: dict[tuple[str, int], int] = {}  # the in-memory counts, the same on every database


def run(*, kind: str, plans: list[Plan], quick: bool) -> list[Result]:
    """Count instructions for each plan on ``kind``; no records (and a note why) without valgrind."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("   valgrind is not installed: no instruction counts (apt-get install valgrind)", flush=True)
        return []
    table = QUICK_CASES if quick else CASES
    cases = {plan.label: table.get(plan.label, 3) for plan in plans}
    to_count = {label: n for label, n in cases.items() if (label, n) not in _MEMORY}
    with ThreadPoolExecutor(max_workers=2) as pool:
        memory = pool.submit(_count, kind, to_count, "memory") if to_count else None
        persisted = _count(kind, cases, "persisted")
        if memory is not None:
            for (label, batch), total in memory.result().items():
                _MEMORY[label, cases[label]] = total
    out = []
    for plan in plans:
        n = cases[plan.label]
        per_start = persisted[plan.label, "start"] / n
        per_completion = persisted[plan.label, "complete"] / (n * plan.tasks)
        per_case = per_start + per_completion * plan.tasks
        per_memory_case = _MEMORY[plan.label, n] / n
        label = f"{kind}.instructions.{plan.label}"
        note = f"{plan.process}, client process only, callgrind, {n} cases"
        out += [
            result(f"{label}.start", per_start / 1e6, "M instr", kind, note=note),
            result(f"{label}.completion", per_completion / 1e6, "M instr", kind, note=note),
            result(f"{label}.case", per_case / 1e6, "M instr", kind,
                   note=f"start + {plan.tasks} completion(s), task lookups not counted"),
            result(f"{label}.memory_case", per_memory_case / 1e6, "M instr", kind,
                   note="the same case by SpiffWorkflow alone in memory (the ceiling)"),
            result(f"{label}.memory_over_persisted", per_memory_case / per_case, "×", kind,
                   ratio=per_memory_case / per_case,
                   note="in-memory case ÷ persisted case, instructions of the client process"),
        ]
    return out


def _count(kind: str, cases: dict[str, int], mode: str) -> dict[tuple[str, str], int]:
    """Run a child under callgrind; return the instructions of each (plan, batch kind) it counted."""
    counts: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory(prefix="pingan-callgrind-") as tmp:
        out_file = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict and set orders in every run
        plans = ",".join(f"{label}={n}" for label, n in cases.items())
        # Each batch is a dump of its own: callgrind_control -d names it.
        child = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
             sys.executable, "-m", "bench.instructions", kind, mode, plans],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if child.returncode:
            raise RuntimeError(f"the {mode} child ({plans}) failed: {child.stderr[-2000:]}")
        batches = [_read(path) for path in Path(tmp).glob("callgrind.out*")]
    # What switching counting off costs (a subprocess started while counting): an empty batch.
    empty = next((total for name, total in batches if name == "empty"), 0)
    for name, total in batches:
        label, _, batch = (name or "").partition(":")
        if batch in ("start", "complete", "memory"):
            counts[label, batch] = counts.get((label, batch), 0) + total - empty
    wanted = ("memory",) if mode == "memory" else ("start", "complete")
    missing = [f"{batch} of {label}" for label in cases for batch in wanted if (label, batch) not in counts]
    if missing:
        raise RuntimeError(f"callgrind counted no {', '.join(missing)}")
    return counts


def _read(path: Path) -> tuple[str | None, int]:
    """The batch a callgrind dump belongs to (the reason ``_switch`` gave) and its instruction total."""
    name, total = None, 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("desc: Trigger: dump "):
                name = line.removeprefix("desc: Trigger: dump ").strip()
            elif line.startswith("totals:"):
                total = int(line.split()[1])
    return name, total


# -- the child ----------------------------------------------------------------------------------

def _switch(on: bool, dump: str | None = None) -> None:
    pid = str(os.getpid())
    if dump:
        subprocess.run(["callgrind_control", "-d", dump, pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", pid], check=True, capture_output=True)


def _child(kind: str, mode: str, cases: dict[str, int]) -> None:
    from .common import multi_step_plan

    _switch(True, dump="before")
    _switch(False, dump="empty")
    plans = [p for p in (ONE_TASK, multi_step_plan()) if p.label in cases]
    if mode == "memory":
        _play_in_memory(plans, cases)
    else:
        _play_persisted(kind, plans, cases)


def _play_in_memory(plans: list[Plan], cases: dict[str, int]) -> None:
    from engine.definitions.scripting import build_script_engine, use_calendar
    from engine.org.calendar import WorkCalendar

    from .ceiling import play_in_memory, prepared

    calendar = WorkCalendar()
    engine = build_script_engine(calendar=lambda: calendar)
    with use_calendar(calendar):
        for plan in plans:
            spec, subs, cleaned = prepared(plan, engine)
            for _ in range(WARM_UP.get(plan.label, 5)):
                play_in_memory(spec, subs, engine, cleaned)
            _switch(True, dump=f"{plan.label}:warm-up")
            for _ in range(cases[plan.label]):
                play_in_memory(spec, subs, engine, cleaned)
            _switch(False, dump=f"{plan.label}:memory")


def _play_persisted(kind: str, plans: list[Plan], cases: dict[str, int]) -> None:
    from .common import Driver, open_bench_services

    svc = open_bench_services(kind)
    try:
        driver = Driver(svc)
        for plan in plans:
            for _ in range(WARM_UP.get(plan.label, 5)):
                driver.play(plan)
            _switch(True, dump=f"{plan.label}:warm-up")
            ids = [driver.start(plan) for _ in range(cases[plan.label])]
            _switch(False, dump=f"{plan.label}:start")
            for step in plan.steps:
                tasks = [driver.open_task(i, step.element_id, step.org) for i in ids]
                _switch(True, dump=f"{plan.label}:lookup")
                for task_id in tasks:
                    driver.complete(task_id, step)
                _switch(False, dump=f"{plan.label}:complete")
    finally:
        svc.dispose()


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], {label: int(n) for label, _, n in
                                      (part.partition("=") for part in sys.argv[3].split(","))})
