"""The script worker: a child process that runs sandboxed scripts under OS limits.

Started by `engine/spiff/worker_pool.py` as ``python -m engine.spiff.script_worker READ_FD WRITE_FD``.
Before its first job it caps its own address space (RLIMIT_AS: the size after start-up plus the
memory limit), forbids writing files (RLIMIT_FSIZE 0) and core dumps; before each job it moves
its CPU-time limit (RLIMIT_CPU) to the job's allowance, a backstop should the parent fail to
kill it on the wall-clock limit. A script still runs under the full sandbox here: the process
boundary is for time and memory, not instead of the sandbox.

Helpers (workdays, now, ...) are not run here: each call goes back to the parent, which runs
the real helper with its clock and working-day calendar, so a frozen test clock and the
calendar of the current step apply exactly as they do in-process.
"""
from __future__ import annotations

import math
import os
import sys
import traceback
from multiprocessing.connection import Connection

from .sandbox import MEMORY_LIMIT_MB, SandboxEnvironment
from .size_guards import MAX_DATA_SIZE, SandboxViolation, check_size, memory_exceeded, size_of
from .worker_protocol import dumps, error_fields, loads_trusted, rebuild_error

try:
    import resource
except ImportError:  # pragma: no cover - the pool only starts workers where resource exists
    resource = None


def _limit_self() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        with open("/proc/self/statm") as statm:  # first field: virtual size in pages
            virtual = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no /proc (macOS, which ignores RLIMIT_AS anyway): the RSS check and the kill remain
        return
    ceiling = virtual + MEMORY_LIMIT_MB * 1024 * 1024
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))


def _allow_cpu(seconds: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    # Soft limit only (SIGXCPU ends the process); the hard limit stays open so the next job can
    # move it again.
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + seconds) + 1, resource.RLIM_INFINITY))


class _Parent:
    def __init__(self, incoming: Connection, outgoing: Connection):
        self.incoming, self.outgoing = incoming, outgoing

    def send(self, message) -> None:
        self.outgoing.send_bytes(dumps(message))

    def receive(self):
        return loads_trusted(self.incoming.recv_bytes())

    def helper(self, name: str):
        def call(*args, **kwargs):
            self.send(("call", name, args, kwargs))
            kind, value = self.receive()
            if kind == "return":
                return value
            error = rebuild_error(value)
            error.pingan_token = value.get("token")  # the parent re-raises its own exception object
            raise error
        call.__name__ = name
        return call


def _script_line(exc: BaseException) -> int | None:
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "<string>"]
    return lines[-1] if lines else None


def _result(mode: str, env: SandboxEnvironment, source: str, context: dict, external: dict):
    if mode == "exec":
        env.execute(source, context, external)
        return context
    return env.evaluate(source, context, external)


def _pickled_reply(mode: str, result) -> bytes:
    try:
        return dumps(("done", result))
    except Exception:
        pass
    for key, value in result.items() if mode == "exec" else [(None, result)]:
        try:
            dumps(value)
        except Exception:
            kind = type(value).__name__
            if key is None:
                raise SandboxViolation(f"表达式的结果（{kind}）不是可以保存的数据",
                                       f"the expression's result ({kind}) is not data") from None
            raise SandboxViolation(f"脚本留下的变量 '{key}'（{kind}）不是可以保存的数据",
                                   f"variable '{key}' ({kind}) left by the script is not data") from None
    raise SandboxViolation("脚本的结果不是可以保存的数据", "the script's result is not data")


def serve(parent: _Parent) -> None:
    """Answer jobs until the parent closes the pipe."""
    parent.send(("ready",))
    while True:
        try:
            _, mode, source, context, external, helper_names, constants, time_limit = parent.receive()
        except EOFError:
            return
        _allow_cpu(time_limit)
        helpers = {**constants, **{name: parent.helper(name) for name in helper_names}}
        env = SandboxEnvironment(helpers, time_limit, isolated=False)
        retire, result = False, None
        try:
            result = _result(mode, env, source, context, external)
            check_size(size_of(result, MAX_DATA_SIZE), MAX_DATA_SIZE)
            reply = _pickled_reply(mode, result)
        except MemoryError:
            # The big values are gone with the script's frames; start afresh all the same.
            reply, retire = dumps(("fail", {**error_fields(memory_exceeded(MEMORY_LIMIT_MB)), "retire": True})), True
        except Exception as exc:
            reply = dumps(("fail", error_fields(exc, _script_line(exc), getattr(exc, "pingan_token", None))))
        finally:
            env = helpers = result = context = None
        parent.outgoing.send_bytes(reply)
        if retire:
            return


def main(argv: list[str]) -> None:
    incoming, outgoing = Connection(int(argv[1]), writable=False), Connection(int(argv[2]), readable=False)
    # Nothing a script or library prints may reach the pipes: stdout goes nowhere.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    _limit_self()
    serve(_Parent(incoming, outgoing))


if __name__ == "__main__":
    main(sys.argv)
