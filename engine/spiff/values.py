"""Every value a script can leave in task data, stored: exactly in the state, readably in JSON.

The sandbox lets scripts build dates, times, durations, decimals, sets, tuples, bytes and dicts
with non-text keys; none of these is JSON. Two forms are kept:

* the workflow state (``Runner.dump``) keeps the Python type, as a tagged dict the serializer's
  registry restores (``{"typename": "pingan.decimal", "value": "1.10"}``), so a script that runs
  after a save and restore sees the same ``Decimal`` (or tuple, or ``date``) it left;
* the case-data snapshot (``Runner.data``: ``instances.data``, case fields, summaries) holds a
  JSON-friendly form: ISO 8601 text for dates, times and durations, text for decimals, lists for
  sets and tuples, text keys.

A value of any other type (a compiled pattern, an iterator) cannot be stored; ``check``
names it so the script that made it fails with a message, instead of every save failing later.
"""
from __future__ import annotations

import base64
import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import ModuleType, SimpleNamespace
from zoneinfo import ZoneInfo

from .internals import register_restorer

__all__ = ["UnstorableValue", "check", "encode", "jsonable", "register_restorers"]

_JSON_SCALARS = (str, bool, int, type(None))  # bool before int does not matter: both pass as-is
_TAG = "typename"


class UnstorableValue(Exception):
    """A value in task data has a type that cannot be saved."""

    def __init__(self, path: str, value):
        kind = type(value).__name__
        super().__init__(
            f"脚本在数据中留下了无法保存的值：{path}（类型 {kind}）；请只使用文本、数字、日期、时间、"
            f"Decimal、列表、元组、集合和字典 (the script left a value of type {kind} at {path}, which cannot be saved)")
        self.path, self.kind = path, kind


def _skipped(value) -> bool:
    # What SpiffWorkflow's registry.clean drops from task data: functions and modules.
    return callable(value) or isinstance(value, (ModuleType, SimpleNamespace))


def _duration(value: timedelta) -> str:
    sign, value = ("-", -value) if value < timedelta(0) else ("", value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if seconds or value.microseconds:
        clock += f"{seconds}.{value.microseconds:06d}S".replace(".000000S", "S")
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}" + (f"T{clock}" if clock else ("" if days else "T0S"))


def encode(value, path: str = "data"):
    """Return ``value`` as JSON for the workflow state, with a tag on every non-JSON value."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: encode(v, f"{path}.{k}") for k, v in value.items() if not _skipped(v)}
        return {_TAG: "pingan.dict", "items": [[encode(k, f"{path} 的键"), encode(v, f"{path}[{k!r}]")]
                                               for k, v in value.items() if not _skipped(v)]}
    if kind is list:
        return [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind is float:
        return value if math.isfinite(value) else {_TAG: "pingan.float", "value": repr(value)}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return {_TAG: "pingan.decimal", "value": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        zone = value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None
        return {_TAG: "pingan.datetime", "value": value.isoformat(), **({"zone": zone} if zone else {})}
    if isinstance(value, date):
        return {_TAG: "pingan.date", "value": value.isoformat()}
    if isinstance(value, time):
        return {_TAG: "pingan.time", "value": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "pingan.timedelta", "days": value.days, "seconds": value.seconds,
                "microseconds": value.microseconds}
    if isinstance(value, timezone):
        offset = value.utcoffset(None)
        return {_TAG: "pingan.timezone", "seconds": offset.total_seconds(), "name": value.tzname(None)}
    if isinstance(value, tuple):
        return {_TAG: "pingan.tuple", "items": [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, (set, frozenset)):
        items = [encode(v, f"{path} 的元素") for v in _ordered(value)]
        return {_TAG: "pingan.frozenset" if isinstance(value, frozenset) else "pingan.set", "items": items}
    if isinstance(value, (bytes, bytearray)):
        return {_TAG: f"pingan.{type(value).__name__}", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, complex):
        return {_TAG: "pingan.complex", "real": encode(value.real), "imag": encode(value.imag)}
    if isinstance(value, (range, slice)):
        return {_TAG: f"pingan.{type(value).__name__}", "start": encode(value.start), "stop": encode(value.stop),
                "step": encode(value.step)}
    if isinstance(value, ZoneInfo):
        return {_TAG: "pingan.zoneinfo", "key": value.key}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return encode(dict(value), path)
    if isinstance(value, list):
        return encode(list(value), path)
    raise UnstorableValue(path, value)


def check(data: dict) -> None:
    """Raise UnstorableValue if ``data`` holds a value that cannot be stored."""
    encode(data)


def _ordered(items) -> list:
    # A stable order keeps equal sets equal as JSON (case fields compare stored rows).
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def jsonable(value):
    """Return ``value`` in the JSON-friendly form the case-data snapshot stores."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        return {(k if type(k) is str else _key(k)): jsonable(v) for k, v in value.items() if not _skipped(v)}
    if kind is list or isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bool, int)):
        return int(value) if not isinstance(value, bool) else bool(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, timezone):
        return value.tzname(None)
    if isinstance(value, (set, frozenset)):
        return [jsonable(v) for v in _ordered(value)]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (complex, range, slice)):
        return str(value)
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return jsonable(dict(value))
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    raise UnstorableValue("data", value)


def _key(key) -> str:
    value = jsonable(key)
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _restore_datetime(dct) -> datetime:
    moment = datetime.fromisoformat(dct["value"])
    return moment.astimezone(ZoneInfo(dct["zone"])) if dct.get("zone") else moment


def register_restorers(registry) -> None:
    """Teach the serializer's registry to restore the tagged values ``encode`` writes."""
    restore = registry.restore

    def items(dct):
        return [restore(v) for v in dct["items"]]

    for name, build in {
        "pingan.dict": lambda d: {restore(k): restore(v) for k, v in d["items"]},
        "pingan.float": lambda d: float(d["value"]),
        "pingan.decimal": lambda d: Decimal(d["value"]),
        "pingan.datetime": _restore_datetime,
        "pingan.date": lambda d: date.fromisoformat(d["value"]),
        "pingan.time": lambda d: time.fromisoformat(d["value"]),
        "pingan.timedelta": lambda d: timedelta(days=d["days"], seconds=d["seconds"], microseconds=d["microseconds"]),
        "pingan.timezone": lambda d: timezone.utc if not d["seconds"] else timezone(timedelta(seconds=d["seconds"]), d["name"]),
        "pingan.tuple": lambda d: tuple(items(d)),
        "pingan.set": lambda d: set(items(d)),
        "pingan.frozenset": lambda d: frozenset(items(d)),
        "pingan.bytes": lambda d: base64.b64decode(d["value"]),
        "pingan.bytearray": lambda d: bytearray(base64.b64decode(d["value"])),
        "pingan.complex": lambda d: complex(restore(d["real"]), restore(d["imag"])),
        "pingan.range": lambda d: range(d["start"], d["stop"], d["step"]),
        "pingan.slice": lambda d: slice(restore(d["start"]), restore(d["stop"]), restore(d["step"])),
        "pingan.zoneinfo": lambda d: ZoneInfo(d["key"]),
    }.items():
        # Restore only: converting stays with ``encode``, so the registry's handling of spec
        # and internal data (which SpiffWorkflow owns) is unchanged.
        register_restorer(registry, name, build)
