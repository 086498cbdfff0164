"""What the web process and a script worker say to each other, and how each side trusts it.

Messages are pickles over a pipe. The worker trusts the parent. The parent does not trust the
worker, which runs hostile code: if a script ever escaped the sandbox there, a crafted pickle
must not become code execution in the parent. So the parent unpickles with an allow-list of the
types task data may hold (date, datetime, time, timedelta, timezone, Decimal, sets) and caps the
message size; exceptions travel as plain fields and are rebuilt from an allow-list of classes.
"""
from __future__ import annotations

import builtins
import decimal
import io
import pickle
import re
from functools import lru_cache

from .size_guards import SandboxViolation, ScriptTimeout

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # task data is capped far below this (size_guards.MAX_DATA_SIZE)

_DATA_CLASSES = {
    ("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("decimal", "Decimal"), ("zoneinfo", "ZoneInfo._unpickle"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "bytearray"),
    ("builtins", "range"), ("builtins", "slice"),
}


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _DATA_CLASSES:
            raise SandboxViolation(f"脚本的结果包含不能保存为数据的值（{module}.{name}）",
                                   f"the script's result holds a value that is not data ({module}.{name})")
        return super().find_class(module, name)


def dumps(message) -> bytes:
    """Pickle a message; the receiver decides how far to trust it."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def loads_trusted(data: bytes):
    """Unpickle a message from the parent (worker side)."""
    return pickle.loads(data)


def loads_data(data: bytes):
    """Unpickle a message from a worker, admitting only task data types (parent side)."""
    return _DataUnpickler(io.BytesIO(data)).load()


def error_fields(exc: BaseException, line: int | None = None, token: int | None = None) -> dict:
    """Describe an exception as plain fields that rebuild_error() can turn back into one."""
    cls = type(exc)
    return {"module": cls.__module__, "name": cls.__qualname__, "line": line, "token": token,
            "args": tuple(a if isinstance(a, (str, int, float, bool, type(None))) else str(a) for a in exc.args),
            "message": getattr(exc, "message", None), "message_en": getattr(exc, "message_en", None),
            "violation": "timeout" if isinstance(exc, ScriptTimeout) else
                         "violation" if isinstance(exc, SandboxViolation) else None}


_MODULES = {"decimal": decimal, "re": re}


def rebuild_error(fields: dict) -> BaseException:
    """Return an exception of the same class (or its nearest allowed base) with the same message."""
    if fields.get("violation"):
        cls = ScriptTimeout if fields["violation"] == "timeout" else SandboxViolation
        return cls(str(fields.get("message") or ""), str(fields.get("message_en") or ""))
    module, name, args = fields.get("module"), fields.get("name"), tuple(fields.get("args") or ())
    cls = getattr(builtins if module == "builtins" else _MODULES.get(module), str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        # Not one we rebuild (a helper's EngineError, say): keep its text under a plain class.
        cls, args = RuntimeError, (f"{name}: {' '.join(map(str, args))}",)
    for attempt in (args, tuple(map(str, args[:1]))):
        try:
            return cls(*attempt)
        except Exception:  # a class with a richer constructor (UnicodeDecodeError)
            continue
    return RuntimeError(f"{name}: {' '.join(map(str, args))}")


@lru_cache(maxsize=256)
def _raiser(line: int):
    # SpiffWorkflow finds a script's failing line in the traceback frame named "<string>".
    return compile("\n" * (line - 1) + "raise error", "<string>", "exec")


def raise_at_line(error: BaseException, line: int | None):
    """Raise ``error`` from a frame that reports ``line`` of the script, as if it ran here."""
    if not line or line < 1:
        raise error
    exec(_raiser(line), {"error": error})
