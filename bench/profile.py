"""`python -m bench.profile`: where the time of the hottest path goes.

    python -m bench.profile inprocess --database sqlite   # pyinstrument around start + complete
    python -m bench.profile http --database postgresql    # py-spy on gunicorn's workers under load

Reports go to bench/results/profile-<what>-<database>.txt (git-ignored). The HTTP profile sums
py-spy's raw stacks into the share of samples each Pingan function (engine/, web/) is on the
stack for, and the library frames where the samples end.
"""
from __future__ import annotations

import argparse
import collections
from pathlib import Path
import subprocess
import sys
import threading
import time

from .common import CACHE, ONE_TASK, RESULTS, ROOT, Driver, open_bench_services, reset_database


def inprocess(kind: str, cases: int) -> str:
    from pyinstrument import Profiler

    svc = open_bench_services(kind)
    try:
        driver = Driver(svc)
        for _ in range(20):
            driver.play(ONE_TASK)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(cases):
            driver.play(ONE_TASK)
        profiler.stop()
    finally:
        svc.dispose()
    return profiler.output_text(unicode=True, color=False, show_all=False)


def http(kind: str, seconds: int) -> str:
    from . import http as web

    raw = CACHE / f"py-spy-{kind}.txt"
    with web.Server(kind) as server:
        client = web.login(server.port, ONE_TASK.starter)
        for _ in range(10):
            task_id, _ = web.start_case(client, ONE_TASK)
            web.complete(client, task_id, ONE_TASK)
        stop = threading.Event()

        def load():
            while not stop.is_set():
                task_id, _ = web.start_case(client, ONE_TASK)
                web.complete(client, task_id, ONE_TASK)
        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            subprocess.run([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.proc.pid), "--subprocesses",
                            "--duration", str(seconds), "--rate", "200", "--format", "raw", "--output", str(raw)],
                           check=True, capture_output=True)
        finally:
            stop.set()
            for t in threads:
                t.join()
    return summarize(raw.read_text())


def summarize(raw: str, top: int = 40) -> str:
    """Turn py-spy raw (collapsed) stacks into inclusive shares of Pingan functions and leaf shares.

    Only stacks inside a request (under Flask's wsgi_app) count: idle workers and the master are
    left out, so the shares are of the time spent serving.
    """
    ours_roots = ("engine/", "web/")  # py-spy shortens paths: ours are relative to the repository
    inclusive, leaves, total = collections.Counter(), collections.Counter(), 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if not any(f.split(" (")[0].endswith("wsgi_app") for f in frames):
            continue
        n = int(count)
        total += n
        seen = set()
        for f in frames:
            name, where = _split(f)
            where = where.removeprefix(str(ROOT) + "/")
            if where.startswith(ours_roots):
                key = f"{name} {where}"
            else:
                lib = where.split("/")[0].removesuffix(".py")
                key = f"[library] {lib}" if lib in LIBRARIES else None
            if key and key not in seen:
                seen.add(key)
                inclusive[key] += n
        name, where = _split(frames[-1])
        leaves[f"{name} {'/'.join(where.split('/')[-3:])}"] += n
    lines = [f"{total} samples inside requests", "", "share  on the stack (Pingan functions, libraries)"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "share  where the samples end (leaf frames)"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in leaves.most_common(top)]
    return "\n".join(lines)


LIBRARIES = ("sqlalchemy", "psycopg", "SpiffWorkflow", "flask", "werkzeug", "marshmallow", "flask_smorest",
             "jsonschema", "RestrictedPython", "argon2", "json", "copy", "sqlite3", "flask_login", "flask_wtf",
             "flask_babel", "babel", "jinja2")


def _split(frame: str) -> tuple[str, str]:
    """Return (function, file path) of a py-spy frame ``function (path:line)``."""
    name, _, inside = frame.partition(" (")
    return name, inside.rstrip(")").rpartition(":")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("inprocess", "http"))
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="profile against the existing bench database")
    args = parser.parse_args(argv)
    if not args.keep:
        reset_database(args.database)
    t0 = time.monotonic()
    report = inprocess(args.database, args.cases) if args.what == "inprocess" else http(args.database, args.seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{args.what}-{args.database}.txt"
    out.write_text(report, encoding="utf-8")
    print(report)
    print(f"\nwrote {out} in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
