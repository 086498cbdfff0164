"""Part 6 (Celery half): the peak RSS of a Celery worker while it fires a batch of due timers.

The web worker's peak RSS is measured by bench/http.py under its load. Here a worker
(prefork, two processes, its own queue on its own Redis database) gets sweep tasks whose
``now`` lies past the due time of waiting `bench_timer` cases, so it loads, advances and stores
each of them: real engine work, not an idle process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from .common import CACHE, ROOT, Driver, Plan, Result, database_url, open_bench_services, result

BROKER = os.environ.get("PINGAN_BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
QUEUE = "pingan-bench"
TIMER_CASE = Plan(label="timer", process="bench_timer", starter="li.sl", start_data={"subject": "定时"}, steps=())


def run(*, databases: tuple[str, ...], quick: bool) -> list[Result]:
    """Measure a Celery worker on PostgreSQL (scaled mode), or SQLite when only that was asked."""
    if importlib_missing("worker.tasks"):
        return []
    kind = "postgresql" if "postgresql" in databases else databases[0]
    cases = 100 if quick else 400
    svc = open_bench_services(kind)
    try:
        driver = Driver(svc)
        ids = [driver.start(TIMER_CASE) for _ in range(cases)]
        peak, fired, seconds = _fire_in_worker(kind, svc, ids)
    finally:
        svc.dispose()
    if fired < cases:
        # The peak of a worker that did no work says nothing: fail the part, do not report it.
        raise RuntimeError(f"the Celery worker fired {fired} of {cases} timers in {seconds:.0f} s; "
                           f"see {CACHE / f'celery-{kind}.log'}")
    return [
        result(f"{kind}.celery.worker_peak_rss", peak / 2**20, "MiB", kind,
               note=f"largest Celery process (prefork, concurrency 2) while firing {fired} of {cases} timers "
                    f"in {seconds:.1f} s (psutil)"),
    ]


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _waiting(svc, ids: list[int]) -> int:
    from engine.store.models import EventWait

    with svc.session() as s:
        return s.scalar(select(func.count()).select_from(EventWait).where(EventWait.instance_id.in_(ids))) or 0


def _fire_in_worker(kind: str, svc, ids: list[int]) -> tuple[int, int, float]:
    import psutil
    from celery import Celery

    from engine import clock

    url, schema = database_url(kind)
    # Development mode as in bench/timers.py: the bench database's history is signed with the public
    # default audit key, which a worker refuses otherwise (and then fires nothing).
    env = dict(os.environ, PINGAN_DATABASE_URL=url, PINGAN_DATABASE_SCHEMA=schema or "", PINGAN_BROKER_URL=BROKER,
               PINGAN_CELERY_QUEUE=QUEUE, PINGAN_INSTANCE_PATH=str(CACHE / "instance"), PINGAN_TIMER_MODE="celery",
               PINGAN_DEVELOPMENT="1")
    log = open(CACHE / f"celery-{kind}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--pool", "prefork",
                             "--concurrency", "2", "-Q", QUEUE, "--loglevel", "WARNING", "--without-gossip",
                             "--without-mingle", "--without-heartbeat"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    peak = [0]
    stop = threading.Event()

    def watch():
        main = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                for p in [main, *main.children(recursive=True)]:
                    peak[0] = max(peak[0], p.memory_info().rss)
            except psutil.Error:
                pass
            stop.wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    sender = Celery("pingan-bench", broker=BROKER)
    before = _waiting(svc, ids)
    t0 = time.monotonic()
    try:
        later = (clock.now() + timedelta(hours=2)).isoformat()
        deadline = t0 + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the Celery worker exited; see {log.name}")
            sender.send_task("pingan.sweep_timers", kwargs={"now": later}, queue=QUEUE)
            time.sleep(1.0)
            if _waiting(svc, ids) == 0:
                break
        seconds = time.monotonic() - t0
        fired = before - _waiting(svc, ids)
    finally:
        stop.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        sender.close()
    return peak[0], fired, seconds
