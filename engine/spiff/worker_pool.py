"""Run a script in a pre-started worker process and kill it when it runs past its time limit.

One pool per process (re-made after a fork, so a Celery child never shares its parent's
workers). A thread takes a worker for one job and gives it back; if none is idle it starts one,
so a runaway script never makes another request wait for a worker. The caller's thread waits on
the pipe (no GIL held) and runs helper calls the worker sends back, with the caller's clock and
calendar. Past the time limit it kills the worker and starts a replacement in the background.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from .size_guards import SandboxViolation, ScriptTimeout
from .worker_protocol import MAX_MESSAGE_BYTES, dumps, error_fields, loads_data, raise_at_line, rebuild_error

IDLE_WORKERS = 2          # kept started and waiting
STARTUP_TIMEOUT = 60.0    # a busy machine may take seconds to import the sandbox
KILL_GRACE = 0.1          # let the worker's own budget report a Python-level timeout first
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class _Worker:
    def __init__(self):
        to_child, child_in = os.pipe()[::-1]
        child_out, from_child = os.pipe()[::-1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.spiff.script_worker", str(child_in), str(child_out)],
            pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        os.close(child_in)
        os.close(child_out)
        self.send_conn = Connection(to_child, readable=False)
        self.recv_conn = Connection(from_child, writable=False)
        self.ready = False

    def send(self, message) -> None:
        self.send_conn.send_bytes(dumps(message))

    def send_bytes(self, payload: bytes) -> None:
        self.send_conn.send_bytes(payload)

    def receive(self, timeout: float):
        """Return the next message, or None if none came within ``timeout`` seconds."""
        if not self.recv_conn.poll(max(timeout, 0)):
            return None
        return loads_data(self.recv_conn.recv_bytes(MAX_MESSAGE_BYTES))

    def wait_ready(self) -> None:
        if not self.ready:
            message = self.receive(STARTUP_TIMEOUT)
            if message != ("ready",):
                self.kill()
                raise SandboxViolation("脚本执行进程无法启动", "the script worker did not start")
            self.ready = True

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.close()

    def close(self) -> None:
        for conn in (self.send_conn, self.recv_conn):
            conn.close()


class WorkerPool:
    """Idle script workers of this process."""

    def __init__(self, idle: int = IDLE_WORKERS):
        self.pid, self.size, self.idle, self.lock = os.getpid(), idle, [], threading.Lock()

    def prestart(self) -> None:
        """Start workers until ``size`` are idle (they import in the background)."""
        with self.lock:
            while len(self.idle) < self.size:
                self.idle.append(_Worker())

    def take(self) -> _Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.process.poll() is None:
                    return worker
                worker.close()  # killed from outside while idle
        return _Worker()

    def give_back(self, worker: _Worker) -> None:
        with self.lock:
            if len(self.idle) < self.size and worker.process.returncode is None and worker.process.poll() is None:
                self.idle.append(worker)
                return
        worker.kill()

    def shutdown(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
        for worker in workers:
            worker.kill()

    def run(self, mode: str, source: str, context: dict, external: dict, helpers: dict, time_limit: float):
        """Run one job in a worker; return its value (eval) or the script's variables (exec)."""
        callables = {k: v for k, v in helpers.items() if callable(v)}
        constants = {k: v for k, v in helpers.items() if not callable(v)}
        try:
            job = dumps(("job", mode, source, context, external, sorted(callables), constants, time_limit))
        except Exception as exc:
            raise SandboxViolation(f"任务数据包含不能传给脚本的值：{exc}", f"task data holds a value scripts cannot get: {exc}") from exc
        worker = self.take()
        try:
            worker.wait_ready()
            worker.send_bytes(job)
            value, error, line = self._converse(worker, callables, time_limit)
        except BaseException:
            worker.kill()
            threading.Thread(target=self.prestart, daemon=True).start()  # the next request finds one ready
            raise
        self.give_back(worker)
        if error is not None:
            raise_at_line(error, line)
        return value

    def _converse(self, worker: _Worker, callables: dict, time_limit: float):
        deadline = time.monotonic() + time_limit + KILL_GRACE
        raised: dict[int, BaseException] = {}  # helper exceptions, re-raised as the very object
        while True:
            try:
                message = worker.receive(deadline - time.monotonic())
            except EOFError:
                raise self._died(worker, time_limit) from None
            if message is None:
                raise ScriptTimeout.after(time_limit)
            kind = message[0]
            if kind == "done":
                return message[1], None, None
            if kind == "fail":
                fields = message[1]
                if fields.get("retire"):
                    worker.kill()  # it is exiting (after running out of memory); do not reuse it
                return None, raised.get(fields.get("token")) or rebuild_error(fields), fields.get("line")
            if kind != "call" or message[1] not in callables:
                raise SandboxViolation("脚本执行进程发来无法识别的消息", "the script worker sent an unknown message")
            _, name, args, kwargs = message
            try:
                worker.send(("return", callables[name](*args, **kwargs)))
            except Exception as exc:
                raised[id(exc)] = exc
                worker.send(("raise", error_fields(exc, token=id(exc))))

    @staticmethod
    def _died(worker: _Worker, time_limit: float) -> SandboxViolation:
        code = worker.process.wait()
        if code == -signal.SIGXCPU:
            return ScriptTimeout.after(time_limit)
        return SandboxViolation(f"脚本执行进程意外退出（退出码 {code}）", f"the script worker exited unexpectedly ({code})")


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def pool() -> WorkerPool:
    """Return this process's pool (a new one after a fork: the parent's workers are not ours)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = WorkerPool()
        return _pool


@atexit.register
def _shutdown() -> None:
    if _pool is not None and _pool.pid == os.getpid():
        _pool.shutdown()
