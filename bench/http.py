"""Part 3, over HTTP: the JSON API behind gunicorn, and (part 6) the peak RSS of its workers.

Traffic goes to 127.0.0.1 only and every loop is bounded. Three runs: one client doing
start, to-do list and complete in turn (latency without contention); several clients completing
pre-started cases (throughput and latency under load); several clients playing whole cases.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import statements
from .common import (
    BENCH_AUDIT_KEY, BENCH_SECRET_KEY, CACHE, DURABILITY, ROOT, Plan, Result, at_least, at_most, database_url,
    percentile, result,
)

WORKERS = 4
CLIENTS = 6
LATENCY_GOAL = at_most(10.0)        # ms, completion p50
THROUGHPUT_GOAL = at_least(150.0)   # completions per second


class Client:
    """A tiny JSON client for 127.0.0.1 (gunicorn's sync workers close every connection)."""

    def __init__(self, port: int, token: str | None = None):
        self.port, self.token = port, token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        elapsed = (time.perf_counter() - t0) * 1000
        return response.status, (json.loads(raw) if raw else {}), elapsed

    def ok(self, method: str, path: str, body: dict | None = None) -> tuple[dict, float]:
        status, data, elapsed = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path} answered {status}: {str(data)[:300]}")
        return data, elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving web.app:create_app() on the bench database, watched for memory."""

    def __init__(self, kind: str, workers: int = WORKERS):
        self.kind, self.workers, self.port = kind, workers, free_port()
        self.peak_worker_rss = 0
        self.peak_master_rss = 0
        self._stop = threading.Event()

    def __enter__(self) -> Server:
        url, schema = database_url(self.kind)
        env = dict(os.environ, PINGAN_DATABASE_URL=url, PINGAN_DATABASE_SCHEMA=schema or "",
                   PINGAN_INSTANCE_PATH=str(CACHE / "instance"), PINGAN_TIMER_MODE="off",
                   PINGAN_SECRET_KEY=BENCH_SECRET_KEY, PINGAN_AUDIT_KEY=BENCH_AUDIT_KEY)
        self.log = open(CACHE / f"gunicorn-{self.kind}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}",
             "--timeout", "120", "--log-level", "warning", "web.app:create_app()"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = Client(self.port).call("GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"gunicorn did not come up; see {self.log.name}")
            time.sleep(0.2)
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        import psutil

        master = psutil.Process(self.proc.pid)
        while not self._stop.is_set():
            try:
                self.peak_master_rss = max(self.peak_master_rss, master.memory_info().rss)
                for child in master.children():
                    self.peak_worker_rss = max(self.peak_worker_rss, child.memory_info().rss)
            except psutil.Error:
                pass
            self._stop.wait(0.1)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def login(port: int, username: str) -> Client:
    from engine.org.demo import DEMO_PASSWORD

    data, _ = Client(port).ok("POST", "/api/v1/auth/token",
                              {"username": username, "password": DEMO_PASSWORD, "label": "bench"})
    return Client(port, data["token"])


def start_case(client: Client, plan: Plan) -> tuple[str, float]:
    """Start a case over the API; return its first open task id and the latency."""
    data, elapsed = client.ok("POST", "/api/v1/instances", {"process": plan.process, "data": plan.start_data})
    tasks = data.get("open_tasks") or []
    if not tasks:
        raise RuntimeError(f"the started case has no open task: {str(data)[:300]}")
    return tasks[0]["id"], elapsed


def complete(client: Client, task_id: str, plan: Plan) -> float:
    _, elapsed = client.ok("POST", f"/api/v1/tasks/{task_id}/complete", {"data": plan.steps[0].data})
    return elapsed


def run(*, kind: str, plan: Plan, quick: bool) -> list[Result]:
    """Serve the API with gunicorn and measure latency, throughput and worker memory."""
    if plan.tasks != 1 or plan.starter != plan.steps[0].username:
        raise ValueError("the HTTP benchmark plays a one-task case started and completed by one user")
    sequential = 30 if quick else 100
    per_client = 15 if quick else 40
    out: list[Result] = statements.http_results(kind, plan)
    label = f"{kind}.http"
    with Server(kind) as server:
        client = login(server.port, plan.starter)
        for _ in range(10):  # warm every worker: imports, spec cache, calendar, statement caches
            task_id, _ = start_case(client, plan)
            complete(client, task_id, plan)
        starts, completes, todos = [], [], []
        for _ in range(sequential):
            task_id, ms = start_case(client, plan)
            starts.append(ms)
            _, ms = client.ok("GET", "/api/v1/tasks?view=todo")
            todos.append(ms)
            completes.append(complete(client, task_id, plan))
        note = f"1 client, {WORKERS} gunicorn sync workers; {DURABILITY[kind]}"
        for name, samples in (("start", starts), ("complete", completes), ("todo_list", todos)):
            for p in (50, 95, 99):
                goal = LATENCY_GOAL if (name == "complete" and p == 50) else None
                out.append(result(f"{label}.{name}_p{p}", percentile(samples, p), "ms", kind, goal=goal,
                                  note=note if p == 50 else ""))

        # Several clients completing cases started beforehand: the completion rate on its own.
        with ThreadPoolExecutor(CLIENTS) as pool:
            pending = list(pool.map(lambda _: start_case(client, plan)[0], range(CLIENTS * per_client)))
        chunks = [pending[i::CLIENTS] for i in range(CLIENTS)]
        loaded: list[float] = []
        t0 = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            for samples in pool.map(lambda ids: [complete(client, t, plan) for t in ids], chunks):
                loaded += samples
        elapsed = time.perf_counter() - t0
        out.append(result(f"{label}.concurrent{CLIENTS}.completions_per_s", len(loaded) / elapsed, "tasks/s", kind,
                          goal=THROUGHPUT_GOAL, note=f"{CLIENTS} clients completing pre-started cases"))
        out.append(result(f"{label}.concurrent{CLIENTS}.complete_p50", percentile(loaded, 50), "ms", kind,
                          goal=LATENCY_GOAL))
        out.append(result(f"{label}.concurrent{CLIENTS}.complete_p95", percentile(loaded, 95), "ms", kind))
        out.append(result(f"{label}.concurrent{CLIENTS}.complete_p99", percentile(loaded, 99), "ms", kind))

        # Several clients playing whole cases: start, then complete.
        def cycle(_):
            for _ in range(per_client // 2):
                task_id, _ = start_case(client, plan)
                complete(client, task_id, plan)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(cycle, range(CLIENTS)))
        elapsed = time.perf_counter() - t0
        cases = CLIENTS * (per_client // 2)
        out.append(result(f"{label}.concurrent{CLIENTS}.cycle_instances_per_s", cases / elapsed, "inst/s", kind,
                          note="start + complete over HTTP"))
    out.append(result(f"{label}.web_worker_peak_rss", server.peak_worker_rss / 2**20, "MiB", kind,
                      note=f"largest of {WORKERS} gunicorn workers under the load above (psutil)"))
    out.append(result(f"{label}.gunicorn_master_peak_rss", server.peak_master_rss / 2**20, "MiB", kind))
    return out
